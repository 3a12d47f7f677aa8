//! Pieces shared by the fuzz targets: operand layouts, value sources, and the f64 reference
//! the results are checked against.
//!
//! An [`Operand`] owns a buffer and describes a logical `rows × cols` matrix inside it (row- or
//! column-major, padded, transposed, or with arbitrary strides). Elements of the buffer outside
//! the matrix are "gaps"; a routine must never write them.

use arbitrary::Arbitrary;
use lingrad::{Accum, Element, MatMut, MatRef, Parallelism};

/// How an operand is laid out in its buffer.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Layout {
    /// Row-major, `pad % 4` unused elements after each row.
    RowMajor { pad: u8 },
    /// Column-major, `pad % 4` unused elements after each column.
    ColMajor { pad: u8 },
    /// Stored row-major as the `cols × rows` transpose and viewed through `.t()`.
    Transposed { pad: u8 },
    /// Any strides below 64, zero included: a broadcast input, or an output the view
    /// constructors reject because its elements would share memory.
    Strided { row_stride: u8, col_stride: u8 },
}

/// Where the element values come from.
#[derive(Arbitrary, Debug, Clone)]
pub enum Values {
    /// Integers in -8..=8 divided by 4, from a seeded generator: every product and sum is exact.
    Small { seed: u64 },
    /// Uniform in [-1, 1), from a seeded generator.
    Uniform { seed: u64 },
    /// The given values, cycled; NaN, infinities and subnormals included.
    Palette(Vec<f32>),
}

impl Values {
    /// The same source with every palette value finite and below `bound` in magnitude:
    /// non-finite values become 0, finite ones are reduced modulo `bound`.
    pub fn bounded(&self, bound: f32) -> Self {
        match self {
            Values::Palette(p) => Values::Palette(
                p.iter()
                    .map(|&v| if v.is_finite() { v % bound } else { 0.0 })
                    .collect(),
            ),
            other => other.clone(),
        }
    }
}

/// An iterator over a [`Values`] source.
pub struct ValueStream {
    values: Values,
    state: u64,
    pos: usize,
}

impl ValueStream {
    /// Starts the stream.
    pub fn new(values: Values) -> Self {
        let state = match values {
            Values::Small { seed } | Values::Uniform { seed } => seed,
            Values::Palette(_) => 0,
        };
        Self {
            values,
            state,
            pos: 0,
        }
    }

    fn next_u64(&mut self) -> u64 {
        // SplitMix64.
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// The next value.
    pub fn next_value<T: Element>(&mut self) -> T {
        let v = match &self.values {
            Values::Small { .. } => ((self.next_u64() % 17) as f64 - 8.0) / 4.0,
            Values::Uniform { .. } => (self.next_u64() >> 11) as f64 / (1u64 << 52) as f64 - 1.0,
            Values::Palette(p) if p.is_empty() => 1.0,
            Values::Palette(p) => {
                self.pos += 1;
                f64::from(p[(self.pos - 1) % p.len()])
            }
        };
        T::from_f64(v)
    }
}

/// A `rows × cols` matrix inside an owned buffer.
#[derive(Clone, Debug)]
pub struct Operand<T> {
    /// The buffer: the matrix's elements and the gaps between them.
    pub data: Vec<T>,
    rows: usize,
    cols: usize,
    /// Strides of the stored matrix (`cols × rows` when `transposed`).
    rs: usize,
    cs: usize,
    transposed: bool,
}

impl<T: Element> Operand<T> {
    /// A `rows × cols` operand laid out as `layout`, its elements drawn from `values` and its
    /// gaps set to `gap`.
    pub fn new(rows: usize, cols: usize, layout: Layout, values: &mut ValueStream, gap: T) -> Self {
        let (rs, cs, transposed) = match layout {
            Layout::RowMajor { pad } => (cols + usize::from(pad % 4), 1, false),
            Layout::ColMajor { pad } => (1, rows + usize::from(pad % 4), false),
            Layout::Transposed { pad } => (rows + usize::from(pad % 4), 1, true),
            Layout::Strided {
                row_stride,
                col_stride,
            } => (
                usize::from(row_stride % 64),
                usize::from(col_stride % 64),
                false,
            ),
        };
        let (srows, scols) = if transposed {
            (cols, rows)
        } else {
            (rows, cols)
        };
        let needed = if srows == 0 || scols == 0 {
            0
        } else {
            (srows - 1) * rs + (scols - 1) * cs + 1
        };
        let mut op = Self {
            data: vec![gap; needed],
            rows,
            cols,
            rs,
            cs,
            transposed,
        };
        for i in 0..rows {
            for j in 0..cols {
                let idx = op.index(i, j);
                op.data[idx] = values.next_value();
            }
        }
        op
    }

