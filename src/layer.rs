//! [`Linear`]: a fully connected layer owning its parameters and their gradients.

use crate::element::Element;
use crate::error::ShapeError;
use crate::linear::{self, Grads};
use crate::rng::SplitMix64;
use crate::view::{MatMut, MatRef};
use crate::{Accum, Parallelism};

/// A parameter matrix and its gradient, which always have the same shape.
///
/// The gradient is attached to the value it belongs to: both are created together and neither
/// can be resized, so an optimiser can pair them without checking.
#[derive(Clone, Debug, PartialEq)]
pub struct Param<T> {
    value: Vec<T>,
    grad: Vec<T>,
    rows: usize,
    cols: usize,
}

impl<T: Element> Param<T> {
    /// A `rows × cols` parameter holding `value` (row-major), with a zero gradient.
    ///
    /// ```
    /// let p = lingrad::Param::new(vec![1.0f32, 2.0, 3.0], 1, 3)?;
    /// assert_eq!(p.grad_slice(), &[0.0, 0.0, 0.0]);
    /// # Ok::<(), lingrad::ShapeError>(())
    /// ```
    ///
    /// # Errors
    /// [`ShapeError::LenMismatch`] if `value.len() != rows * cols`, [`ShapeError::Overflow`]
    /// if that product overflows.
    pub fn new(value: Vec<T>, rows: usize, cols: usize) -> Result<Self, ShapeError> {
        let len = checked_len("Param::new", rows, cols)?;
        linear::check_len("Param::new", "value", len, value.len())?;
        let mut grad = try_alloc("Param::new", rows, cols)?;
        grad.resize(len, T::ZERO);
        Ok(Self {
            grad,
            value,
            rows,
            cols,
        })
    }

    /// Rows of the value and of the gradient.
    pub fn rows(&self) -> usize {
        self.rows
    }
    /// Columns of the value and of the gradient.
    pub fn cols(&self) -> usize {
        self.cols
    }
    /// The value as a row-major view.
    pub fn value(&self) -> MatRef<'_, T> {
        MatRef::new(&self.value, self.rows, self.cols).expect("shape fixed at construction")
    }
    /// The gradient as a row-major view.
    pub fn grad(&self) -> MatRef<'_, T> {
        MatRef::new(&self.grad, self.rows, self.cols).expect("shape fixed at construction")
    }
    /// The value's elements, row-major.
    pub fn value_slice(&self) -> &[T] {
        &self.value
    }
    /// The gradient's elements, row-major.
    pub fn grad_slice(&self) -> &[T] {
        &self.grad
    }
    /// The value (mutable) and the gradient, element for element, for an optimiser step.
    ///
    /// ```
    /// let mut p = lingrad::Param::new(vec![1.0f32, 2.0], 1, 2)?;
    /// let (value, grad) = p.value_and_grad_mut();
    /// for (v, g) in value.iter_mut().zip(grad) {
    ///     *v -= 0.1 * *g;
    /// }
    /// # Ok::<(), lingrad::ShapeError>(())
    /// ```
    pub fn value_and_grad_mut(&mut self) -> (&mut [T], &[T]) {
        (&mut self.value, &self.grad)
    }
    /// The value's elements, mutable.
    pub fn value_slice_mut(&mut self) -> &mut [T] {
        &mut self.value
    }
    /// Sets the gradient to zero.
    pub fn zero_grad(&mut self) {
        self.grad.fill(T::ZERO);
    }
}

/// `rows * cols`, or `Overflow` when that many elements could not be addressed.
fn checked_len(op: &'static str, rows: usize, cols: usize) -> Result<usize, ShapeError> {
    rows.checked_mul(cols)
        .filter(|&n| n <= isize::MAX as usize / core::mem::size_of::<f64>())
        .ok_or(overflow(op, rows, cols))
}

fn overflow(op: &'static str, rows: usize, cols: usize) -> ShapeError {
    ShapeError::Overflow {
        op,
        rows,
        cols,
        row_stride: cols,
        col_stride: 1,
    }
}

/// An empty vector with room for `rows * cols` elements, or `Overflow` when the allocator
/// cannot provide it (so an absurd size is an error, not an abort).
fn try_alloc<T>(op: &'static str, rows: usize, cols: usize) -> Result<Vec<T>, ShapeError> {
    let len = checked_len(op, rows, cols)?;
    let mut v = Vec::new();
    v.try_reserve_exact(len)
        .map_err(|_| overflow(op, rows, cols))?;
    Ok(v)
}

