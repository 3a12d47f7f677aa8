//! Shared test support: a seeded generator, owned matrices in several storage layouts, a naive
//! f64 reference GEMM and the error bound results are held to.
//!
//! Not every test file uses every helper.
#![allow(dead_code)]

use std::fmt::Debug;

use lingrad::{Accum, Element, MatMut, MatRef};

/// SplitMix64: small, seedable, identical on every machine.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed ^ 0x5DEE_CE66_D1CE_4E5B)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[-1, 1)`, never exactly zero.
    pub fn signed_unit(&mut self) -> f64 {
        loop {
            let u = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
            let v = 2.0 * u - 1.0;
            if v != 0.0 {
                return v;
            }
        }
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        assert!(lo <= hi);
        lo + (self.next_u64() % (hi - lo + 1) as u64) as usize
    }

    /// A random value of `T` in `[-1, 1)`, never zero.
    pub fn value<T: Float>(&mut self) -> T {
        T::from_f64(self.signed_unit())
    }

    /// `n` random values of `T`.
    pub fn vec<T: Float>(&mut self, n: usize) -> Vec<T> {
        (0..n).map(|_| self.value()).collect()
    }
}

/// The element types under test, with their unit roundoff.
pub trait Float: Element {
    /// Machine epsilon of the type.
    const EPS: f64;
    const NAME: &'static str;
    const NAN: Self;
}

impl Float for f32 {
    const EPS: f64 = f32::EPSILON as f64;
    const NAME: &'static str = "f32";
    const NAN: Self = f32::NAN;
}

impl Float for f64 {
    const EPS: f64 = f64::EPSILON;
    const NAME: &'static str = "f64";
    const NAN: Self = f64::NAN;
}

/// How a matrix is stored in its buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// Contiguous row-major: strides `(cols, 1)`, built with `new`.
    RowMajor,
    /// Contiguous column-major: a row-major `cols × rows` buffer viewed through `.t()`.
    ColMajor,
    /// Row-major with 3 elements of padding after each row: strides `(cols + 3, 1)`.
    Padded,
    /// Every other element of each row, 5 elements of padding per row:
    /// strides `(2 * cols + 5, 2)`.
    Strided,
    /// Column-major with gaps: strides `(3, 3 * rows + 2)`.
    ColStrided,
    /// Any padded, strided layout: row-major order with `cs = step`, `rs = cols * step + pad`,
    /// or column-major order with `rs = step`, `cs = rows * step + pad`.
    General {
        pad: usize,
        step: usize,
        col_major: bool,
    },
}

impl Layout {
    pub const ALL: [Layout; 5] = [
        Layout::RowMajor,
        Layout::ColMajor,
        Layout::Padded,
        Layout::Strided,
        Layout::ColStrided,
    ];

    /// `(row_stride, col_stride)` for a `rows × cols` matrix.
    pub fn strides(self, rows: usize, cols: usize) -> (usize, usize) {
        match self {
            Layout::RowMajor => (cols, 1),
            Layout::ColMajor => (1, rows),
            Layout::Padded => (cols + 3, 1),
            Layout::Strided => (2 * cols + 5, 2),
            Layout::ColStrided => (3, 3 * rows + 2),
            Layout::General {
                pad,
                step,
                col_major: false,
            } => (cols * step + pad, step),
            Layout::General {
                pad,
                step,
                col_major: true,
            } => (step, rows * step + pad),
        }
    }
}

/// Extra buffer elements past the last one a view may touch; they must never be written.
pub const SLACK: usize = 3;

/// An owned `rows × cols` matrix stored in `layout`. Buffer elements outside the matrix hold
/// NaN, so a kernel that reads them poisons its result and one that writes them is caught by
/// [`Mat::check_padding`].
#[derive(Clone, Debug)]
pub struct Mat<T> {
    pub data: Vec<T>,
    pub rows: usize,
    pub cols: usize,
    pub rs: usize,
    pub cs: usize,
    pub layout: Layout,
}