    /// Rows of the logical matrix.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Columns of the logical matrix.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Buffer index of logical element `(i, j)`.
    pub fn index(&self, i: usize, j: usize) -> usize {
        if self.transposed {
            j * self.rs + i * self.cs
        } else {
            i * self.rs + j * self.cs
        }
    }

    /// Logical element `(i, j)`.
    pub fn at(&self, i: usize, j: usize) -> T {
        self.data[self.index(i, j)]
    }

    /// A read-only view, or `None` if the constructor rejects the layout.
    pub fn view(&self) -> Option<MatRef<'_, T>> {
        if self.transposed {
            MatRef::strided(&self.data, self.cols, self.rows, self.rs, self.cs)
                .ok()
                .map(MatRef::t)
        } else {
            MatRef::strided(&self.data, self.rows, self.cols, self.rs, self.cs).ok()
        }
    }

    /// A mutable view, or `None` if the constructor rejects the layout.
    pub fn view_mut(&mut self) -> Option<MatMut<'_, T>> {
        let (rows, cols) = (self.rows, self.cols);
        if self.transposed {
            MatMut::strided(&mut self.data, cols, rows, self.rs, self.cs)
                .ok()
                .map(MatMut::t)
        } else {
            MatMut::strided(&mut self.data, rows, cols, self.rs, self.cs).ok()
        }
    }

    /// Whether each buffer element belongs to the matrix.
    pub fn mask(&self) -> Vec<bool> {
        let mut mask = vec![false; self.data.len()];
        for i in 0..self.rows {
            for j in 0..self.cols {
                mask[self.index(i, j)] = true;
            }
        }
        mask
    }

    /// The buffer's bit patterns, to check later that nothing changed.
    pub fn bits(&self) -> Vec<u64> {
        self.data.iter().map(|v| v.to_f64().to_bits()).collect()
    }

    /// Like [`Operand::bits`], but with every NaN as one canonical NaN: which input's payload a
    /// NaN result carries depends on operand order, which the crate leaves unspecified.
    pub fn bits_any_nan(&self) -> Vec<u64> {
        self.data
            .iter()
            .map(|v| {
                let v = v.to_f64();
                if v.is_nan() { f64::NAN } else { v }.to_bits()
            })
            .collect()
    }
}

/// Asserts that a call returning `Err` left `after` exactly as `before`.
pub fn assert_unchanged(what: &str, before: &[u64], after: &[u64]) {
    assert!(
        before == after,
        "{what} was written although the call returned Err"
    );
}

/// Asserts that the gaps of an output (buffer elements outside the view) kept their bits.
pub fn assert_gaps_unchanged<T: Element>(what: &str, out: &Operand<T>, before: &[u64]) {
    for ((idx, in_view), (&old, new)) in out
        .mask()
        .into_iter()
        .enumerate()
        .zip(before.iter().zip(out.bits()))
    {
        assert!(
            in_view || old == new,
            "{what}: buffer element {idx} outside the view was written"
        );
    }
}

/// Machine epsilon of `T`.
pub fn epsilon<T: Element>() -> f64 {
    if core::mem::size_of::<T>() == 4 {
        f64::from(f32::EPSILON)
    } else {
        f64::EPSILON
    }
}

/// Largest finite `T`.
pub fn max_finite<T: Element>() -> f64 {
    if core::mem::size_of::<T>() == 4 {
        f64::from(f32::MAX)
    } else {
        f64::MAX
    }
}

/// Smallest positive normal `T`.
pub fn min_normal<T: Element>() -> f64 {
    if core::mem::size_of::<T>() == 4 {
        f64::from(f32::MIN_POSITIVE)
    } else {
        f64::MIN_POSITIVE
    }
}

/// An exact-as-f64 sum of terms and the sum of their magnitudes, the scale of its rounding
/// error.
#[derive(Clone, Copy, Debug, Default)]
pub struct Sum {
    /// The sum, accumulated in f64.
    pub value: f64,
    /// Σ |term|.
    pub magnitude: f64,
    /// Whether every term was finite.
    pub finite: bool,
}

impl Sum {
    /// The empty sum.
    pub fn new() -> Self {
        Self {
            value: 0.0,
            magnitude: 0.0,
            finite: true,
        }
    }

    /// Adds one term given as its factors (one factor for a plain term).
    pub fn add<T: Element>(&mut self, factors: &[T]) {
        let mut p = 1.0;
        for f in factors {
            let f = f.to_f64();
            self.finite &= f.is_finite();
            p *= f;
        }
        self.value += p;
        self.magnitude += p.abs();
    }

