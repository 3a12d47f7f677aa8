//! The internal GEMM engine: `C ← A·B (+ bias) (+ C)` on views that the public entry points
//! have already validated. Nothing below this module checks shapes except by `debug_assert!`.

pub(crate) mod blocking;
pub(crate) mod dispatch;
mod fallback;
pub(crate) mod kernel;
pub(crate) mod kernels;
pub(crate) mod macro_kernel;
pub(crate) mod pack;
pub(crate) mod workspace;

use crate::element::Element;
use crate::view::{MatMut, MatRef};
use crate::{Accum, Parallelism};

/// (Public only within the private `gemm` module, so the sealed `Element` can name it.)
///
/// One validated GEMM: `c (m × n) ← a (m × k) · b (k × n) + bias`, added into `c` when
/// `accum` is [`Accum::Add`].
pub struct GemmArgs<'a, T> {
    pub(crate) a: MatRef<'a, T>,
    pub(crate) b: MatRef<'a, T>,
    pub(crate) c: MatMut<'a, T>,
    pub(crate) accum: Accum,
    /// `n` elements added to every row of the product, or `None`.
    pub(crate) bias: Option<&'a [T]>,
    pub(crate) par: Parallelism,
}

/// A GEMM engine compiled for one element type and instruction set.
pub type GemmFn<T> = fn(GemmArgs<'_, T>);

/// Runs a validated GEMM on the engine chosen for this machine.
///
/// Callers guarantee `a.rows() == c.rows()`, `a.cols() == b.rows()`, `b.cols() == c.cols()`
/// and `bias.len() == c.cols()`.
pub(crate) fn gemm<T: Element>(args: GemmArgs<'_, T>) {
    let (m, k) = args.a.shape();
    let n = args.b.cols();
    debug_assert_eq!(args.c.shape(), (m, n));
    debug_assert_eq!(args.b.rows(), k);
    debug_assert!(args.bias.is_none_or(|b| b.len() == n));
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        // An empty sum: C = bias (+ C).
        let GemmArgs {
            mut c, accum, bias, ..
        } = args;
        c.for_each_mut(|_, j, v| {
            let add = bias.map_or(T::ZERO, |b| b[j]);
            *v = if accum == Accum::Add { *v + add } else { add };
        });
        return;
    }
    (<T as crate::element::Sealed>::gemm_fn(dispatch::isa()))(args);
}
