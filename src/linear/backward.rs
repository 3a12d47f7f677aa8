//! Backward pass: `db = Σ_rows dy`, `dW = xᵀ·dy`, `dx = dy·Wᵀ`.
//!
//! The transposes are never materialised: `xᵀ` and `Wᵀ` are transposed views that the GEMM's
//! packing reads in their natural order.

use crate::element::Element;
use crate::error::ShapeError;
use crate::gemm::{column_sums, gemm, GemmArgs};
use crate::linear::{check_len, check_shape};
use crate::view::{MatMut, MatRef};
use crate::{Accum, Parallelism};

/// Computes the bias gradient `db = Σ_rows dy` (or adds it into `db`).
///
/// Shapes: `dy` is `batch × out_features`, `db` has `out_features` elements. Rows are summed in
/// order, so the result does not depend on threads.
///
/// ```
/// use lingrad::{linear, Accum, MatRef};
/// let dy = [1.0f32, 2.0, 3.0, 4.0];
/// let mut db = [10.0f32, 10.0];
/// linear::grad_bias(MatRef::new(&dy, 2, 2)?, &mut db, Accum::Add)?;
/// assert_eq!(db, [14.0, 16.0]);
/// # Ok::<(), lingrad::ShapeError>(())
/// ```
///
/// # Errors
/// [`ShapeError::LenMismatch`] if `db.len() != dy.cols()`; `db` is then left untouched.
pub fn grad_bias<T: Element>(
    dy: MatRef<'_, T>,
    db: &mut [T],
    accum: Accum,
) -> Result<(), ShapeError> {
    check_len("linear::grad_bias", "db", dy.cols(), db.len())?;
    column_sums(dy, db, accum);
    Ok(())
}

/// Computes the input gradient `dx = dy·Wᵀ` (or adds it into `dx`).
///
/// Shapes: `dy` is `batch × out_features`, `w` is `in_features × out_features`, `dx` is
/// `batch × in_features`.
///
/// ```
/// use lingrad::{linear, Accum, MatMut, MatRef, Parallelism};
/// let dy = [1.0f32, 2.0]; // batch 1, out 2
/// let w = [1.0f32, 1.0, 0.0, 3.0]; // in 2 × out 2
/// let mut dx = [0.0f32; 2];
/// linear::grad_input(
///     MatRef::new(&dy, 1, 2)?,
///     MatRef::new(&w, 2, 2)?,
///     MatMut::new(&mut dx, 1, 2)?,
///     Accum::Overwrite,
///     Parallelism::Current,
/// )?;
/// assert_eq!(dx, [3.0, 6.0]);
/// # Ok::<(), lingrad::ShapeError>(())
/// ```
///
/// # Errors
/// [`ShapeError::DimMismatch`] if `w` is not `_ × out_features` or `dx` is not
/// `batch × in_features`; `dx` is then left untouched.
pub fn grad_input<T: Element>(
    dy: MatRef<'_, T>,
    w: MatRef<'_, T>,
    dx: MatMut<'_, T>,
    accum: Accum,
    par: Parallelism,
) -> Result<(), ShapeError> {
    const OP: &str = "linear::grad_input";
    let (batch, out_features) = dy.shape();
    let in_features = w.rows();
    check_shape(OP, "w", (in_features, out_features), w.shape())?;
    check_shape(OP, "dx", (batch, in_features), dx.shape())?;
    input_gradient(dy, w, dx, accum, par);
    Ok(())
}

/// `dx (=|+=) dy·Wᵀ` on validated operands.
fn input_gradient<T: Element>(
    dy: MatRef<'_, T>,
    w: MatRef<'_, T>,
    dx: MatMut<'_, T>,
    accum: Accum,
    par: Parallelism,
) {
    gemm(GemmArgs {
        a: dy,
        b: w.t(),
        c: dx,
        accum,
        bias: None,
        b_sums: None,
        b_packed: None,
        par,
    });
}

/// Computes the weight gradient `dW = xᵀ·dy` and, when `db` is given, the bias gradient
/// `db = Σ_rows dy`, each written or added according to `accum`.
///
/// Shapes: `x` is `batch × in_features`, `dy` is `batch × out_features`, `dw` is
/// `in_features × out_features`, `db` has `out_features` elements.
///
/// ```
/// use lingrad::{linear, Accum, MatMut, MatRef, Parallelism};
/// let x = [1.0f32, 2.0, 3.0, 4.0]; // batch 2, in 2
/// let dy = [1.0f32, 0.0, 0.0, 1.0]; // batch 2, out 2
/// let mut dw = [0.0f32; 4];
/// let mut db = [0.0f32; 2];
/// linear::grad_weight(
///     MatRef::new(&x, 2, 2)?,
///     MatRef::new(&dy, 2, 2)?,
///     MatMut::new(&mut dw, 2, 2)?,
///     Some(&mut db),
///     Accum::Overwrite,
///     Parallelism::Current,
/// )?;
/// assert_eq!(dw, [1.0, 3.0, 2.0, 4.0]); // xᵀ
/// assert_eq!(db, [1.0, 1.0]);
/// # Ok::<(), lingrad::ShapeError>(())
/// ```
///
/// # Errors
/// [`ShapeError`] if `dy` has a different batch than `x`, `dw` is not
/// `in_features × out_features`, or `db` does not have `out_features` elements; no output is
/// then written.
pub fn grad_weight<T: Element>(
    x: MatRef<'_, T>,
    dy: MatRef<'_, T>,
    dw: MatMut<'_, T>,
    db: Option<&mut [T]>,
    accum: Accum,
    par: Parallelism,
) -> Result<(), ShapeError> {
    const OP: &str = "linear::grad_weight";
    let (batch, in_features) = x.shape();
    let out_features = dy.cols();
    check_shape(OP, "dy", (batch, out_features), dy.shape())?;
    check_shape(OP, "dw", (in_features, out_features), dw.shape())?;
    if let Some(db) = &db {
        check_len(OP, "db", out_features, db.len())?;
    }
    weight_and_bias(x, dy, dw, db.map(|db| (db, accum)), accum, par);
    Ok(())
}

