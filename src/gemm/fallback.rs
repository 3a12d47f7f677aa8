//! The `matrixmultiply` engine: used where the crate has no native kernel for the target, and
//! selectable everywhere with `LINGRAD_ISA=fallback` (tests compare it with the native path).
//!
//! It runs on the calling thread; `matrixmultiply` is built without its own threading.

use crate::gemm::GemmArgs;
use crate::Accum;

macro_rules! fallback_engine {
    ($name:ident, $t:ty, $f:path) => {
        /// Runs a validated, non-empty GEMM through `matrixmultiply`.
        pub(crate) fn $name(args: GemmArgs<'_, $t>) {
            let GemmArgs {
                a,
                b,
                mut c,
                accum,
                bias,
                ..
            } = args;
            let (m, k) = a.shape();
            let n = b.cols();
            // Bias first (C ← bias or C + bias), then C ← A·B + C, so C is never read when
            // the caller asked to overwrite it without a bias.
            let beta = match (accum, bias) {
                (Accum::Overwrite, None) => 0.0,
                (accum, Some(bias)) => {
                    c.for_each_mut(|_, j, v| {
                        *v = if accum == Accum::Add {
                            *v + bias[j]
                        } else {
                            bias[j]
                        };
                    });
                    1.0
                }
                (Accum::Add, None) => 1.0,
            };
            // Views are validated: every offset fits in isize, so the stride casts are exact.
            let (rsa, csa) = (a.row_stride() as isize, a.col_stride() as isize);
            let (rsb, csb) = (b.row_stride() as isize, b.col_stride() as isize);
            let (rsc, csc) = (c.row_stride() as isize, c.col_stride() as isize);
            // SAFETY: the three views were validated by the public entry point: every in-range
            // element of A and B is readable, every in-range element of C is writable and
            // distinct, and C does not overlap A or B (it is a unique borrow). With beta = 0
            // matrixmultiply does not read C.
            unsafe {
                $f(
                    m,
                    k,
                    n,
                    1.0,
                    a.as_ptr(),
                    rsa,
                    csa,
                    b.as_ptr(),
                    rsb,
                    csb,
                    beta,
                    c.as_mut_ptr(),
                    rsc,
                    csc,
                )
            };
        }
    };
}

fallback_engine!(gemm_f32, f32, matrixmultiply::sgemm);
fallback_engine!(gemm_f64, f64, matrixmultiply::dgemm);