impl<T: Float> Mat<T> {
    /// A matrix whose element `(i, j)` is `f(i, j)`.
    pub fn from_fn(
        rows: usize,
        cols: usize,
        layout: Layout,
        mut f: impl FnMut(usize, usize) -> T,
    ) -> Self {
        let (rs, cs) = layout.strides(rows, cols);
        let needed = if rows == 0 || cols == 0 {
            0
        } else {
            (rows - 1) * rs + (cols - 1) * cs + 1
        };
        let mut m = Self {
            data: vec![T::NAN; needed + SLACK],
            rows,
            cols,
            rs,
            cs,
            layout,
        };
        for i in 0..rows {
            for j in 0..cols {
                let v = f(i, j);
                m.set(i, j, v);
            }
        }
        m
    }

    /// Uniform random entries in `[-1, 1)`.
    pub fn random(rows: usize, cols: usize, layout: Layout, rng: &mut Rng) -> Self {
        Self::from_fn(rows, cols, layout, |_, _| rng.value())
    }

    /// Every entry `v`.
    pub fn filled(rows: usize, cols: usize, layout: Layout, v: T) -> Self {
        Self::from_fn(rows, cols, layout, |_, _| v)
    }

    /// A copy of row-major `values` stored in `layout`.
    pub fn from_row_major(rows: usize, cols: usize, layout: Layout, values: &[T]) -> Self {
        assert_eq!(values.len(), rows * cols);
        Self::from_fn(rows, cols, layout, |i, j| values[i * cols + j])
    }

    pub fn shape(&self) -> (usize, usize) {
        (self.rows, self.cols)
    }

    fn offset(&self, i: usize, j: usize) -> usize {
        assert!(i < self.rows && j < self.cols);
        i * self.rs + j * self.cs
    }

    pub fn get(&self, i: usize, j: usize) -> T {
        self.data[self.offset(i, j)]
    }

    pub fn set(&mut self, i: usize, j: usize, v: T) {
        let o = self.offset(i, j);
        self.data[o] = v;
    }

    /// The view, built through the public constructor that matches the layout.
    pub fn view(&self) -> MatRef<'_, T> {
        let r = match self.layout {
            Layout::RowMajor => MatRef::new(&self.data, self.rows, self.cols),
            Layout::ColMajor => MatRef::new(&self.data, self.cols, self.rows).map(MatRef::t),
            _ => MatRef::strided(&self.data, self.rows, self.cols, self.rs, self.cs),
        };
        let v = r.expect("test layouts are valid");
        assert_eq!(v.shape(), self.shape());
        assert_eq!((v.row_stride(), v.col_stride()), (self.rs, self.cs));
        v
    }

    /// The mutable view, built through the public constructor that matches the layout.
    pub fn view_mut(&mut self) -> MatMut<'_, T> {
        let (rows, cols, rs, cs) = (self.rows, self.cols, self.rs, self.cs);
        let empty = rows == 0 || cols == 0;
        let r = match self.layout {
            // An empty contiguous view (e.g. 6×0) is rejected as aliasing by the constructors
            // (see `bad_input::empty_mutable_views_are_valid`); keep the other tests
            // independent of that by giving empty views non-zero strides.
            _ if empty => MatMut::strided(&mut self.data, rows, cols, 1, 1),
            Layout::RowMajor => MatMut::new(&mut self.data, rows, cols),
            Layout::ColMajor => MatMut::new(&mut self.data, cols, rows).map(MatMut::t),
            _ => MatMut::strided(&mut self.data, rows, cols, rs, cs),
        };
        let v = r.expect("test layouts are valid");
        assert_eq!(v.shape(), (rows, cols));
        if !empty {
            assert_eq!((v.row_stride(), v.col_stride()), (rs, cs));
        }
        v
    }

    /// Row-major copy of the entries, widened to f64.
    pub fn to_f64(&self) -> Vec<f64> {
        let mut out = Vec::with_capacity(self.rows * self.cols);
        for i in 0..self.rows {
            for j in 0..self.cols {
                out.push(self.get(i, j).to_f64());
            }
        }
        out
    }

    /// Row-major copy of the entries.
    pub fn to_row_major(&self) -> Vec<T> {
        let mut out = Vec::with_capacity(self.rows * self.cols);
        for i in 0..self.rows {
            for j in 0..self.cols {
                out.push(self.get(i, j));
            }
        }
        out
    }

    /// Panics unless every buffer element outside the matrix still holds NaN.
    pub fn check_padding(&self, ctx: &dyn Debug) {
        let mut inside = vec![false; self.data.len()];
        for i in 0..self.rows {
            for j in 0..self.cols {
                inside[self.offset(i, j)] = true;
            }
        }
        for (o, (&v, &ins)) in self.data.iter().zip(&inside).enumerate() {
            assert!(
                ins || v.to_f64().is_nan(),
                "{ctx:?}: buffer element {o} outside the {}x{} {:?} view was written ({v:?})",
                self.rows,
                self.cols,
                self.layout
            );
        }
    }
}

