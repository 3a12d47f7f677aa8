//! Workloads shared by `benches/gemm.rs`, `benches/linear.rs` and `examples/report.rs`: the
//! named shape table, seeded non-zero data, and each linear-layer operation run on lingrad,
//! `matrixmultiply` 0.3 or the `gemm` crate 0.19, all on the same row-major buffers.
//!
//! Included with `#[path]` (it is not a crate); each includer uses a different subset, hence
//! the `dead_code` allowance.
#![allow(dead_code)]

use lingrad::{linear, Accum, Element, MatMut, MatRef, Parallelism};

/// One linear-layer shape: `x` is `m × k` (batch × in), `W` is `k × n` (in × out).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    /// Batch.
    pub m: usize,
    /// In features.
    pub k: usize,
    /// Out features.
    pub n: usize,
}

impl Shape {
    /// `MxKxN`, the name benches and the report use (and filter on).
    pub fn name(&self) -> String {
        format!("{}x{}x{}", self.m, self.k, self.n)
    }

    /// Floating-point operations of one GEMM of this shape: `2·m·k·n`. dW = xᵀ·dy and
    /// dx = dy·Wᵀ have the same count as the forward product.
    pub fn flops(&self) -> u64 {
        2 * (self.m as u64) * (self.k as u64) * (self.n as u64)
    }
}

const fn shape(m: usize, k: usize, n: usize) -> Shape {
    Shape { m, k, n }
}

/// The named shapes M×K×N: small MLP layers, square GEMMs, large-batch transformer FFN
/// layers, a wide layer at a small batch, and a 10-class output layer.
pub const SHAPES: [Shape; 8] = [
    shape(32, 512, 512),
    shape(128, 784, 256),
    shape(256, 1024, 1024),
    shape(1024, 1024, 1024),
    shape(4096, 1024, 1024),
    shape(2048, 4096, 1024),
    shape(64, 4096, 4096),
    shape(4096, 256, 10),
];

/// Small shapes M×K×N, where a call's fixed costs (validation, dispatch, packing W) weigh
/// against its arithmetic: a single example and a few rows against a 512×512 layer, a small
/// batch through a small layer, a product at lingrad's serial threshold (2^20 multiply-adds)
/// and a 10-class output for one example.
pub const SMALL_SHAPES: [Shape; 6] = [
    shape(1, 512, 512),
    shape(4, 512, 512),
    shape(8, 512, 512),
    shape(32, 64, 64),
    shape(64, 128, 128),
    shape(1, 784, 10),
];

/// The element types benchmarked, with their `matrixmultiply` routine.
pub trait Float: Element {
    /// `f32` or `f64`.
    const NAME: &'static str;

    /// `matrixmultiply::{s,d}gemm`: `c ← a·b + beta·c` with strides in elements.
    ///
    /// # Safety
    /// As `matrixmultiply::sgemm`: every in-range element of `a` (`m × k`), `b` (`k × n`) and
    /// `c` (`m × n`) is in bounds; `c` is writable and does not overlap `a` or `b`.
    #[allow(clippy::too_many_arguments)]
    unsafe fn mm_gemm(
        m: usize,
        k: usize,
        n: usize,
        a: *const Self,
        a_strides: (isize, isize),
        b: *const Self,
        b_strides: (isize, isize),
        beta: Self,
        c: *mut Self,
        c_strides: (isize, isize),
    );
}

impl Float for f32 {
    const NAME: &'static str = "f32";
    unsafe fn mm_gemm(
        m: usize,
        k: usize,
        n: usize,
        a: *const f32,
        (rsa, csa): (isize, isize),
        b: *const f32,
        (rsb, csb): (isize, isize),
        beta: f32,
        c: *mut f32,
        (rsc, csc): (isize, isize),
    ) {
        // SAFETY: forwarded from this function's contract.
        unsafe { matrixmultiply::sgemm(m, k, n, 1.0, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc) }
    }
}

impl Float for f64 {
    const NAME: &'static str = "f64";
    unsafe fn mm_gemm(
        m: usize,
        k: usize,
        n: usize,
        a: *const f64,
        (rsa, csa): (isize, isize),
        b: *const f64,
        (rsb, csb): (isize, isize),
        beta: f64,
        c: *mut f64,
        (rsc, csc): (isize, isize),
    ) {
        // SAFETY: forwarded from this function's contract.
        unsafe { matrixmultiply::dgemm(m, k, n, 1.0, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc) }
    }
}

/// Uniform values in `±[1/64, 1)`: random, never zero (a zero operand could take a shortcut
/// in some library and flatter it), and small enough that sums stay well scaled.
pub fn random_vec<T: Float>(len: usize, seed: u64) -> Vec<T> {
    let mut state = seed;
    (0..len)
        .map(|_| {
            // SplitMix64.
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            let unit = (z >> 11) as f64 / (1u64 << 53) as f64; // [0, 1)
            let magnitude = 1.0 / 64.0 + unit * (1.0 - 1.0 / 64.0);
            T::from_f64(if z & 1 == 0 { magnitude } else { -magnitude })
        })
        .collect()
}

