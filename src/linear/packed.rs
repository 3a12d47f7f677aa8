//! [`PackedWeights`]: W packed once for the forward pass and the input gradient, reused by
//! every call until the weights change.

use crate::element::Element;
use crate::error::ShapeError;
use crate::gemm::{gemm, pack_whole, GemmArgs};
use crate::linear::{check_len, check_shape};
use crate::view::{MatMut, MatRef};
use crate::{Accum, Parallelism};

/// A weight matrix `W` (`in_features × out_features`) with its GEMM panels packed ahead of
/// time: `W` for `y = x·W + b` and `Wᵀ` for `dx = dy·Wᵀ`.
///
/// At small batches packing W is a large share of a call's work (each element of W is used
/// only `batch` times). Pack it once per training step — after the optimiser has updated the
/// weights, with [`PackedWeights::update`], which reuses the memory — and pass the packed
/// value to [`forward_packed`] and [`grad_input_packed`]. Results are bitwise identical to
/// [`forward`](crate::linear::forward) and [`grad_input`](crate::linear::grad_input) on the same
/// weights, except that a NaN result may carry a different NaN payload (IEEE 754 leaves open
/// which input NaN's payload a product passes on, and the two may multiply in either order).
/// The value keeps its own copy of W, so it can never go stale behind a caller's back.
///
/// ```
/// use lingrad::linear::{self, PackedWeights};
/// use lingrad::{Accum, MatMut, MatRef, Parallelism};
/// let w = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]; // in 3, out 2
/// let packed = PackedWeights::new(MatRef::new(&w, 3, 2)?)?;
///
/// let x = [1.0f32, 1.0, 1.0];
/// let mut y = [0.0f32; 2];
/// linear::forward_packed(
///     MatRef::new(&x, 1, 3)?,
///     &packed,
///     None,
///     MatMut::new(&mut y, 1, 2)?,
///     Parallelism::Current,
/// )?;
/// assert_eq!(y, [9.0, 12.0]);
///
/// let dy = [1.0f32, -1.0];
/// let mut dx = [0.0f32; 3];
/// linear::grad_input_packed(
///     MatRef::new(&dy, 1, 2)?,
///     &packed,
///     MatMut::new(&mut dx, 1, 3)?,
///     Accum::Overwrite,
///     Parallelism::Current,
/// )?;
/// assert_eq!(dx, [-1.0, -1.0, -1.0]);
/// # Ok::<(), lingrad::ShapeError>(())
/// ```
#[derive(Clone, Debug)]
pub struct PackedWeights<T> {
    /// Row-major copy of W.
    w: Vec<T>,
    in_features: usize,
    out_features: usize,
    /// W packed as the B operand of `x·W`.
    forward: Vec<T>,
    /// Wᵀ packed as the B operand of `dy·Wᵀ`.
    backward: Vec<T>,
}

impl<T: Element> PackedWeights<T> {
    /// Copies and packs `w` (`in_features × out_features`, any layout).
    ///
    /// # Errors
    /// [`ShapeError::Overflow`] if the packed copies cannot be allocated.
    pub fn new(w: MatRef<'_, T>) -> Result<Self, ShapeError> {
        let mut packed = Self {
            w: Vec::new(),
            in_features: w.rows(),
            out_features: w.cols(),
            forward: Vec::new(),
            backward: Vec::new(),
        };
        packed.fill(w)?;
        Ok(packed)
    }

    /// Re-packs from new values of the same shape, reusing the memory.
    ///
    /// # Errors
    /// [`ShapeError::DimMismatch`] if `w` is not `in_features × out_features`; the packed
    /// value is then unchanged.
    pub fn update(&mut self, w: MatRef<'_, T>) -> Result<(), ShapeError> {
        check_shape(
            "PackedWeights::update",
            "w",
            (self.in_features, self.out_features),
            w.shape(),
        )?;
        self.fill(w)
    }

    fn fill(&mut self, w: MatRef<'_, T>) -> Result<(), ShapeError> {
        let (rows, cols) = w.shape();
        let overflow = ShapeError::Overflow {
            op: "PackedWeights::new",
            rows,
            cols,
            row_stride: cols,
            col_stride: 1,
        };
        let len = rows.checked_mul(cols).ok_or(overflow.clone())?;
        // Room for the copy and both packed forms (padded by at most one panel per row or
        // column), reserved before anything is written.
        let padded = rows
            .checked_add(64)
            .and_then(|r| r.checked_mul(cols.checked_add(64)?))
            .ok_or(overflow.clone())?;
        for (v, need) in [
            (&mut self.w, len),
            (&mut self.forward, padded),
            (&mut self.backward, padded),
        ] {
            v.try_reserve_exact(need.saturating_sub(v.len()))
                .map_err(|_| overflow.clone())?;
        }
        self.w.clear();
        for i in 0..rows {
            for j in 0..cols {
                self.w.push(*w.get(i, j).expect("in range"));
            }
        }
        let w = MatRef::new(&self.w, rows, cols).expect("a contiguous copy");
        pack_whole(w, &mut self.forward);
        pack_whole(w.t(), &mut self.backward);
        Ok(())
    }

    /// Rows of W.
    pub fn in_features(&self) -> usize {
        self.in_features
    }
    /// Columns of W.
    pub fn out_features(&self) -> usize {
        self.out_features
    }
    /// The weights that were packed, row-major.
    pub fn weight(&self) -> MatRef<'_, T> {
        MatRef::new(&self.w, self.in_features, self.out_features).expect("shape fixed")
    }
}

/// [`forward`](crate::linear::forward) with pre-packed weights: `y = x·W + bias`.
///
/// # Errors
/// As [`forward`](crate::linear::forward); `y` is left untouched on error.
pub fn forward_packed<T: Element>(
    x: MatRef<'_, T>,
    w: &PackedWeights<T>,
    bias: Option<&[T]>,
    y: MatMut<'_, T>,
    par: Parallelism,
) -> Result<(), ShapeError> {
    const OP: &str = "linear::forward_packed";
    let (batch, in_features) = x.shape();
    let out_features = w.out_features;
    check_shape(
        OP,
        "w",
        (in_features, out_features),
        (w.in_features, out_features),
    )?;
    check_shape(OP, "y", (batch, out_features), y.shape())?;
    if let Some(bias) = bias {
        check_len(OP, "bias", out_features, bias.len())?;
    }
    gemm(GemmArgs {
        a: x,
        b: w.weight(),
        c: y,
        accum: Accum::Overwrite,
        bias,
        b_sums: None,
        b_packed: Some(&w.forward),
        par,
    });
    Ok(())
}

/// [`grad_input`](crate::linear::grad_input) with pre-packed weights: `dx (=|+=) dy·Wᵀ`.
///
/// # Errors
/// As [`grad_input`](crate::linear::grad_input); `dx` is left untouched on error.
pub fn grad_input_packed<T: Element>(
    dy: MatRef<'_, T>,
    w: &PackedWeights<T>,
    dx: MatMut<'_, T>,
    accum: Accum,
    par: Parallelism,
) -> Result<(), ShapeError> {
    const OP: &str = "linear::grad_input_packed";
    let (batch, out_features) = dy.shape();
    let in_features = w.in_features;
    check_shape(
        OP,
        "w",
        (in_features, out_features),
        (in_features, w.out_features),
    )?;
    check_shape(OP, "dx", (batch, in_features), dx.shape())?;
    gemm(GemmArgs {
        a: dy,
        b: w.weight().t(),
        c: dx,
        accum,
        bias: None,
        b_sums: None,
        b_packed: Some(&w.backward),
        par,
    });
    Ok(())
}
