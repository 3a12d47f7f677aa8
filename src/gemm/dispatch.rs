//! Instruction-set detection (once per process), the `LINGRAD_ISA` override, and the
//! registration table that maps each instruction set to its kernels.

use std::sync::OnceLock;

use crate::gemm::blocking::{gemm_loop, pack_b_whole};
#[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
use crate::gemm::kernels::avx2::{Avx2, Avx2F32x6x16, Avx2F64x6x8};
#[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
use crate::gemm::kernels::avx512::{Avx512, Avx512F32x12x32, Avx512F64x12x16};
use crate::gemm::kernels::scalar::{ScalarF32, ScalarF64};
use crate::gemm::{fallback, GemmFn, PackFn};

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
    /// AVX2 + FMA kernels (x86-64).
    Avx2,
    /// AVX-512F kernels (x86-64).
    Avx512,
}

impl Isa {
    /// The name `LINGRAD_ISA` accepts for this engine.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Fallback => "fallback",
            Isa::Portable => "portable",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        match name.trim().to_ascii_lowercase().as_str() {
            "fallback" => Some(Isa::Fallback),
            "portable" => Some(Isa::Portable),
            "avx2" => Some(Isa::Avx2),
            "avx512" => Some(Isa::Avx512),
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
    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    if Avx512::try_new().is_some() {
        return Isa::Avx512;
    }
    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    if Avx2::try_new().is_some() {
        return Isa::Avx2;
    }
    Isa::Fallback
}

/// The engine every call uses, fixed at the first call.
///
/// It is [`detected_isa`] unless the environment variable `LINGRAD_ISA` names a lower one
/// (`portable` < `fallback` < `avx2` < `avx512`); a name above what the machine supports, or an unknown name, is
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
        #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
        Isa::Avx2 => |args| match Avx2::try_new() {
            Some(token) => gemm_loop(Avx2F32x6x16(token), args),
            // `isa()` never selects an undetected instruction set; stay correct regardless.
            None => gemm_loop(ScalarF32::new(), args),
        },
        #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
        Isa::Avx512 => |args| match Avx512::try_new() {
            Some(token) => gemm_loop(Avx512F32x12x32(token), args),
            // `isa()` never selects an undetected instruction set; stay correct regardless.
            None => gemm_loop(ScalarF32::new(), args),
        },
        #[allow(unreachable_patterns)]
        _ => fallback::gemm_f32,
    }
}

/// The f64 engine for `isa`.
pub(crate) fn gemm_fn_f64(isa: Isa) -> GemmFn<f64> {
    match isa {
        Isa::Fallback => fallback::gemm_f64,
        Isa::Portable => |args| gemm_loop(ScalarF64::new(), args),
        #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
        Isa::Avx2 => |args| match Avx2::try_new() {
            Some(token) => gemm_loop(Avx2F64x6x8(token), args),
            // `isa()` never selects an undetected instruction set; stay correct regardless.
            None => gemm_loop(ScalarF64::new(), args),
        },
        #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
        Isa::Avx512 => |args| match Avx512::try_new() {
            Some(token) => gemm_loop(Avx512F64x12x16(token), args),
            // `isa()` never selects an undetected instruction set; stay correct regardless.
            None => gemm_loop(ScalarF64::new(), args),
        },
        #[allow(unreachable_patterns)]
        _ => fallback::gemm_f64,
    }
}

/// The whole-B packing routine for the f32 engine of `isa` (`None` for the fallback, which
/// does its own packing).
pub(crate) fn pack_fn_f32(isa: Isa) -> Option<PackFn<f32>> {
    match isa {
        Isa::Fallback => None,
        Isa::Portable => Some(pack_b_whole::<ScalarF32>),
        #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
        Isa::Avx2 => Some(pack_b_whole::<Avx2F32x6x16>),
        #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
        Isa::Avx512 => Some(pack_b_whole::<Avx512F32x12x32>),
        #[allow(unreachable_patterns)]
        _ => None,
    }
}

/// The whole-B packing routine for the f64 engine of `isa`.
pub(crate) fn pack_fn_f64(isa: Isa) -> Option<PackFn<f64>> {
    match isa {
        Isa::Fallback => None,
        Isa::Portable => Some(pack_b_whole::<ScalarF64>),
        #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
        Isa::Avx2 => Some(pack_b_whole::<Avx2F64x6x8>),
        #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
        Isa::Avx512 => Some(pack_b_whole::<Avx512F64x12x16>),
        #[allow(unreachable_patterns)]
        _ => None,
    }
}