/// dW and db on validated operands.
fn weight_and_bias<T: Element>(
    x: MatRef<'_, T>,
    dy: MatRef<'_, T>,
    dw: MatMut<'_, T>,
    db: Option<(&mut [T], Accum)>,
    dw_accum: Accum,
    par: Parallelism,
) {
    gemm(GemmArgs {
        a: x.t(),
        b: dy,
        c: dw,
        accum: dw_accum,
        bias: None,
        b_sums: db,
        b_packed: None,
        par,
    });
}

/// The gradients [`backward`] should compute, each with its own [`Accum`].
///
/// Build it with [`Grads::new`] and the `dx`, `dw` and `db` methods; an output left out is not
/// computed.
#[derive(Debug, Default)]
pub struct Grads<'a, T> {
    /// `dx = dy·Wᵀ`, `batch × in_features`.
    pub dx: Option<(MatMut<'a, T>, Accum)>,
    /// `dW = xᵀ·dy`, `in_features × out_features`.
    pub dw: Option<(MatMut<'a, T>, Accum)>,
    /// `db = Σ_rows dy`, `out_features` elements.
    pub db: Option<(&'a mut [T], Accum)>,
}

impl<'a, T> Grads<'a, T> {
    /// No gradients requested.
    pub fn new() -> Self {
        Self {
            dx: None,
            dw: None,
            db: None,
        }
    }
    /// Requests `dx`.
    pub fn dx(mut self, dx: MatMut<'a, T>, accum: Accum) -> Self {
        self.dx = Some((dx, accum));
        self
    }
    /// Requests `dW`.
    pub fn dw(mut self, dw: MatMut<'a, T>, accum: Accum) -> Self {
        self.dw = Some((dw, accum));
        self
    }
    /// Requests `db`.
    pub fn db(mut self, db: &'a mut [T], accum: Accum) -> Self {
        self.db = Some((db, accum));
        self
    }
}

/// Computes any subset of `dx`, `dW` and `db` from one `dy`.
///
/// Shapes: `x` is `batch × in_features`, `w` is `in_features × out_features`, `dy` is
/// `batch × out_features`; the outputs in `grads` have their variables' shapes. All shapes are
/// checked, including those of operands no requested gradient needs.
///
/// ```
/// use lingrad::{linear, Accum, MatMut, MatRef, Parallelism};
/// let x = [1.0f32, 2.0]; // batch 1, in 2
/// let w = [1.0f32, 2.0]; // in 2, out 1
/// let dy = [3.0f32];
/// let mut dx = [0.0f32; 2];
/// let mut db = [1.0f32];
/// linear::backward(
///     MatRef::new(&x, 1, 2)?,
///     MatRef::new(&w, 2, 1)?,
///     MatRef::new(&dy, 1, 1)?,
///     linear::Grads::new()
///         .dx(MatMut::new(&mut dx, 1, 2)?, Accum::Overwrite)
///         .db(&mut db, Accum::Add),
///     Parallelism::Current,
/// )?;
/// assert_eq!(dx, [3.0, 6.0]);
/// assert_eq!(db, [4.0]);
/// # Ok::<(), lingrad::ShapeError>(())
/// ```
///
/// # Errors
/// [`ShapeError`] if any operand or requested output has the wrong shape; no output is then
/// written.
pub fn backward<T: Element>(
    x: MatRef<'_, T>,
    w: MatRef<'_, T>,
    dy: MatRef<'_, T>,
    grads: Grads<'_, T>,
    par: Parallelism,
) -> Result<(), ShapeError> {
    const OP: &str = "linear::backward";
    let (batch, in_features) = x.shape();
    let out_features = w.cols();
    check_shape(OP, "w", (in_features, out_features), w.shape())?;
    check_shape(OP, "dy", (batch, out_features), dy.shape())?;
    let Grads { dx, dw, db } = grads;
    if let Some((dx, _)) = &dx {
        check_shape(OP, "dx", (batch, in_features), dx.shape())?;
    }
    if let Some((dw, _)) = &dw {
        check_shape(OP, "dw", (in_features, out_features), dw.shape())?;
    }
    if let Some((db, _)) = &db {
        check_len(OP, "db", out_features, db.len())?;
    }

    // dW (with db) and dx share only read-only inputs: with threads, run them side by side.
    let weight_side = move || match dw {
        Some((dw, dw_accum)) => weight_and_bias(x, dy, dw, db, dw_accum, par),
        None => {
            if let Some((db, accum)) = db {
                column_sums(dy, db, accum);
            }
        }
    };
    let input_side = move || {
        if let Some((dx, accum)) = dx {
            input_gradient(dy, w, dx, accum, par);
        }
    };
    let work = batch
        .saturating_mul(in_features)
        .saturating_mul(out_features);
    let threads = if work >= crate::gemm::blocking::PAR_THRESHOLD {
        par.threads()
    } else {
        1
    };
    crate::parallel::join(threads, weight_side, input_side);
    Ok(())
}
