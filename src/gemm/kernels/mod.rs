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
    //! Each kernel against an f64 reference on single tiles and on strips, in every epilogue
    //! mode.

    use crate::element::Element;
    use crate::gemm::kernel::{MicroKernel, Strides};
    use crate::rng::SplitMix64;

    fn random<T: Element>(rng: &mut SplitMix64, n: usize) -> Vec<T> {
        (0..n)
            .map(|_| T::from_f64(rng.next_signed_unit()))
            .collect()
    }

    /// The epilogue a result was computed with, and C's layout (`rs`, `cs`).
    struct Epilogue<'a, T> {
        bias: Option<&'a [T]>,
        old: Option<&'a [T]>,
        rs: usize,
        cs: usize,
    }

    impl<'a, T> Epilogue<'a, T> {
        fn new(bias: Option<&'a Vec<T>>, old: Option<&'a Vec<T>>, rs: usize, cs: usize) -> Self {
            Self {
                bias: bias.map(|b| &b[..]),
                old: old.map(|o| &o[..]),
                rs,
                cs,
            }
        }
    }

    /// Checks every element of a `rows × n` result `c` against the f64 reference
    /// `Σ_p a(i, p)·b(p, j) (+ bias[j]) (+ old C)`, within `eps` of the sum of magnitudes.
    fn assert_reference<T: Element>(
        (rows, n, k): (usize, usize, usize),
        a: impl Fn(usize, usize) -> T,
        b: impl Fn(usize, usize) -> T,
        e: &Epilogue<'_, T>,
        c: &[T],
        what: &dyn Fn() -> String,
    ) {
        let eps = if core::mem::size_of::<T>() == 4 {
            1e-5
        } else {
            1e-13
        };
        for i in 0..rows {
            for j in 0..n {
                let at = i * e.rs + j * e.cs;
                let mut terms: Vec<f64> = (0..k)
                    .map(|p| a(i, p).to_f64() * b(p, j).to_f64())
                    .collect();
                terms.extend(e.bias.map(|bias| bias[j].to_f64()));
                terms.extend(e.old.map(|old| old[at].to_f64()));
                let want: f64 = terms.iter().sum();
                let scale: f64 = terms.iter().map(|t| t.abs()).sum();
                let got = c[at].to_f64();
                assert!(
                    (got - want).abs() <= eps * (scale + 1.0),
                    "{} ({i},{j}): got {got}, want {want}",
                    what()
                );
            }
        }
    }

    /// Runs `kernel` on random panels for several depths and checks every epilogue mode
    /// (overwrite / accumulate, with / without bias, contiguous / strided C).
    pub(crate) fn check_kernel<K: MicroKernel>(kernel: K) {
        let (mr, nr) = (K::MR, K::NR);
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
                let epilogue =
                    Epilogue::new(with_bias.then_some(&bias), load_c.then_some(&old), rs, cs);
                assert_reference(
                    (mr, nr, k),
                    |i, p| a[p * mr + i],
                    |p, j| b[p * nr + j],
                    &epilogue,
                    &c,
                    &|| format!("k={k} load_c={load_c} bias={with_bias} transposed={transposed}"),
                );
            }
        }
    }

    /// Runs `kernel.strip` on operands read in place with padded strides, for row counts
    /// past `MR` and past 11 (where a strip splits itself), widths around every vector and
    /// chunk edge, and every epilogue mode. Each element must match an f64 reference, and a
    /// strip of `MR` rows over one `NR`-column panel must give the tile's bits.
    pub(crate) fn check_strip<K: MicroKernel>(kernel: K) {
        let mut rng = SplitMix64::new(11);
        let nan = K::T::from_f64(f64::NAN);
        for rows in [1usize, 2, 3, 5, K::MR - 1, K::MR, 8, 11, 13] {
            for n in [1usize, 3, 4, 7, 8, 9, 16, 17, 31, 33, 64, 67, 130] {
                for k in [1usize, 5, 64, 259] {
                    // A: lane stride k + 3 (row-major, padded), step 1; B: step n + 2.
                    let (a_lane, b_step) = (k + 3, n + 2);
                    let a = random::<K::T>(&mut rng, rows * a_lane);
                    let b = random::<K::T>(&mut rng, k * b_step);
                    let bias = random::<K::T>(&mut rng, n);
                    let st = Strides {
                        a_lane,
                        a_step: 1,
                        b_step,
                    };
                    for (load_c, with_bias, transposed) in
                        (0..8).map(|m| (m & 1 != 0, m & 2 != 0, m & 4 != 0))
                    {
                        let old = random::<K::T>(&mut rng, rows * n);
                        let mut c = if load_c {
                            old.clone()
                        } else {
                            vec![nan; rows * n]
                        };
                        let (rs, cs) = if transposed { (1, rows) } else { (n, 1) };
                        let bias_ptr = if with_bias {
                            bias.as_ptr()
                        } else {
                            core::ptr::null()
                        };
                        // SAFETY: A holds rows lanes of k steps at (a_lane, 1), B holds k
                        // steps of n elements at b_step, C holds rows × n elements addressed
                        // by (rs, cs) either way, the bias holds n.
                        unsafe {
                            kernel.strip(
                                rows,
                                n,
                                k,
                                a.as_ptr(),
                                b.as_ptr(),
                                st,
                                c.as_mut_ptr(),
                                rs,
                                cs,
                                load_c,
                                bias_ptr,
                            )
                        };
                        let epilogue = Epilogue::new(
                            with_bias.then_some(&bias),
                            load_c.then_some(&old),
                            rs,
                            cs,
                        );
                        assert_reference(
                            (rows, n, k),
                            |i, p| a[i * a_lane + p],
                            |p, j| b[p * b_step + j],
                            &epilogue,
                            &c,
                            &|| {
                                format!(
                                    "rows={rows} n={n} k={k} load_c={load_c} bias={with_bias} \
                                     transposed={transposed}"
                                )
                            },
                        );
                    }
                }
            }
        }

        // A strip of MR rows over one packed NR-column panel gives the tile's bits.
        let (mr, nr, k) = (K::MR, K::NR, 300);
        let a = random::<K::T>(&mut rng, k * mr);
        let b = random::<K::T>(&mut rng, k * nr);
        let bias = random::<K::T>(&mut rng, nr);
        let old = random::<K::T>(&mut rng, mr * nr);
        let (mut from_tile, mut from_strip) = (old.clone(), old);
        // SAFETY: packed panels of k steps, an MR × NR row-major C, NR bias elements.
        unsafe {
            kernel.tile(
                k,
                a.as_ptr(),
                b.as_ptr(),
                from_tile.as_mut_ptr(),
                nr,
                1,
                true,
                bias.as_ptr(),
            );
            kernel.strip(
                mr,
                nr,
                k,
                a.as_ptr(),
                b.as_ptr(),
                Strides::packed(mr, nr),
                from_strip.as_mut_ptr(),
                nr,
                1,
                true,
                bias.as_ptr(),
            );
        }
        let bits = |v: &[K::T]| v.iter().map(|x| x.to_f64().to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&from_tile), bits(&from_strip), "strip and tile differ");
    }

    #[test]
    fn scalar_kernels() {
        check_kernel(super::scalar::ScalarF32::new());
        check_kernel(super::scalar::ScalarF64::new());
        check_strip(super::scalar::ScalarF32::new());
        check_strip(super::scalar::ScalarF64::new());
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
        check_strip(super::avx2::Avx2F32x6x16(token));
        check_strip(super::avx2::Avx2F64x6x8(token));
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
        check_strip(super::avx512::Avx512F32x12x32(token));
        check_strip(super::avx512::Avx512F64x12x16(token));
    }
}
