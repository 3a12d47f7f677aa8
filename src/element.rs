//! The scalar types the kernels are built for.

use core::fmt::Debug;
use core::ops::{Add, AddAssign, Mul, Sub};

pub(crate) use sealed::Sealed;

mod sealed {
    use crate::gemm::dispatch::{gemm_fn_f32, gemm_fn_f64, pack_fn_f32, pack_fn_f64, Isa};
    use crate::gemm::{GemmFn, PackFn};

    /// Seals [`super::Element`] and ties each type to its kernel table.
    pub trait Sealed: Sized {
        /// The GEMM engine compiled for this type and `isa`.
        fn gemm_fn(isa: Isa) -> GemmFn<Self>;
        /// The whole-B packing routine matching `gemm_fn(isa)`, if that engine packs.
        fn pack_fn(isa: Isa) -> Option<PackFn<Self>>;
        /// `self · a + b` with one rounding, as one lane of a vector FMA computes it.
        fn fused_mul_add(self, a: Self, b: Self) -> Self;
    }
    impl Sealed for f32 {
        fn gemm_fn(isa: Isa) -> GemmFn<Self> {
            gemm_fn_f32(isa)
        }
        fn pack_fn(isa: Isa) -> Option<PackFn<Self>> {
            pack_fn_f32(isa)
        }
        #[inline(always)]
        fn fused_mul_add(self, a: Self, b: Self) -> Self {
            f32::mul_add(self, a, b)
        }
    }
    impl Sealed for f64 {
        fn gemm_fn(isa: Isa) -> GemmFn<Self> {
            gemm_fn_f64(isa)
        }
        fn pack_fn(isa: Isa) -> Option<PackFn<Self>> {
            pack_fn_f64(isa)
        }
        #[inline(always)]
        fn fused_mul_add(self, a: Self, b: Self) -> Self {
            f64::mul_add(self, a, b)
        }
    }
}

/// A floating-point type with native kernels: `f32` or `f64`.
///
/// The trait is sealed; its hidden items connect each type to its kernel table.
pub trait Element:
    sealed::Sealed
    + Copy
    + Send
    + Sync
    + Debug
    + Default
    + PartialEq
    + PartialOrd
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + AddAssign
    + 'static
{
    /// Additive identity.
    const ZERO: Self;
    /// Multiplicative identity.
    const ONE: Self;
    /// Converts from `f64`, rounding to nearest.
    fn from_f64(v: f64) -> Self;
    /// Converts to `f64` exactly.
    fn to_f64(self) -> f64;
    /// Square root.
    fn sqrt(self) -> Self;
}

impl Element for f32 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    #[inline(always)]
    fn from_f64(v: f64) -> Self {
        v as f32
    }
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self as f64
    }
    #[inline(always)]
    fn sqrt(self) -> Self {
        f32::sqrt(self)
    }
}

impl Element for f64 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    #[inline(always)]
    fn from_f64(v: f64) -> Self {
        v
    }
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self
    }
    #[inline(always)]
    fn sqrt(self) -> Self {
        f64::sqrt(self)
    }
}