/// Inputs and outputs of one shape, row-major: `x` m×k, `w` k×n, `bias` n, `dy` m×n, and the
/// outputs `y` m×n, `dw` k×n, `db` n, `dx` m×k.
pub struct Data<T> {
    pub shape: Shape,
    pub x: Vec<T>,
    pub w: Vec<T>,
    pub bias: Vec<T>,
    pub dy: Vec<T>,
    pub y: Vec<T>,
    pub dw: Vec<T>,
    pub db: Vec<T>,
    pub dx: Vec<T>,
}

impl<T: Float> Data<T> {
    /// Random inputs (the same for every engine, from a seed fixed per shape) and
    /// random-filled outputs.
    pub fn new(shape: Shape) -> Self {
        let Shape { m, k, n } = shape;
        let seed = (m as u64) << 40 ^ (k as u64) << 20 ^ n as u64;
        Self {
            shape,
            x: random_vec(m * k, seed ^ 1),
            w: random_vec(k * n, seed ^ 2),
            bias: random_vec(n, seed ^ 3),
            dy: random_vec(m * n, seed ^ 4),
            y: random_vec(m * n, seed ^ 5),
            dw: random_vec(k * n, seed ^ 6),
            db: random_vec(n, seed ^ 7),
            dx: random_vec(m * k, seed ^ 8),
        }
    }

    /// The output `op` writes.
    pub fn output(&self, op: Op) -> &[T] {
        match op {
            Op::Matmul | Op::Forward => &self.y,
            Op::GradWeight => &self.dw,
            Op::GradInput => &self.dx,
        }
    }
}

/// The operations compared across libraries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `y = x·W` (no bias).
    Matmul,
    /// `y = x·W + bias`.
    Forward,
    /// `dW = xᵀ·dy`.
    GradWeight,
    /// `dx = dy·Wᵀ`.
    GradInput,
}

impl Op {
    /// Short name for tables.
    pub fn name(self) -> &'static str {
        match self {
            Op::Matmul => "matmul",
            Op::Forward => "forward",
            Op::GradWeight => "dW",
            Op::GradInput => "dx",
        }
    }
}

/// The libraries compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    /// This crate, on the engine `lingrad::isa()` chose for the process.
    Lingrad,
    /// `matrixmultiply` 0.3 (`sgemm`/`dgemm`), single-threaded (built without `threading`).
    MatrixMultiply,
    /// The `gemm` crate 0.19 with its `x86-v4` feature.
    Gemm,
}

impl Engine {
    /// The engines, lingrad first.
    pub const ALL: [Engine; 3] = [Engine::Lingrad, Engine::MatrixMultiply, Engine::Gemm];

    /// Label without the thread count, e.g. `lingrad-avx2`: lingrad's engine is fixed per
    /// process, so each row says which one ran.
    pub fn label(self) -> String {
        match self {
            Engine::Lingrad => format!("lingrad-{}", lingrad::isa()),
            Engine::MatrixMultiply => "matrixmultiply".to_owned(),
            Engine::Gemm => "gemm".to_owned(),
        }
    }

    /// Whether the engine can use `threads` threads.
    pub fn supports_threads(self, threads: usize) -> bool {
        threads == 1 || self != Engine::MatrixMultiply
    }
}

/// lingrad's parallelism for `threads`: `Current` must then run inside a pool of that size.
pub fn lingrad_par(threads: usize) -> Parallelism {
    if threads > 1 {
        Parallelism::Current
    } else {
        Parallelism::Sequential
    }
}

fn gemm_par(threads: usize) -> gemm::Parallelism {
    if threads > 1 {
        gemm::Parallelism::Rayon(threads)
    } else {
        gemm::Parallelism::None
    }
}

/// A row-major `rows × cols` operand: (row stride, column stride).
fn row_major(cols: usize) -> (isize, isize) {
    (cols as isize, 1)
}

/// Its transpose, read from the same row-major buffer of `cols` columns.
fn transposed(cols: usize) -> (isize, isize) {
    (1, cols as isize)
}