/// Neumaier-compensated sum of f64 terms: accurate to about one rounding of the result.
#[derive(Clone, Copy, Default)]
pub struct KahanSum {
    sum: f64,
    comp: f64,
}

impl KahanSum {
    pub fn add(&mut self, v: f64) {
        let t = self.sum + v;
        if self.sum.abs() >= v.abs() {
            self.comp += (self.sum - t) + v;
        } else {
            self.comp += (v - t) + self.sum;
        }
        self.sum = t;
    }

    pub fn value(&self) -> f64 {
        self.sum + self.comp
    }
}

/// A reference result: row-major values and, per element, the magnitude `Σ|terms|` that
/// rounding errors scale with.
#[derive(Clone, Debug)]
pub struct Expected {
    pub rows: usize,
    pub cols: usize,
    pub value: Vec<f64>,
    pub magnitude: Vec<f64>,
    /// Length of the longest floating-point sum behind each element (for the error bound).
    pub depth: usize,
}

impl Expected {
    /// `rows × cols` zeros of depth 0.
    pub fn zeros(rows: usize, cols: usize) -> Self {
        Self {
            rows,
            cols,
            value: vec![0.0; rows * cols],
            magnitude: vec![0.0; rows * cols],
            depth: 0,
        }
    }

    /// Adds `v[j]` to every row (a bias, or a column-sum gradient broadcast).
    pub fn add_row_vector<T: Float>(mut self, v: &[T]) -> Self {
        assert_eq!(v.len(), self.cols);
        for i in 0..self.rows {
            for (j, &b) in v.iter().enumerate() {
                let b = b.to_f64();
                self.value[i * self.cols + j] += b;
                self.magnitude[i * self.cols + j] += b.abs();
            }
        }
        self.depth += 1;
        self
    }

    /// Adds the previous contents `c0` of the output (row-major), as `Accum::Add` does.
    pub fn add_matrix(mut self, c0: &[f64]) -> Self {
        assert_eq!(c0.len(), self.value.len());
        for ((v, m), &c) in self.value.iter_mut().zip(&mut self.magnitude).zip(c0) {
            *v += c;
            *m += c.abs();
        }
        self.depth += 1;
        self
    }

    /// `add_matrix(c0)` when `accum` is `Add`, unchanged otherwise.
    pub fn accumulate(self, accum: Accum, c0: &[f64]) -> Self {
        match accum {
            Accum::Overwrite => self,
            Accum::Add => self.add_matrix(c0),
        }
    }
}

/// Reference `a · b` computed in f64 with compensated sums, on any views.
pub fn ref_matmul<T: Float>(a: MatRef<'_, T>, b: MatRef<'_, T>) -> Expected {
    let (m, k) = a.shape();
    assert_eq!(b.rows(), k, "reference: inner dimensions differ");
    let n = b.cols();
    let mut out = Expected::zeros(m, n);
    out.depth = k;
    for i in 0..m {
        for j in 0..n {
            let mut s = KahanSum::default();
            let mut mag = 0.0;
            for p in 0..k {
                // Products of two f32s, or of two f64s up to rounding, formed in f64.
                let t = a.get(i, p).unwrap().to_f64() * b.get(p, j).unwrap().to_f64();
                s.add(t);
                mag += t.abs();
            }
            out.value[i * n + j] = s.value();
            out.magnitude[i * n + j] = mag;
        }
    }
    out
}

