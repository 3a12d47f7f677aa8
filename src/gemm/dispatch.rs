//! Instruction-set detection (once per process), the `LINGRAD_ISA` override, and the
//! registration table that maps each instruction set to its kernels.

use std::sync::OnceLock;

use crate::gemm::blocking::gemm_loop;
use crate::gemm::kernels::scalar::{ScalarF32, ScalarF64};
use crate::gemm::{fallback, GemmFn};

/// The engine a call runs on.
///
/// Ordered from least to most capable; [`isa`] reports the one in use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Isa {
    /// The crate's portable kernel (plain Rust, vectorised by the compiler for the target's
    /// baseline). Always available; the reference the SIMD kernels are tested against.
    Portable,
    /// `matrixmultiply`, the engine on targets without a native kernel of this crate (it has
    /// its own SIMD kernels for SSE2 and NEON).
    Fallback,
}

impl Isa {
    /// The name `LINGRAD_ISA` accepts for this engine.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Fallback => "fallback",
            Isa::Portable => "portable",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        match name.trim().to_ascii_lowercase().as_str() {
            "fallback" => Some(Isa::Fallback),
            "portable" => Some(Isa::Portable),
            _ => None,
        }
    }
}

impl core::fmt::Display for Isa {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

/// The best engine this machine supports, ignoring any override.
pub fn detected_isa() -> Isa {
    Isa::Fallback
}

/// The engine every call uses, fixed at the first call.
///
/// It is [`detected_isa`] unless the environment variable `LINGRAD_ISA` names a lower one
/// (`portable` < `fallback`); a name above what the machine supports, or an unknown name, is
/// ignored, so the override can never select an instruction set the processor lacks.
///
/// ```
/// let isa = lingrad::isa();
/// assert!(isa <= lingrad::detected_isa());
/// ```
pub fn isa() -> Isa {
    static ISA: OnceLock<Isa> = OnceLock::new();
    *ISA.get_or_init(|| {
        let best = detected_isa();
        std::env::var("LINGRAD_ISA")
            .ok()
            .and_then(|v| Isa::from_name(&v))
            .map_or(best, |wanted| wanted.min(best))
    })
}

/// The f32 engine for `isa`.
pub(crate) fn gemm_fn_f32(isa: Isa) -> GemmFn<f32> {
    match isa {
        Isa::Fallback => fallback::gemm_f32,
        Isa::Portable => |args| gemm_loop(ScalarF32::new(), args),
    }
}

/// The f64 engine for `isa`.
pub(crate) fn gemm_fn_f64(isa: Isa) -> GemmFn<f64> {
    match isa {
        Isa::Fallback => fallback::gemm_f64,
        Isa::Portable => |args| gemm_loop(ScalarF64::new(), args),
    }
}