    /// How far a `T` result computed from `terms` terms may be from this sum:
    /// `2·(terms + 2)·ε·Σ|term|` plus a little for underflow.
    pub fn tolerance<T: Element>(&self, terms: usize) -> f64 {
        let n = terms as f64 + 2.0;
        2.0 * n * epsilon::<T>() * self.magnitude + n * min_normal::<T>()
    }

    /// Asserts that `got`, computed in `T` from `terms` terms, matches this sum: `got` must be
    /// within `2·(terms + 2)·ε·Σ|term|` plus a little for underflow. Does nothing when a term is
    /// not finite or the result may overflow `T`.
    pub fn assert_matches<T: Element>(&self, got: T, terms: usize, what: &dyn Fn() -> String) {
        if !self.finite || !self.magnitude.is_finite() || self.magnitude > max_finite::<T>() / 4.0 {
            return;
        }
        let got = got.to_f64();
        let tol = self.tolerance::<T>(terms);
        assert!(
            got.is_finite() && (got - self.value).abs() <= tol,
            "{}: got {got:e}, reference {:e}, tolerance {tol:e} over {terms} terms",
            what(),
            self.value
        );
    }
}

/// The f64 reference of a whole product `Σ_p l(i, p) · r(p, j)` (`m × k` times `k × n`),
/// computed once from dense f64 copies of the factors: far cheaper per element than summing
/// element accessors one output at a time, which keeps each fuzzing run short.
pub struct Product {
    n: usize,
    value: Vec<f64>,
    magnitude: Vec<f64>,
    row_finite: Vec<bool>,
    col_finite: Vec<bool>,
}

impl Product {
    /// The product of `l` (`m × k`) and `r` (`k × n`), given as element functions.
    pub fn new<T: Element>(
        (m, k, n): (usize, usize, usize),
        l: impl Fn(usize, usize) -> T,
        r: impl Fn(usize, usize) -> T,
    ) -> Self {
        let lv: Vec<f64> = (0..m * k).map(|x| l(x / k, x % k).to_f64()).collect();
        let rv: Vec<f64> = (0..k * n).map(|x| r(x / n, x % n).to_f64()).collect();
        let row_finite = (0..m)
            .map(|i| lv[i * k..(i + 1) * k].iter().all(|v| v.is_finite()))
            .collect();
        let col_finite = (0..n)
            .map(|j| (0..k).all(|p| rv[p * n + j].is_finite()))
            .collect();
        let mut value = vec![0.0; m * n];
        let mut magnitude = vec![0.0; m * n];
        for i in 0..m {
            let (v_row, m_row) = (
                &mut value[i * n..(i + 1) * n],
                &mut magnitude[i * n..(i + 1) * n],
            );
            for p in 0..k {
                let a = lv[i * k + p];
                let r_row = &rv[p * n..(p + 1) * n];
                for ((v, mg), &b) in v_row.iter_mut().zip(m_row.iter_mut()).zip(r_row) {
                    *v += a * b;
                    *mg += (a * b).abs();
                }
            }
        }
        Self {
            n,
            value,
            magnitude,
            row_finite,
            col_finite,
        }
    }

    /// The reference sum at `(i, j)`, plus `initial` (the output's old value) if given.
    pub fn at<T: Element>(&self, i: usize, j: usize, initial: Option<T>) -> Sum {
        let mut s = Sum {
            value: self.value[i * self.n + j],
            magnitude: self.magnitude[i * self.n + j],
            finite: self.row_finite[i] && self.col_finite[j],
        };
        if let Some(c0) = initial {
            s.add(&[c0]);
        }
        s
    }
}

/// The two accumulation modes.
pub fn accum(add: bool) -> Accum {
    if add {
        Accum::Add
    } else {
        Accum::Overwrite
    }
}

/// The two parallelism modes.
pub fn parallelism(current: bool) -> Parallelism {
    if current {
        Parallelism::Current
    } else {
        Parallelism::Sequential
    }
}

/// A dimension that is `base` unless a mismatch is injected: then `base + by` for `by > 0`,
/// `base - |by|` (floored at 0) otherwise.
pub fn perturb(base: usize, by: Option<i8>) -> usize {
    match by {
        None => base,
        Some(d) if d >= 0 => base + usize::from(d.unsigned_abs() % 4) + 1,
        Some(d) => base.saturating_sub(usize::from(d.unsigned_abs() % 4) + 1),
    }
}

/// Maps a raw value to a dimension: three quarters of the values to `0..40` (past the widest
/// micro-tile, cheap to check), the rest spread over `0..=max` (several depth blocks, and sizes
/// at which a call may use threads).
pub fn dim(raw: u16, max: usize) -> usize {
    const SPLIT: u16 = 0xC000;
    if raw < SPLIT {
        usize::from(raw % 40)
    } else {
        usize::from(raw - SPLIT) * (max + 1) / usize::from(u16::MAX - SPLIT + 1)
    }
}