/// `c (m × n) ← a (m × k) · b (k × n) + [c]` on a peer library; strides are (row, column) in
/// elements and `c` is row-major with `n` columns. `accumulate` reads `c` (β = 1).
#[allow(clippy::too_many_arguments)]
fn peer_gemm<T: Float>(
    engine: Engine,
    threads: usize,
    (m, k, n): (usize, usize, usize),
    a: &[T],
    a_strides: (isize, isize),
    b: &[T],
    b_strides: (isize, isize),
    c: &mut [T],
    accumulate: bool,
) {
    let in_bounds = |len: usize, rows: usize, cols: usize, (rs, cs): (isize, isize)| {
        rows == 0 || cols == 0 || (rows - 1) * (rs as usize) + (cols - 1) * (cs as usize) < len
    };
    assert!(in_bounds(a.len(), m, k, a_strides));
    assert!(in_bounds(b.len(), k, n, b_strides));
    assert!(c.len() >= m * n);
    let c_strides = row_major(n);
    match engine {
        Engine::MatrixMultiply => {
            assert_eq!(threads, 1, "matrixmultiply runs single-threaded here");
            let beta = if accumulate { T::ONE } else { T::ZERO };
            // SAFETY: the asserts above keep every in-range element of a, b and c inside its
            // slice; c is a unique borrow, so it overlaps neither a nor b.
            unsafe {
                T::mm_gemm(
                    m,
                    k,
                    n,
                    a.as_ptr(),
                    a_strides,
                    b.as_ptr(),
                    b_strides,
                    beta,
                    c.as_mut_ptr(),
                    c_strides,
                )
            }
        }
        Engine::Gemm => {
            // gemm computes dst ← alpha·dst + beta·lhs·rhs, with column strides first.
            // SAFETY: as above.
            unsafe {
                gemm::gemm(
                    m,
                    n,
                    k,
                    c.as_mut_ptr(),
                    c_strides.1,
                    c_strides.0,
                    accumulate,
                    a.as_ptr(),
                    a_strides.1,
                    a_strides.0,
                    b.as_ptr(),
                    b_strides.1,
                    b_strides.0,
                    T::ONE,
                    T::ONE,
                    false,
                    false,
                    false,
                    gemm_par(threads),
                )
            }
        }
        Engine::Lingrad => unreachable!("lingrad is called through its own API"),
    }
}

/// `db = Σ_rows dy` as a caller of a plain GEMM library writes it (rows in order).
pub fn column_sums<T: Float>(dy: &[T], n: usize, db: &mut [T]) {
    db.fill(T::ZERO);
    for row in dy.chunks_exact(n) {
        for (d, &v) in db.iter_mut().zip(row) {
            *d += v;
        }
    }
}

/// Runs `op` once on `engine` with `threads` threads. For lingrad with `threads > 1` (and the
/// `gemm` crate, for a fair pool) the caller must be inside a rayon pool of that size.
pub fn run<T: Float>(engine: Engine, op: Op, threads: usize, d: &mut Data<T>) {
    let Shape { m, k, n } = d.shape;
    if engine == Engine::Lingrad {
        run_lingrad(op, lingrad_par(threads), d).expect("benchmark shapes are consistent");
        return;
    }
    match op {
        Op::Matmul => peer_gemm(
            engine,
            threads,
            (m, k, n),
            &d.x,
            row_major(k),
            &d.w,
            row_major(n),
            &mut d.y,
            false,
        ),
        Op::Forward => {
            // y ← bias in every row, then y ← x·W + y.
            for row in d.y.chunks_exact_mut(n) {
                row.copy_from_slice(&d.bias);
            }
            peer_gemm(
                engine,
                threads,
                (m, k, n),
                &d.x,
                row_major(k),
                &d.w,
                row_major(n),
                &mut d.y,
                true,
            )
        }
        // dW (k × n) = xᵀ (k × m) · dy (m × n); xᵀ is x read with swapped strides.
        Op::GradWeight => peer_gemm(
            engine,
            threads,
            (k, m, n),
            &d.x,
            transposed(k),
            &d.dy,
            row_major(n),
            &mut d.dw,
            false,
        ),
        // dx (m × k) = dy (m × n) · Wᵀ (n × k); Wᵀ is W read with swapped strides.
        Op::GradInput => peer_gemm(
            engine,
            threads,
            (m, n, k),
            &d.dy,
            row_major(n),
            &d.w,
            transposed(n),
            &mut d.dx,
            false,
        ),
    }
}

fn run_lingrad<T: Float>(
    op: Op,
    par: Parallelism,
    d: &mut Data<T>,
) -> Result<(), lingrad::ShapeError> {
    let Shape { m, k, n } = d.shape;
    let x = MatRef::new(&d.x, m, k)?;
    let w = MatRef::new(&d.w, k, n)?;
    let dy = MatRef::new(&d.dy, m, n)?;
    match op {
        Op::Matmul => lingrad::matmul(x, w, MatMut::new(&mut d.y, m, n)?, Accum::Overwrite, par),
        Op::Forward => linear::forward(x, w, Some(&d.bias), MatMut::new(&mut d.y, m, n)?, par),
        Op::GradWeight => linear::grad_weight(
            x,
            dy,
            MatMut::new(&mut d.dw, k, n)?,
            None,
            Accum::Overwrite,
            par,
        ),
        Op::GradInput => {
            linear::grad_input(dy, w, MatMut::new(&mut d.dx, m, k)?, Accum::Overwrite, par)
        }
    }
}

/// Largest `|a - b|` over two outputs of the same operation.
pub fn max_abs_diff<T: Float>(a: &[T], b: &[T]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(&p, &q)| (p.to_f64() - q.to_f64()).abs())
        .fold(0.0, f64::max)
}