/// A fully connected layer `y = x·W + b` with `W: in_features × out_features` and
/// `b: out_features`.
///
/// [`Linear::backward`] accumulates into the parameters' gradients (so several micro-batches
/// add up) until [`Linear::zero_grad`].
///
/// ```
/// use lingrad::{Linear, MatMut, MatRef, Parallelism};
/// let mut layer = Linear::<f32>::new(3, 2, 42)?;
/// let x = [1.0f32, 2.0, 3.0];
/// let mut y = [0.0f32; 2];
/// layer.forward(MatRef::new(&x, 1, 3)?, MatMut::new(&mut y, 1, 2)?, Parallelism::Current)?;
///
/// let dy = [1.0f32, -1.0];
/// let mut dx = [0.0f32; 3];
/// layer.backward(
///     MatRef::new(&x, 1, 3)?,
///     MatRef::new(&dy, 1, 2)?,
///     Some(MatMut::new(&mut dx, 1, 3)?),
///     Parallelism::Current,
/// )?;
/// assert_eq!(layer.bias().grad_slice(), &[1.0, -1.0]);
/// assert_eq!(layer.weight().grad_slice(), &[1.0, -1.0, 2.0, -2.0, 3.0, -3.0]);
/// layer.zero_grad();
/// assert!(layer.weight().grad_slice().iter().all(|&g| g == 0.0));
/// # Ok::<(), lingrad::ShapeError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Linear<T> {
    weight: Param<T>,
    bias: Param<T>,
}

impl<T: Element> Linear<T> {
    /// A layer with weights and biases drawn uniformly from `±1/√in_features` (the usual
    /// default for linear layers) by a generator seeded with `seed`: the same seed gives the
    /// same layer on every machine.
    ///
    /// # Errors
    /// [`ShapeError::Overflow`] if `in_features * out_features` or `out_features` elements
    /// cannot be allocated (more than `isize::MAX` bytes).
    pub fn new(in_features: usize, out_features: usize, seed: u64) -> Result<Self, ShapeError> {
        let mut weight = try_alloc("Linear::new", in_features, out_features)?;
        let mut bias = try_alloc("Linear::new", 1, out_features)?;
        let bound = 1.0 / (in_features.max(1) as f64).sqrt();
        let mut rng = SplitMix64::new(seed);
        let mut draw = |v: &mut Vec<T>, n: usize| {
            v.extend((0..n).map(|_| T::from_f64(rng.next_signed_unit() * bound)));
        };
        draw(&mut weight, in_features * out_features);
        draw(&mut bias, out_features);
        Ok(Self {
            weight: Param::new(weight, in_features, out_features)?,
            bias: Param::new(bias, 1, out_features)?,
        })
    }

    /// A layer with the given parameters: `weight` is `in_features × out_features`, `bias`
    /// is `1 × out_features`.
    ///
    /// # Errors
    /// [`ShapeError::DimMismatch`] if `bias` is not `1 × weight.cols()`.
    pub fn from_params(weight: Param<T>, bias: Param<T>) -> Result<Self, ShapeError> {
        linear::check_shape(
            "Linear::from_params",
            "bias",
            (1, weight.cols()),
            (bias.rows(), bias.cols()),
        )?;
        Ok(Self { weight, bias })
    }

    /// Input width.
    pub fn in_features(&self) -> usize {
        self.weight.rows
    }
    /// Output width.
    pub fn out_features(&self) -> usize {
        self.weight.cols
    }
    /// The weight `W` (`in_features × out_features`) and its gradient.
    pub fn weight(&self) -> &Param<T> {
        &self.weight
    }
    /// The bias `b` (`1 × out_features`) and its gradient.
    pub fn bias(&self) -> &Param<T> {
        &self.bias
    }
    /// Both parameters, mutable, for an optimiser: `[weight, bias]`.
    pub fn params_mut(&mut self) -> [&mut Param<T>; 2] {
        [&mut self.weight, &mut self.bias]
    }

    /// `y = x·W + b` for a `batch × in_features` input; `y` is `batch × out_features`.
    ///
    /// # Errors
    /// As [`linear::forward`].
    pub fn forward(
        &self,
        x: MatRef<'_, T>,
        y: MatMut<'_, T>,
        par: Parallelism,
    ) -> Result<(), ShapeError> {
        linear::forward(x, self.weight.value(), Some(&self.bias.value), y, par)
    }

    /// Back-propagates `dy` (`batch × out_features`) for the input `x` of the forward pass:
    /// adds `xᵀ·dy` to the weight gradient and `Σ_rows dy` to the bias gradient, and writes
    /// `dx = dy·Wᵀ` (`batch × in_features`) when `dx` is given (a first layer needs none).
    ///
    /// # Errors
    /// As [`linear::backward`]; nothing is written on error.
    pub fn backward(
        &mut self,
        x: MatRef<'_, T>,
        dy: MatRef<'_, T>,
        dx: Option<MatMut<'_, T>>,
        par: Parallelism,
    ) -> Result<(), ShapeError> {
        let (rows, cols) = (self.weight.rows, self.weight.cols);
        let mut grads = Grads::new()
            .dw(MatMut::new(&mut self.weight.grad, rows, cols)?, Accum::Add)
            .db(&mut self.bias.grad, Accum::Add);
        if let Some(dx) = dx {
            grads = grads.dx(dx, Accum::Overwrite);
        }
        let w = MatRef::new(&self.weight.value, rows, cols)?;
        linear::backward(x, w, dy, grads, par)
    }

    /// Sets both gradients to zero.
    pub fn zero_grad(&mut self) {
        self.weight.zero_grad();
        self.bias.zero_grad();
    }
}
