//! AVX2 + FMA kernels: `avx2_f32_6x16` and `avx2_f64_6x8`.
//!
//! Twelve 256-bit accumulators, two B vectors and one broadcast fill 15 of the 16 ymm
//! registers.

#[cfg(target_arch = "x86")]
use core::arch::x86::*;
#[cfg(target_arch = "x86_64")]
use core::arch::x86_64::*;

use crate::gemm::kernels::simd::{simd_kernel, Simd};

/// Vector registers (ymm0–ymm15).
const REGS: usize = 16;

/// Proof that the processor supports AVX2 and FMA.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Avx2 {
    _private: (),
}

impl Avx2 {
    /// The token, if the processor supports AVX2 and FMA.
    pub(crate) fn try_new() -> Option<Self> {
        (is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"))
            .then_some(Self { _private: () })
    }
}

// SAFETY: an `Avx2` value exists only after `try_new` detected AVX2 and FMA; loads and stores
// move exactly LANES elements.
unsafe impl Simd<f32> for Avx2 {
    type V = __m256;
    const LANES: usize = 8;
    const REGS: usize = REGS;
    #[inline(always)]
    fn zero(self) -> __m256 {
        // SAFETY: AVX is implied by the token (AVX2 was detected).
        unsafe { _mm256_setzero_ps() }
    }
    #[inline(always)]
    fn splat(self, x: f32) -> __m256 {
        // SAFETY: as above.
        unsafe { _mm256_set1_ps(x) }
    }
    #[inline(always)]
    unsafe fn load(self, p: *const f32) -> __m256 {
        // SAFETY: the caller provides 8 readable elements; the token proves AVX.
        unsafe { _mm256_loadu_ps(p) }
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32, v: __m256) {
        // SAFETY: the caller provides 8 writable elements; the token proves AVX.
        unsafe { _mm256_storeu_ps(p, v) }
    }
    #[inline(always)]
    fn mul_add(self, a: __m256, b: __m256, c: __m256) -> __m256 {
        // SAFETY: the token proves FMA.
        unsafe { _mm256_fmadd_ps(a, b, c) }
    }
    #[inline(always)]
    fn add(self, a: __m256, b: __m256) -> __m256 {
        // SAFETY: the token proves AVX.
        unsafe { _mm256_add_ps(a, b) }
    }
}

// SAFETY: as for `Simd<f32>`.
unsafe impl Simd<f64> for Avx2 {
    type V = __m256d;
    const LANES: usize = 4;
    const REGS: usize = REGS;
    #[inline(always)]
    fn zero(self) -> __m256d {
        // SAFETY: AVX is implied by the token.
        unsafe { _mm256_setzero_pd() }
    }
    #[inline(always)]
    fn splat(self, x: f64) -> __m256d {
        // SAFETY: as above.
        unsafe { _mm256_set1_pd(x) }
    }
    #[inline(always)]
    unsafe fn load(self, p: *const f64) -> __m256d {
        // SAFETY: the caller provides 4 readable elements; the token proves AVX.
        unsafe { _mm256_loadu_pd(p) }
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f64, v: __m256d) {
        // SAFETY: the caller provides 4 writable elements; the token proves AVX.
        unsafe { _mm256_storeu_pd(p, v) }
    }
    #[inline(always)]
    fn mul_add(self, a: __m256d, b: __m256d, c: __m256d) -> __m256d {
        // SAFETY: the token proves FMA.
        unsafe { _mm256_fmadd_pd(a, b, c) }
    }
    #[inline(always)]
    fn add(self, a: __m256d, b: __m256d) -> __m256d {
        // SAFETY: the token proves AVX.
        unsafe { _mm256_add_pd(a, b) }
    }
}

simd_kernel!(
    Avx2,
    "avx2,fma",
    Avx2F32x6x16,
    avx2_f32_6x16,
    avx2_f32_6x16_direct,
    avx2_f32_6x16_strip,
    f32,
    6,
    2,
    144,
    256,
    4096
);
simd_kernel!(
    Avx2,
    "avx2,fma",
    Avx2F64x6x8,
    avx2_f64_6x8,
    avx2_f64_6x8_direct,
    avx2_f64_6x8_strip,
    f64,
    6,
    2,
    96,
    256,
    2048
);
