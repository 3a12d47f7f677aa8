//! Micro-kernels, one file per instruction set, and the generic SIMD body they share.

#[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
pub(crate) mod avx2;
#[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
pub(crate) mod avx512;
pub(crate) mod scalar;
#[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
pub(crate) mod simd;

#[cfg(test)]
mod tests {
    //! Each kernel against an f64 reference on single tiles, in every epilogue mode.

    use crate::element::Element;
    use crate::gemm::kernel::MicroKernel;
    use crate::rng::SplitMix64;

    fn random<T: Element>(rng: &mut SplitMix64, n: usize) -> Vec<T> {
        (0..n)
            .map(|_| T::from_f64(rng.next_signed_unit()))
            .collect()
    }

    /// Runs `kernel` on random panels for several depths and checks every epilogue mode
    /// (overwrite / accumulate, with / without bias, contiguous / strided C).
    pub(crate) fn check_kernel<K: MicroKernel>(kernel: K) {
        let (mr, nr) = (K::MR, K::NR);
        let eps = if core::mem::size_of::<K::T>() == 4 {
            1e-5
        } else {
            1e-13
        };
        let mut rng = SplitMix64::new(7);
        for k in [1usize, 2, 3, 7, 16, 65, 300] {
            let a = random::<K::T>(&mut rng, k * mr);
            let b = random::<K::T>(&mut rng, k * nr);
            let bias = random::<K::T>(&mut rng, nr);
            for (load_c, with_bias, transposed) in
                (0..8).map(|m| (m & 1 != 0, m & 2 != 0, m & 4 != 0))
            {
                let old = random::<K::T>(&mut rng, mr * nr);
                let mut c = if load_c {
                    old.clone()
                } else {
                    vec![K::T::from_f64(f64::NAN); mr * nr]
                };
                let (rs, cs) = if transposed { (1, mr) } else { (nr, 1) };
                let bias_ptr = if with_bias {
                    bias.as_ptr()
                } else {
                    core::ptr::null()
                };
                // SAFETY: the panels hold k * MR and k * NR elements, C holds MR * NR
                // elements addressed by (rs, cs) either way, the bias holds NR.
                unsafe {
                    kernel.tile(
                        k,
                        a.as_ptr(),
                        b.as_ptr(),
                        c.as_mut_ptr(),
                        rs,
                        cs,
                        load_c,
                        bias_ptr,
                    )
                };
                for i in 0..mr {
                    for j in 0..nr {
                        let mut want = 0.0;
                        let mut scale = 0.0;
                        for p in 0..k {
                            let t = a[p * mr + i].to_f64() * b[p * nr + j].to_f64();
                            want += t;
                            scale += t.abs();
                        }
                        if with_bias {
                            want += bias[j].to_f64();
                            scale += bias[j].to_f64().abs();
                        }
                        if load_c {
                            want += old[i * rs + j * cs].to_f64();
                            scale += old[i * rs + j * cs].to_f64().abs();
                        }
                        let got = c[i * rs + j * cs].to_f64();
                        assert!(
                            (got - want).abs() <= eps * (scale + 1.0),
                            "k={k} load_c={load_c} bias={with_bias} transposed={transposed} \
                             ({i},{j}): got {got}, want {want}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn scalar_kernels() {
        check_kernel(super::scalar::ScalarF32::new());
        check_kernel(super::scalar::ScalarF64::new());
    }

    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    #[test]
    fn avx2_kernels() {
        let Some(token) = super::avx2::Avx2::try_new() else {
            eprintln!("skipped: this processor has no AVX2+FMA");
            return;
        };
        check_kernel(super::avx2::Avx2F32x6x16(token));
        check_kernel(super::avx2::Avx2F64x6x8(token));
    }

    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    #[test]
    fn avx512_kernels() {
        let Some(token) = super::avx512::Avx512::try_new() else {
            eprintln!("skipped: this processor has no AVX-512F");
            return;
        };
        check_kernel(super::avx512::Avx512F32x12x32(token));
        check_kernel(super::avx512::Avx512F64x12x16(token));
    }
}