/// Reference column sums of `dy` as a `1 × cols` result.
pub fn ref_col_sums<T: Float>(dy: MatRef<'_, T>) -> Expected {
    let (rows, cols) = dy.shape();
    let mut out = Expected::zeros(1, cols);
    out.depth = rows;
    for j in 0..cols {
        let mut s = KahanSum::default();
        let mut mag = 0.0;
        for i in 0..rows {
            let v = dy.get(i, j).unwrap().to_f64();
            s.add(v);
            mag += v.abs();
        }
        out.value[j] = s.value();
        out.magnitude[j] = mag;
    }
    out
}

/// Largest error allowed for a value formed by a floating-point sum of `depth` terms whose
/// absolute values add up to `magnitude`: `4·(depth + 2)·eps·magnitude`, plus a tiny absolute
/// floor for results that cancel to (nearly) zero.
pub fn tolerance<T: Float>(depth: usize, magnitude: f64) -> f64 {
    4.0 * (depth as f64 + 2.0) * T::EPS * magnitude + 1e-30
}

/// Panics (naming `ctx` and the first bad element) unless `got` (row-major) is within
/// [`tolerance`] of `want` everywhere. NaN never passes.
pub fn assert_close_slice<T: Float>(got: &[T], want: &Expected, ctx: &dyn Debug) {
    assert_eq!(
        got.len(),
        want.value.len(),
        "{ctx:?}: result has the wrong number of elements"
    );
    for (idx, &g) in got.iter().enumerate() {
        let g = g.to_f64();
        let w = want.value[idx];
        let tol = tolerance::<T>(want.depth, want.magnitude[idx]);
        let err = (g - w).abs();
        assert!(
            err <= tol,
            "{ctx:?} ({}): element ({}, {}) is {g:e}, reference {w:e}, error {err:e} > tolerance {tol:e}",
            T::NAME,
            idx / want.cols.max(1),
            idx % want.cols.max(1),
        );
    }
}

/// [`assert_close_slice`] for a matrix, which must also have the expected shape and intact
/// padding.
pub fn assert_close<T: Float>(got: &Mat<T>, want: &Expected, ctx: &dyn Debug) {
    assert_eq!(
        got.shape(),
        (want.rows, want.cols),
        "{ctx:?}: result has the wrong shape"
    );
    assert_close_slice(&got.to_row_major(), want, ctx);
    got.check_padding(ctx);
}

/// Both accumulation modes.
pub const ACCUMS: [Accum; 2] = [Accum::Overwrite, Accum::Add];

/// An output matrix prepared for `accum`: NaN everywhere for `Overwrite` (it must never be
/// read), random values for `Add`.
pub fn output<T: Float>(
    rows: usize,
    cols: usize,
    layout: Layout,
    accum: Accum,
    rng: &mut Rng,
) -> Mat<T> {
    match accum {
        Accum::Overwrite => Mat::filled(rows, cols, layout, T::NAN),
        Accum::Add => Mat::random(rows, cols, layout, rng),
    }
}

/// A vector output prepared for `accum` as in [`output`].
pub fn output_vec<T: Float>(n: usize, accum: Accum, rng: &mut Rng) -> Vec<T> {
    match accum {
        Accum::Overwrite => vec![T::NAN; n],
        Accum::Add => rng.vec(n),
    }
}

/// Bitwise images of a slice, for exact comparisons that treat NaN like any other value.
pub fn bits<T: Float>(v: &[T]) -> Vec<u64> {
    v.iter().map(|x| x.to_f64().to_bits()).collect()
}

/// The engine in use, printed once per test binary for the log.
pub fn note_engine() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| eprintln!("lingrad engine: {}", lingrad::isa()));
}
