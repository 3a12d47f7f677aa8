//! Forward pass: `y = x·W + b`, the bias added in the GEMM epilogue.

use crate::element::Element;
use crate::error::ShapeError;
use crate::gemm::{gemm, GemmArgs};
use crate::linear::{check_len, check_shape};
use crate::view::{MatMut, MatRef};
use crate::{Accum, Parallelism};

/// Computes `y = x·W + bias` for every row of `x`.
///
/// Shapes: `x` is `batch × in_features`, `w` is `in_features × out_features`, `bias` has
/// `out_features` elements, `y` is `batch × out_features`. The bias is added as each tile of
/// `y` is stored, with no second pass over `y`; `y` is never read.
///
/// ```
/// use lingrad::{linear, MatMut, MatRef, Parallelism};
/// let x = [1.0f32, 2.0]; // one sample, two features
/// let w = [3.0f32, 4.0]; // 2 × 1
/// let mut y = [f32::NAN];
/// linear::forward(
///     MatRef::new(&x, 1, 2)?,
///     MatRef::new(&w, 2, 1)?,
///     Some(&[0.5]),
///     MatMut::new(&mut y, 1, 1)?,
///     Parallelism::Current,
/// )?;
/// assert_eq!(y, [11.5]);
/// # Ok::<(), lingrad::ShapeError>(())
/// ```
///
/// # Errors
/// [`ShapeError`] if `w` is not `in_features × _`, `y` is not `batch × out_features`, or
/// `bias` does not have `out_features` elements; `y` is then left untouched.
pub fn forward<T: Element>(
    x: MatRef<'_, T>,
    w: MatRef<'_, T>,
    bias: Option<&[T]>,
    y: MatMut<'_, T>,
    par: Parallelism,
) -> Result<(), ShapeError> {
    forward_impl("linear::forward", x, w, bias, y, Accum::Overwrite, par)
}

/// Computes `y = x·W + bias` ([`Accum::Overwrite`]) or `y += x·W + bias` ([`Accum::Add`]).
///
/// The same as [`forward`] with a choice of accumulation, e.g. to sum the outputs of several
/// layers into one buffer.
///
/// ```
/// use lingrad::{linear, Accum, MatMut, MatRef, Parallelism};
/// let x = [1.0f64, 2.0];
/// let w = [3.0f64, 4.0];
/// let mut y = [100.0f64];
/// linear::forward_accum(
///     MatRef::new(&x, 1, 2)?,
///     MatRef::new(&w, 2, 1)?,
///     None,
///     MatMut::new(&mut y, 1, 1)?,
///     Accum::Add,
///     Parallelism::Sequential,
/// )?;
/// assert_eq!(y, [111.0]);
/// # Ok::<(), lingrad::ShapeError>(())
/// ```
///
/// # Errors
/// As [`forward`].
pub fn forward_accum<T: Element>(
    x: MatRef<'_, T>,
    w: MatRef<'_, T>,
    bias: Option<&[T]>,
    y: MatMut<'_, T>,
    accum: Accum,
    par: Parallelism,
) -> Result<(), ShapeError> {
    forward_impl("linear::forward_accum", x, w, bias, y, accum, par)
}

fn forward_impl<T: Element>(
    op: &'static str,
    x: MatRef<'_, T>,
    w: MatRef<'_, T>,
    bias: Option<&[T]>,
    y: MatMut<'_, T>,
    accum: Accum,
    par: Parallelism,
) -> Result<(), ShapeError> {
    let (batch, in_features) = x.shape();
    let out_features = w.cols();
    check_shape(op, "w", (in_features, out_features), w.shape())?;
    check_shape(op, "y", (batch, out_features), y.shape())?;
    if let Some(bias) = bias {
        check_len(op, "bias", out_features, bias.len())?;
    }
    gemm(GemmArgs {
        a: x,
        b: w,
        c: y,
        accum,
        bias,
        b_sums: None,
        b_packed: None,
        par,
    });
    Ok(())
}
