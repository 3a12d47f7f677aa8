//! AVX-512F kernels: `avx512_f32_12x32` and `avx512_f64_12x16`.
//!
//! Twenty-four 512-bit accumulators, two B vectors and one broadcast use 27 of the 32 zmm
//! registers. Block sizes follow the Ice Lake-SP cache geometry (48 KiB L1d, 1.25 MiB L2):
//! a `KC × NR` B micro-panel takes 48 KiB·¼, an `MC × KC` A block about half of L2.

#[cfg(target_arch = "x86")]
use core::arch::x86::*;
#[cfg(target_arch = "x86_64")]
use core::arch::x86_64::*;

use crate::gemm::kernels::simd::{simd_kernel, Simd};

/// Vector registers (zmm0–zmm31).
const REGS: usize = 32;

/// Proof that the processor supports AVX-512F.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Avx512 {
    _private: (),
}

impl Avx512 {
    /// The token, if the processor supports AVX-512F (and FMA, which every AVX-512F processor
    /// has).
    pub(crate) fn try_new() -> Option<Self> {
        (is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("fma"))
            .then_some(Self { _private: () })
    }
}

// SAFETY: an `Avx512` value exists only after `try_new` detected AVX-512F; loads and stores
// move exactly LANES elements.
unsafe impl Simd<f32> for Avx512 {
    type V = __m512;
    const LANES: usize = 16;
    const REGS: usize = REGS;
    #[inline(always)]
    fn zero(self) -> __m512 {
        // SAFETY: the token proves AVX-512F.
        unsafe { _mm512_setzero_ps() }
    }
    #[inline(always)]
    fn splat(self, x: f32) -> __m512 {
        // SAFETY: as above.
        unsafe { _mm512_set1_ps(x) }
    }
    #[inline(always)]
    unsafe fn load(self, p: *const f32) -> __m512 {
        // SAFETY: the caller provides 16 readable elements; the token proves AVX-512F.
        unsafe { _mm512_loadu_ps(p) }
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32, v: __m512) {
        // SAFETY: the caller provides 16 writable elements; the token proves AVX-512F.
        unsafe { _mm512_storeu_ps(p, v) }
    }
    #[inline(always)]
    fn mul_add(self, a: __m512, b: __m512, c: __m512) -> __m512 {
        // SAFETY: the token proves AVX-512F.
        unsafe { _mm512_fmadd_ps(a, b, c) }
    }
    #[inline(always)]
    fn add(self, a: __m512, b: __m512) -> __m512 {
        // SAFETY: the token proves AVX-512F.
        unsafe { _mm512_add_ps(a, b) }
    }
}

// SAFETY: as for `Simd<f32>`.
unsafe impl Simd<f64> for Avx512 {
    type V = __m512d;
    const LANES: usize = 8;
    const REGS: usize = REGS;
    #[inline(always)]
    fn zero(self) -> __m512d {
        // SAFETY: the token proves AVX-512F.
        unsafe { _mm512_setzero_pd() }
    }
    #[inline(always)]
    fn splat(self, x: f64) -> __m512d {
        // SAFETY: as above.
        unsafe { _mm512_set1_pd(x) }
    }
    #[inline(always)]
    unsafe fn load(self, p: *const f64) -> __m512d {
        // SAFETY: the caller provides 8 readable elements; the token proves AVX-512F.
        unsafe { _mm512_loadu_pd(p) }
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f64, v: __m512d) {
        // SAFETY: the caller provides 8 writable elements; the token proves AVX-512F.
        unsafe { _mm512_storeu_pd(p, v) }
    }
    #[inline(always)]
    fn mul_add(self, a: __m512d, b: __m512d, c: __m512d) -> __m512d {
        // SAFETY: the token proves AVX-512F.
        unsafe { _mm512_fmadd_pd(a, b, c) }
    }
    #[inline(always)]
    fn add(self, a: __m512d, b: __m512d) -> __m512d {
        // SAFETY: the token proves AVX-512F.
        unsafe { _mm512_add_pd(a, b) }
    }
}

simd_kernel!(
    Avx512,
    "avx512f,fma",
    Avx512F32x12x32,
    avx512_f32_12x32,
    avx512_f32_12x32_direct,
    avx512_f32_12x32_strip,
    f32,
    12,
    2,
    384,
    384,
    3072
);
simd_kernel!(
    Avx512,
    "avx512f,fma",
    Avx512F64x12x16,
    avx512_f64_12x16,
    avx512_f64_12x16_direct,
    avx512_f64_12x16_strip,
    f64,
    12,
    2,
    192,
    384,
    3072
);
