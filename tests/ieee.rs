//! IEEE 754 behaviour of every public routine (`matmul`, `linear::forward`,
//! `linear::forward_accum`, `linear::grad_input`, `linear::grad_weight` with `db`,
//! `linear::grad_bias`, `linear::backward`, `linear::forward_packed` and
//! `linear::grad_input_packed`), in `f32` and `f64`, on shapes that reach the SIMD kernels,
//! partial edge tiles, several depth blocks, the parallel path and the depth split.
//!
//! What is guaranteed, and checked here:
//!
//! - **`Accum::Overwrite` never reads the output.** An output pre-filled with NaN, +Inf or
//!   -Inf ends up bit-for-bit equal to one pre-filled with zeros.
//! - **NaN and infinities propagate as IEEE arithmetic says.** Each output element is a sum of
//!   products (plus the bias, plus the old value under `Accum::Add`). It is NaN exactly when a
//!   term is NaN (NaN·0 included), a product is Inf·0, or terms of +Inf and -Inf meet; it is
//!   ±Inf exactly when some term is ±Inf (or overflows, see below) and none of the former
//!   happens; otherwise it is finite and within the usual error bound of an f64 reference.
//!   The order of the sum cannot change any of this, so the classification (finite / NaN /
//!   +Inf / -Inf) must match an f64 reference element by element.
//! - **Overflow.** A product whose exact value lies beyond the type's range becomes an
//!   infinity of its sign (with or without a fused multiply-add), and a sum of same-signed
//!   terms that exceeds the range overflows to that infinity. Test data keep every product and
//!   every partial sum either well inside the range (at most half of `MAX`) or well outside it
//!   (at least twice `MAX`), where no summation order can change the outcome; the reference
//!   panics on data in between.
//! - **Gradual underflow.** Subnormal inputs and subnormal results are computed, not flushed
//!   to zero: every finite result is within `4·(d + 2)·eps·Σ|terms| + 2·(d + 2)·min_subnormal`
//!   of the reference, for a sum of `d` terms. The absolute part allows each rounding of a
//!   subnormal partial sum (or of an underflowing product, without a fused multiply-add) its
//!   half unit; flushing would miss the reference by far more.

mod common;

use std::collections::HashMap;

use common::{bits, Float, KahanSum, Rng};
use lingrad::linear::{self, Grads, PackedWeights};
use lingrad::{matmul, Accum, MatMut, MatRef, Parallelism};

/// The element types, with the constants of their formats as f64.
trait Ieee: Float {
    /// Largest finite value.
    const MAX: f64;
    /// Smallest positive normal value.
    const MIN_POSITIVE: f64;
    /// Smallest positive subnormal value.
    const MIN_SUBNORMAL: f64;
    /// `MAX < 2^MAX_EXP`.
    const MAX_EXP: i32;
    const INF: Self;
}

impl Ieee for f32 {
    const MAX: f64 = f32::MAX as f64;
    const MIN_POSITIVE: f64 = f32::MIN_POSITIVE as f64;
    const MIN_SUBNORMAL: f64 = f32::from_bits(1) as f64; // 2^-149
    const MAX_EXP: i32 = f32::MAX_EXP;
    const INF: Self = f32::INFINITY;
}

impl Ieee for f64 {
    const MAX: f64 = f64::MAX;
    const MIN_POSITIVE: f64 = f64::MIN_POSITIVE;
    const MIN_SUBNORMAL: f64 = f64::from_bits(1); // 2^-1074
    const MAX_EXP: i32 = f64::MAX_EXP;
    const INF: Self = f64::INFINITY;
}

/// `2^e` for a normal f64 exponent.
fn pow2(e: i32) -> f64 {
    assert!((-1022..=1023).contains(&e));
    f64::from_bits(((e + 1023) as u64) << 52)
}

/// Uniform magnitude in `[0.5, 1)` with a random sign: products of two such values lie in
/// `[0.25, 1)`, which keeps scaled products clear of the overflow threshold.
fn half_to_one(rng: &mut Rng) -> f64 {
    let u = rng.signed_unit();
    u.signum() * (0.5 + 0.5 * u.abs())
}

// ---------------------------------------------------------------------------------------------
// The f64 reference
// ---------------------------------------------------------------------------------------------

/// How a value is classified.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Class {
    Finite,
    Nan,
    PosInf,
    NegInf,
}

impl Class {
    const ALL: [Class; 4] = [Class::Finite, Class::Nan, Class::PosInf, Class::NegInf];

    fn of(v: f64) -> Self {
        if v.is_nan() {
            Class::Nan
        } else if v == f64::INFINITY {
            Class::PosInf
        } else if v == f64::NEG_INFINITY {
            Class::NegInf
        } else {
            Class::Finite
        }
    }
}

/// One expected output element.
#[derive(Clone, Copy, Debug)]
struct Want {
    /// The classes IEEE arithmetic allows, one bit per [`Class`] (more than one only where a
    /// fused multiply-add and a separate multiply and add legitimately differ, see
    /// [`Terms::finish`]).
    allowed: u8,
    /// The value (when finite).
    value: f64,
    /// `Σ|terms|`, which rounding errors scale with.
    magnitude: f64,
    /// Number of terms.
    depth: usize,
}

impl Class {
    fn bit(self) -> u8 {
        1 << self as u8
    }
}

impl Want {
    /// The one class allowed, if only one is.
    fn class(&self) -> Option<Class> {
        Class::ALL.into_iter().find(|c| c.bit() == self.allowed)
    }

    fn allows(&self, class: Class) -> bool {
        self.allowed & class.bit() != 0
    }
}

/// Scale applied to the sums that classify overflow, so that they never overflow in f64.
const CLASSIFY_SCALE: f64 = 1.0 / 256.0;

/// The terms of one output element, classified as IEEE arithmetic in `T` would, whatever the
/// order of the sum.
struct Terms<T> {
    nan: bool,
    /// Infinite terms (an infinite operand, or an infinite bias or previous value).
    pos_inf: bool,
    neg_inf: bool,
    /// Products of finite operands beyond the range of `T`.
    pos_overflow: bool,
    neg_overflow: bool,
    /// Scaled sums of the positive and of the negative finite terms' magnitudes.
    pos: f64,
    neg: f64,
    sum: KahanSum,
    magnitude: f64,
    depth: usize,
    _t: core::marker::PhantomData<T>,
}

impl<T: Ieee> Terms<T> {
    fn new() -> Self {
        Self {
            nan: false,
            pos_inf: false,
            neg_inf: false,
            pos_overflow: false,
            neg_overflow: false,
            pos: 0.0,
            neg: 0.0,
            sum: KahanSum::default(),
            magnitude: 0.0,
            depth: 0,
            _t: core::marker::PhantomData,
        }
    }

    /// Adds the product `a·b` of two values of `T`, formed in f64 (exactly for f32 operands;
    /// for f64 an overflowing product is infinite, which `finite_operands` tells apart from an
    /// infinite operand).
    fn add_product(&mut self, a: T, b: T) {
        let (a, b) = (a.to_f64(), b.to_f64());
        self.add(a * b, a.is_finite() && b.is_finite());
    }

    /// Adds a value of `T` (a bias, a previous output, an element of `dy`).
    fn add_value(&mut self, v: T) {
        self.add(v.to_f64(), true);
    }

    fn add(&mut self, t: f64, finite_operands: bool) {
        self.depth += 1;
        if t.is_nan() {
            self.nan = true;
            return;
        }
        if !finite_operands {
            if t > 0.0 {
                self.pos_inf = true;
            } else {
                self.neg_inf = true;
            }
            return;
        }
        // `2 * MAX` is +Inf for f64, where only an infinite product is beyond the range.
        if t.abs() >= 2.0 * T::MAX {
            if t > 0.0 {
                self.pos_overflow = true;
            } else {
                self.neg_overflow = true;
            }
            return;
        }
        assert!(
            t.abs() <= T::MAX / 2.0,
            "test data error: a {} term of {t:e} is too close to the overflow threshold",
            T::NAME
        );
        if t > 0.0 {
            self.pos += t * CLASSIFY_SCALE;
        } else {
            self.neg -= t * CLASSIFY_SCALE;
        }
        self.sum.add(t);
        self.magnitude += t.abs();
    }

    /// The classes IEEE arithmetic allows for the sum, in any order, with or without fused
    /// multiply-adds:
    ///
    /// - a NaN term, Inf·0, or infinite terms of both signs: NaN;
    /// - an infinite term of one sign: that infinity, or NaN if some product of the opposite
    ///   sign overflows (a separate multiply makes it an infinity; a fused multiply-add adds
    ///   the exact, finite product to the infinity and keeps it, unless the overflow came
    ///   first);
    /// - otherwise overflowing products (or finite sums beyond the range) of one sign: that
    ///   infinity; of both signs: any non-finite class (a fused multiply-add keeps whichever
    ///   infinity came first, separate operations give NaN);
    /// - otherwise a finite value.
    fn finish(self) -> Want {
        let lim = T::MAX * CLASSIFY_SCALE;
        // Where the finite terms alone can go.
        let (mut pos_overflow, mut neg_overflow) = (self.pos_overflow, self.neg_overflow);
        if self.pos <= lim / 2.0 && self.neg <= lim / 2.0 {
            // No partial sum can leave the range, whatever the order.
        } else if self.pos >= 2.0 * lim && self.neg <= lim / 2.0 {
            // Partial sums never fall below -MAX/2, and the total exceeds the range.
            pos_overflow = true;
        } else if self.neg >= 2.0 * lim && self.pos <= lim / 2.0 {
            neg_overflow = true;
        } else {
            panic!(
                "test data error: a {} sum (positive terms {:e}, negative terms {:e}) may or \
                 may not overflow depending on its order",
                T::NAME,
                self.pos / CLASSIFY_SCALE,
                self.neg / CLASSIFY_SCALE
            );
        }
        let (nan, pos, neg) = (Class::Nan.bit(), Class::PosInf.bit(), Class::NegInf.bit());
        let allowed = if self.nan || (self.pos_inf && self.neg_inf) {
            nan
        } else if self.pos_inf {
            pos | if neg_overflow { nan } else { 0 }
        } else if self.neg_inf {
            neg | if pos_overflow { nan } else { 0 }
        } else {
            match (pos_overflow, neg_overflow) {
                (false, false) => Class::Finite.bit(),
                (true, false) => pos,
                (false, true) => neg,
                (true, true) => nan | pos | neg,
            }
        };
        Want {
            allowed,
            value: if allowed == Class::Finite.bit() {
                self.sum.value()
            } else {
                f64::NAN
            },
            magnitude: self.magnitude,
            depth: self.depth,
        }
    }
}

/// Reference `c[i, j] = Σ_p a(i, p)·b(p, j) (+ bias[j]) (+ c0[i, j])` for an `m × n` result of
/// depth `k`, row-major.
#[allow(clippy::too_many_arguments)]
fn ref_gemm<T: Ieee>(
    m: usize,
    n: usize,
    k: usize,
    a: impl Fn(usize, usize) -> T,
    b: impl Fn(usize, usize) -> T,
    bias: Option<&[T]>,
    c0: Option<&[T]>,
) -> Vec<Want> {
    let mut out = Vec::with_capacity(m * n);
    for i in 0..m {
        for j in 0..n {
            let mut t = Terms::<T>::new();
            for p in 0..k {
                t.add_product(a(i, p), b(p, j));
            }
            if let Some(bias) = bias {
                t.add_value(bias[j]);
            }
            if let Some(c0) = c0 {
                t.add_value(c0[i * n + j]);
            }
            out.push(t.finish());
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// One problem: the operands of a layer and the previous contents of every output
// ---------------------------------------------------------------------------------------------

/// The operands of one linear layer (`batch m`, `in k`, `out n`), all row-major, and the
/// previous contents of each output for `Accum::Add`.
#[derive(Clone, Debug)]
struct Problem<T> {
    m: usize,
    k: usize,
    n: usize,
    x: Vec<T>,
    w: Vec<T>,
    bias: Vec<T>,
    dy: Vec<T>,
    y0: Vec<T>,
    dx0: Vec<T>,
    dw0: Vec<T>,
    db0: Vec<T>,
}

impl<T: Ieee> Problem<T> {
    fn random(rng: &mut Rng, (m, k, n): (usize, usize, usize)) -> Self {
        Self {
            m,
            k,
            n,
            x: rng.vec(m * k),
            w: rng.vec(k * n),
            bias: rng.vec(n),
            dy: rng.vec(m * n),
            y0: rng.vec(m * n),
            dx0: rng.vec(m * k),
            dw0: rng.vec(k * n),
            db0: rng.vec(n),
        }
    }

    /// The reference for one output.
    fn want(&self, which: Which, accum: Accum) -> Vec<Want> {
        let (m, k, n) = (self.m, self.k, self.n);
        let add = accum == Accum::Add;
        let (x, w, dy) = (&self.x, &self.w, &self.dy);
        match which {
            Which::Y | Which::YNoBias => ref_gemm::<T>(
                m,
                n,
                k,
                |i, p| x[i * k + p],
                |p, j| w[p * n + j],
                (which == Which::Y).then_some(&self.bias[..]),
                add.then_some(&self.y0[..]),
            ),
            Which::Dx => ref_gemm::<T>(
                m,
                k,
                n,
                |i, q| dy[i * n + q],
                |q, p| w[p * n + q],
                None,
                add.then_some(&self.dx0[..]),
            ),
            Which::Dw => ref_gemm::<T>(
                k,
                n,
                m,
                |p, i| x[i * k + p],
                |i, j| dy[i * n + j],
                None,
                add.then_some(&self.dw0[..]),
            ),
            Which::Db => (0..n)
                .map(|j| {
                    let mut t = Terms::<T>::new();
                    for i in 0..m {
                        t.add_value(dy[i * n + j]);
                    }
                    if add {
                        t.add_value(self.db0[j]);
                    }
                    t.finish()
                })
                .collect(),
        }
    }

    /// `(rows, cols)` of an output.
    fn out_shape(&self, which: Which) -> (usize, usize) {
        match which {
            Which::Y | Which::YNoBias => (self.m, self.n),
            Which::Dx => (self.m, self.k),
            Which::Dw => (self.k, self.n),
            Which::Db => (1, self.n),
        }
    }
}

/// A buffer of a [`Problem`].
#[derive(Clone, Copy, Debug)]
enum Buf {
    X,
    W,
    Bias,
    Dy,
    Y0,
    Dx0,
    Dw0,
    Db0,
}

impl<T> Problem<T> {
    fn buf_mut(&mut self, b: Buf) -> &mut Vec<T> {
        match b {
            Buf::X => &mut self.x,
            Buf::W => &mut self.w,
            Buf::Bias => &mut self.bias,
            Buf::Dy => &mut self.dy,
            Buf::Y0 => &mut self.y0,
            Buf::Dx0 => &mut self.dx0,
            Buf::Dw0 => &mut self.dw0,
            Buf::Db0 => &mut self.db0,
        }
    }
}

/// An output of a routine, by what it holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Which {
    /// `x·W + bias`.
    Y,
    /// `x·W`.
    YNoBias,
    /// `dy·Wᵀ`.
    Dx,
    /// `xᵀ·dy`.
    Dw,
    /// `Σ_rows dy`.
    Db,
}

impl Which {
    const ALL: [Which; 5] = [Which::Y, Which::YNoBias, Which::Dx, Which::Dw, Which::Db];
}

/// Every public routine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    /// `matmul(x, w)`.
    Matmul,
    /// `forward` (always overwrites).
    Forward,
    ForwardAccum,
    /// `forward_packed` (always overwrites).
    ForwardPacked,
    GradInput,
    GradInputPacked,
    /// `grad_weight` with `db`.
    GradWeight,
    GradBias,
    /// `backward` with all three gradients.
    Backward,
}

impl Op {
    const ALL: [Op; 9] = [
        Op::Matmul,
        Op::Forward,
        Op::ForwardAccum,
        Op::ForwardPacked,
        Op::GradInput,
        Op::GradInputPacked,
        Op::GradWeight,
        Op::GradBias,
        Op::Backward,
    ];
}

/// What the outputs hold before a call.
#[derive(Clone, Copy, Debug)]
enum Init<T> {
    /// Every element this value, outputs overwritten (`Accum::Overwrite`).
    Fill(T),
    /// The problem's previous contents, added into (`Accum::Add`; `forward` and
    /// `forward_packed` still overwrite).
    Prev,
}

/// One output after a call, with what it should hold.
struct Output<T> {
    which: Which,
    accum: Accum,
    data: Vec<T>,
}

/// Runs `op` on `p` and returns its outputs.
fn run<T: Ieee>(op: Op, p: &Problem<T>, init: Init<T>, par: Parallelism) -> Vec<Output<T>> {
    let (m, k, n) = (p.m, p.k, p.n);
    let accum = match init {
        Init::Fill(_) => Accum::Overwrite,
        Init::Prev => Accum::Add,
    };
    let start = |prev: &[T]| match init {
        Init::Fill(v) => vec![v; prev.len()],
        Init::Prev => prev.to_vec(),
    };
    let x = MatRef::new(&p.x, m, k).unwrap();
    let w = MatRef::new(&p.w, k, n).unwrap();
    let dy = MatRef::new(&p.dy, m, n).unwrap();
    let bias = Some(&p.bias[..]);
    let out = |which, accum, data| Output { which, accum, data };
    match op {
        Op::Matmul => {
            let mut y = start(&p.y0);
            matmul(x, w, MatMut::new(&mut y, m, n).unwrap(), accum, par).unwrap();
            vec![out(Which::YNoBias, accum, y)]
        }
        Op::Forward => {
            let mut y = start(&p.y0);
            linear::forward(x, w, bias, MatMut::new(&mut y, m, n).unwrap(), par).unwrap();
            vec![out(Which::Y, Accum::Overwrite, y)]
        }
        Op::ForwardAccum => {
            let mut y = start(&p.y0);
            let y_view = MatMut::new(&mut y, m, n).unwrap();
            linear::forward_accum(x, w, bias, y_view, accum, par).unwrap();
            vec![out(Which::Y, accum, y)]
        }
        Op::ForwardPacked => {
            let packed = PackedWeights::new(w).unwrap();
            let mut y = start(&p.y0);
            let y_view = MatMut::new(&mut y, m, n).unwrap();
            linear::forward_packed(x, &packed, bias, y_view, par).unwrap();
            vec![out(Which::Y, Accum::Overwrite, y)]
        }
        Op::GradInput => {
            let mut dx = start(&p.dx0);
            let dx_view = MatMut::new(&mut dx, m, k).unwrap();
            linear::grad_input(dy, w, dx_view, accum, par).unwrap();
            vec![out(Which::Dx, accum, dx)]
        }
        Op::GradInputPacked => {
            let packed = PackedWeights::new(w).unwrap();
            let mut dx = start(&p.dx0);
            let dx_view = MatMut::new(&mut dx, m, k).unwrap();
            linear::grad_input_packed(dy, &packed, dx_view, accum, par).unwrap();
            vec![out(Which::Dx, accum, dx)]
        }
        Op::GradWeight => {
            let mut dw = start(&p.dw0);
            let mut db = start(&p.db0);
            let dw_view = MatMut::new(&mut dw, k, n).unwrap();
            linear::grad_weight(x, dy, dw_view, Some(&mut db), accum, par).unwrap();
            vec![out(Which::Dw, accum, dw), out(Which::Db, accum, db)]
        }
        Op::GradBias => {
            let mut db = start(&p.db0);
            linear::grad_bias(dy, &mut db, accum).unwrap();
            vec![out(Which::Db, accum, db)]
        }
        Op::Backward => {
            let mut dx = start(&p.dx0);
            let mut dw = start(&p.dw0);
            let mut db = start(&p.db0);
            let grads = Grads::new()
                .dx(MatMut::new(&mut dx, m, k).unwrap(), accum)
                .dw(MatMut::new(&mut dw, k, n).unwrap(), accum)
                .db(&mut db, accum);
            linear::backward(x, w, dy, grads, par).unwrap();
            vec![
                out(Which::Dx, accum, dx),
                out(Which::Dw, accum, dw),
                out(Which::Db, accum, db),
            ]
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Comparison
// ---------------------------------------------------------------------------------------------

/// Largest error allowed for a finite result (see the module documentation).
fn tolerance<T: Ieee>(w: &Want) -> f64 {
    let d = w.depth as f64 + 2.0;
    4.0 * d * T::EPS * w.magnitude + 2.0 * d * T::MIN_SUBNORMAL
}

/// Counts of expected classes per output, to check that a scenario exercised what it is meant
/// to.
#[derive(Default)]
struct Stats {
    counts: HashMap<(Which, Class), usize>,
    /// Finite expected values below the smallest normal (nonzero).
    subnormal: HashMap<Which, usize>,
    /// Finite expected values far above the error bound (a flushed result would miss them).
    well_above_bound: HashMap<Which, usize>,
    finite: HashMap<Which, usize>,
    /// Elements for which IEEE arithmetic allows more than one class.
    ambiguous: HashMap<Which, usize>,
}

impl Stats {
    fn count(&self, which: Which, class: Class) -> usize {
        self.counts.get(&(which, class)).copied().unwrap_or(0)
    }
}

/// Panics (naming `ctx` and the first bad element) unless `got` has the expected class
/// everywhere and is within the tolerance wherever it is finite.
fn compare<T: Ieee>(got: &[T], want: &[Want], cols: usize, ctx: &str) {
    assert_eq!(got.len(), want.len(), "{ctx}: wrong number of elements");
    for (idx, (&g, w)) in got.iter().zip(want).enumerate() {
        let g = g.to_f64();
        let (i, j) = (idx / cols, idx % cols);
        let class = Class::of(g);
        assert!(
            w.allows(class),
            "{ctx} ({}): element ({i}, {j}) is {g:e}, the reference allows only {:?}",
            T::NAME,
            Class::ALL
                .iter()
                .filter(|c| w.allows(**c))
                .collect::<Vec<_>>()
        );
        if class == Class::Finite {
            let err = (g - w.value).abs();
            let tol = tolerance::<T>(w);
            assert!(
                err <= tol,
                "{ctx} ({}): element ({i}, {j}) is {g:e}, reference {:e}, error {err:e} > \
                 tolerance {tol:e}",
                T::NAME,
                w.value
            );
        }
    }
}

/// The references of one problem, computed once per output and mode.
struct References<'a, T> {
    p: &'a Problem<T>,
    cache: HashMap<(Which, Accum), Vec<Want>>,
}

impl<'a, T: Ieee> References<'a, T> {
    fn new(p: &'a Problem<T>) -> Self {
        Self {
            p,
            cache: HashMap::new(),
        }
    }

    fn get(&mut self, which: Which, accum: Accum) -> &[Want] {
        let p = self.p;
        self.cache
            .entry((which, accum))
            .or_insert_with(|| p.want(which, accum))
    }
}

/// Runs every routine on `p` from `init` and checks every output against the reference;
/// records the expected classes in `stats`.
fn check_all<T: Ieee>(
    p: &Problem<T>,
    refs: &mut References<'_, T>,
    init: Init<T>,
    par: Parallelism,
    ctx: &str,
    stats: &mut Stats,
) {
    let mut seen = Vec::new();
    for op in Op::ALL {
        for o in run(op, p, init, par) {
            let (_, cols) = p.out_shape(o.which);
            let want = refs.get(o.which, o.accum);
            let ctx = format!(
                "{ctx}: {op:?} ({}x{}x{}) {:?} {:?} {par:?}",
                p.m, p.k, p.n, o.which, o.accum
            );
            compare(&o.data, want, cols, &ctx);
            if !seen.contains(&(o.which, o.accum)) {
                seen.push((o.which, o.accum));
            }
        }
    }
    // Each reference checked above, once.
    for (which, accum) in seen {
        for w in refs.get(which, accum) {
            let Some(class) = w.class() else {
                *stats.ambiguous.entry(which).or_default() += 1;
                continue;
            };
            *stats.counts.entry((which, class)).or_default() += 1;
            if class == Class::Finite {
                *stats.finite.entry(which).or_default() += 1;
                if w.value != 0.0 && w.value.abs() < T::MIN_POSITIVE {
                    *stats.subnormal.entry(which).or_default() += 1;
                }
                if w.value.abs() > 4.0 * tolerance::<T>(w) {
                    *stats.well_above_bound.entry(which).or_default() += 1;
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Shapes and scenarios
// ---------------------------------------------------------------------------------------------

/// `(batch m, in k, out n)`. Every routine sees each shape in its own role: `y` is m×n of
/// depth k, `dx` m×k of depth n, `dW` k×n of depth m.
const SHAPES: [(usize, usize, usize); 10] = [
    (1, 1, 1),
    (7, 600, 33),   // y: three depth blocks; dW: 600 rows, depth 7
    (33, 7, 300),   // dx: depth 300 (two blocks); y: columns in place
    (300, 33, 7),   // dW: depth 300; y: many row blocks, one partial column panel
    (600, 300, 1),  // one output column; dx: depth 1
    (1, 300, 600),  // one row; dW: depth 1
    (300, 7, 300),  // both operands packed, several row blocks
    (128, 64, 128), // at the parallel threshold in every role
    (4100, 7, 33),  // dW: split along the batch
    (7, 4100, 33),  // y: split along the depth
];

/// Whether a shape is among the cheaper ones (up to about 0.7 M multiply-adds per product),
/// which the more specialised tests restrict themselves to; the parallel and depth-split
/// shapes are left to the overwrite, scattered-specials and overflow tests.
fn cheap((m, k, n): (usize, usize, usize)) -> bool {
    m * k * n <= 700_000
}

/// The shapes a test runs on: all of them in release builds, the cheaper ones in debug.
fn shapes() -> Vec<(usize, usize, usize)> {
    SHAPES
        .iter()
        .copied()
        .filter(|&(m, k, n)| !cfg!(debug_assertions) || m * k * n <= 200_000)
        .collect()
}

/// Random positions of a `len`-element buffer.
fn positions(rng: &mut Rng, len: usize, count: usize) -> Vec<usize> {
    (0..count).map(|_| rng.range(0, len - 1)).collect()
}

/// Runs `scenario` (which turns a random problem into the one to test) on every shape, in `T`,
/// from each of `inits`, and returns the expected-class counts.
fn scenario<T: Ieee>(
    seed: u64,
    inits: &[Init<T>],
    shape_ok: impl Fn((usize, usize, usize)) -> bool,
    make: impl Fn(&mut Problem<T>, &mut Rng),
) -> Stats {
    common::note_engine();
    let mut rng = Rng::new(seed);
    let mut stats = Stats::default();
    for (case, shape) in shapes().into_iter().enumerate() {
        if !shape_ok(shape) {
            continue;
        }
        let mut p = Problem::<T>::random(&mut rng, shape);
        make(&mut p, &mut rng);
        let mut refs = References::new(&p);
        for &init in inits {
            // Alternate the two modes over the shapes.
            let par = if case % 2 == 0 {
                Parallelism::Current
            } else {
                Parallelism::Sequential
            };
            check_all(
                &p,
                &mut refs,
                init,
                par,
                &format!("seed {seed:#x}"),
                &mut stats,
            );
        }
    }
    stats
}

/// Asserts that `which` had at least one expected element of each of `classes` over the
/// scenario.
fn assert_seen(stats: &Stats, which: Which, classes: &[Class], what: &str) {
    for &class in classes {
        assert!(
            stats.count(which, class) > 0,
            "{what}: no {which:?} element was expected to be {class:?}; the scenario does not \
             test what it should"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Accum::Overwrite never reads the output
// ---------------------------------------------------------------------------------------------

fn overwrite_case<T: Ieee>(seed: u64) {
    common::note_engine();
    let mut rng = Rng::new(seed);
    for (case, shape) in shapes().into_iter().enumerate() {
        let p = Problem::<T>::random(&mut rng, shape);
        let mut refs = References::new(&p);
        let par = if case % 2 == 0 {
            Parallelism::Current
        } else {
            Parallelism::Sequential
        };
        for op in Op::ALL {
            let zero = run(op, &p, Init::Fill(T::ZERO), par);
            // The zero-filled result is the right one...
            for o in &zero {
                let (_, cols) = p.out_shape(o.which);
                let ctx = format!("{op:?} {shape:?} {:?} zero-filled", o.which);
                compare(&o.data, refs.get(o.which, Accum::Overwrite), cols, &ctx);
            }
            // ...and any other previous content gives exactly the same bits.
            for fill in [T::NAN, T::INF, T::ZERO - T::INF, T::from_f64(-0.0)] {
                let other = run(op, &p, Init::Fill(fill), par);
                for (a, b) in zero.iter().zip(&other) {
                    assert_eq!(
                        bits(&a.data),
                        bits(&b.data),
                        "{op:?} {shape:?} {par:?} ({}): {:?} pre-filled with {fill:?} differs \
                         from the zero-filled result",
                        T::NAME,
                        b.which
                    );
                }
            }
        }
    }
}

#[test]
fn overwrite_ignores_nan_and_inf_in_the_output_f32() {
    overwrite_case::<f32>(0x1EEE_0001);
}

#[test]
fn overwrite_ignores_nan_and_inf_in_the_output_f64() {
    overwrite_case::<f64>(0x1EEE_0002);
}

// ---------------------------------------------------------------------------------------------
// NaN and infinities in the inputs
// ---------------------------------------------------------------------------------------------

/// Which input a special value goes to.
#[derive(Clone, Copy, Debug)]
enum Input {
    X,
    W,
    Bias,
    Dy,
}

/// One NaN in one input at a time: the reference must agree with the hand-derived rows and
/// columns (NaN·0 is NaN too, so a NaN poisons its whole row or column), and every routine with
/// the reference.
fn single_nan_case<T: Ieee>(seed: u64) {
    common::note_engine();
    let mut rng = Rng::new(seed);
    for shape in shapes().into_iter().filter(|&s| cheap(s)) {
        for input in [Input::X, Input::W, Input::Bias, Input::Dy] {
            let mut p = Problem::<T>::random(&mut rng, shape);
            let (_, k, n) = shape;
            // A few exact zeros next to the NaN: NaN·0 must still be NaN.
            for v in p.x.iter_mut().chain(&mut p.w).chain(&mut p.dy).step_by(5) {
                *v = T::ZERO;
            }
            let (buf, cols) = match input {
                Input::X => (&mut p.x, k),
                Input::W => (&mut p.w, n),
                Input::Bias => (&mut p.bias, n),
                Input::Dy => (&mut p.dy, n),
            };
            let at = rng.range(0, buf.len() - 1);
            buf[at] = T::NAN;
            let (r, c) = (at / cols, at % cols);
            // Expected NaN positions, from the formulas alone.
            let nan_at = |which: Which, i: usize, j: usize| match (input, which) {
                (Input::X, Which::Y | Which::YNoBias) => i == r,
                (Input::X, Which::Dw) => i == c,
                (Input::W, Which::Y | Which::YNoBias) => j == c,
                (Input::W, Which::Dx) => j == r,
                (Input::Bias, Which::Y) => j == c,
                (Input::Dy, Which::Dx) => i == r,
                (Input::Dy, Which::Dw | Which::Db) => j == c,
                _ => false,
            };
            let mut refs = References::new(&p);
            for which in Which::ALL {
                let (_, cols) = p.out_shape(which);
                for (idx, w) in refs.get(which, Accum::Overwrite).iter().enumerate() {
                    let (i, j) = (idx / cols, idx % cols);
                    let want = if nan_at(which, i, j) {
                        Class::Nan
                    } else {
                        Class::Finite
                    };
                    assert_eq!(
                        w.class(),
                        Some(want),
                        "reference for {which:?} ({i}, {j}) with a NaN in {input:?}"
                    );
                }
            }
            let ctx = format!("one NaN in {input:?} at ({r}, {c})");
            let mut stats = Stats::default();
            check_all(
                &p,
                &mut refs,
                Init::Fill(T::NAN),
                Parallelism::Current,
                &ctx,
                &mut stats,
            );
        }
    }
}

#[test]
fn a_nan_in_any_input_poisons_exactly_its_rows_and_columns_f32() {
    single_nan_case::<f32>(0x1EEE_0101);
}

#[test]
fn a_nan_in_any_input_poisons_exactly_its_rows_and_columns_f64() {
    single_nan_case::<f64>(0x1EEE_0102);
}

/// An infinity in `x` meets zeros in `W` and in `dy` (Inf·0 = NaN), and two infinities of the
/// same sign in one row of `x` meet weights of opposite signs (+Inf + -Inf = NaN).
fn inf_times_zero_case<T: Ieee>(seed: u64) {
    let stats = scenario::<T>(
        seed,
        &[Init::Fill(T::ZERO), Init::Prev],
        |s| cheap(s) && s.1 >= 2,
        |p, rng| {
            let (m, k, n) = (p.m, p.k, p.n);
            let i = rng.range(0, m - 1);
            let p0 = rng.range(0, k - 1);
            let p1 = (p0 + 1 + rng.range(0, k - 2)) % k;
            p.x[i * k + p0] = T::INF;
            p.x[i * k + p1] = T::INF;
            // y[i, j] for j in zeros: Inf·0 in the sum.
            for j in (0..n).step_by(3) {
                p.w[p0 * n + j] = T::ZERO;
            }
            // dW[p0, j] for a zero dy[i, j].
            let j0 = rng.range(0, n - 1);
            p.dy[i * n + j0] = T::ZERO;
            // Hand-derived expectations, checked against the reference below.
            let mut want_nan = Vec::new();
            for j in 0..n {
                let a = p.w[p0 * n + j].to_f64();
                let b = p.w[p1 * n + j].to_f64();
                if a == 0.0 || b == 0.0 || (a > 0.0) != (b > 0.0) {
                    want_nan.push(j);
                }
            }
            let y = p.want(Which::YNoBias, Accum::Overwrite);
            for j in 0..n {
                let class = y[i * n + j].class();
                if want_nan.contains(&j) {
                    assert_eq!(class, Some(Class::Nan), "reference y[{i}, {j}]");
                } else {
                    assert!(
                        matches!(class, Some(Class::PosInf | Class::NegInf)),
                        "reference y[{i}, {j}] is {class:?}"
                    );
                }
            }
            let dw = p.want(Which::Dw, Accum::Overwrite);
            let class = dw[p0 * n + j0].class();
            assert_eq!(class, Some(Class::Nan), "reference dW[{p0}, {j0}]");
        },
    );
    for which in [Which::Y, Which::YNoBias, Which::Dw] {
        let all = [Class::Finite, Class::Nan, Class::PosInf, Class::NegInf];
        assert_seen(&stats, which, &all, "Inf·0");
    }
}

#[test]
fn inf_times_zero_and_opposite_infinities_give_nan_f32() {
    inf_times_zero_case::<f32>(0x1EEE_0201);
}

#[test]
fn inf_times_zero_and_opposite_infinities_give_nan_f64() {
    inf_times_zero_case::<f64>(0x1EEE_0202);
}

/// NaN, +Inf, -Inf and exact zeros scattered over every input (and, under `Accum::Add`, the
/// previous outputs): whatever they meet, the classes match the reference.
fn scattered_case<T: Ieee>(seed: u64) {
    let stats = scenario::<T>(
        seed,
        &[Init::Fill(T::NAN), Init::Prev],
        |_| true,
        |p, rng| {
            let specials = [T::NAN, T::INF, T::ZERO - T::INF];
            let bufs = [
                &mut p.x,
                &mut p.w,
                &mut p.bias,
                &mut p.dy,
                &mut p.y0,
                &mut p.dx0,
                &mut p.dw0,
                &mut p.db0,
            ];
            for buf in bufs {
                let len = buf.len();
                for at in positions(rng, len, len / 30) {
                    buf[at] = T::ZERO;
                }
                for (s, at) in positions(rng, len, 6).into_iter().enumerate() {
                    buf[at] = specials[s % 3];
                }
            }
        },
    );
    for which in [Which::Y, Which::YNoBias, Which::Dx, Which::Dw, Which::Db] {
        assert_seen(&stats, which, &Class::ALL, "scattered specials");
    }
}

#[test]
fn scattered_nan_inf_and_zeros_match_the_reference_f32() {
    scattered_case::<f32>(0x1EEE_0301);
}

#[test]
fn scattered_nan_inf_and_zeros_match_the_reference_f64() {
    scattered_case::<f64>(0x1EEE_0302);
}

/// Finite inputs, NaN and infinities in the outputs accumulated into: each special affects its
/// own element only (Inf + finite = Inf, +Inf + -Inf = NaN with an infinite bias).
fn special_outputs_case<T: Ieee>(seed: u64) {
    let stats = scenario::<T>(seed, &[Init::Prev], cheap, |p, rng| {
        let specials = [T::NAN, T::INF, T::ZERO - T::INF];
        for buf in [&mut p.y0, &mut p.dx0, &mut p.dw0, &mut p.db0] {
            let len = buf.len();
            for (s, at) in positions(rng, len, 9).into_iter().enumerate() {
                buf[at] = specials[s % 3];
            }
        }
        // An infinite bias meets the infinities accumulated into y.
        let n = p.n;
        p.bias[rng.range(0, n - 1)] = T::INF;
        p.bias[rng.range(0, n - 1)] = T::ZERO - T::INF;
    });
    for which in [Which::Y, Which::YNoBias, Which::Dx, Which::Dw, Which::Db] {
        assert_seen(&stats, which, &Class::ALL, "special outputs");
    }
}

#[test]
fn nan_and_inf_in_accumulated_outputs_stay_in_place_f32() {
    special_outputs_case::<f32>(0x1EEE_0401);
}

#[test]
fn nan_and_inf_in_accumulated_outputs_stay_in_place_f64() {
    special_outputs_case::<f64>(0x1EEE_0402);
}

// ---------------------------------------------------------------------------------------------
// Overflow
// ---------------------------------------------------------------------------------------------

/// Huge entries (`2^(25/32·MAX_EXP)`: 1e30 in f32) scattered over `x`, and large ones
/// (`2^(MAX_EXP/4 + 12)`) over `W` and `dy`: where two meet in a product it overflows to an
/// infinity of its sign; everything else stays finite.
///
/// With `coherent` signs (a huge `x[i, p]` has the sign of its row, large weights are
/// positive, a large `dy[i, j]` has its row's sign times its column's) every overflowing
/// product of an element has the same sign and the result is exactly that infinity. With
/// random signs, products overflowing to both signs must give a non-finite result.
fn huge_products_case<T: Ieee>(seed: u64, coherent: bool) {
    let huge = pow2(T::MAX_EXP * 25 / 32);
    let large = pow2(T::MAX_EXP - T::MAX_EXP * 25 / 32 + 12);
    let stats = scenario::<T>(
        seed,
        &[Init::Fill(T::ZERO), Init::Prev],
        |s| coherent || cheap(s),
        |p, rng| {
            let (m, k, n) = (p.m, p.k, p.n);
            let row_sign: Vec<f64> = (0..m).map(|_| rng.signed_unit().signum()).collect();
            let col_sign: Vec<f64> = (0..n).map(|_| rng.signed_unit().signum()).collect();
            let mut scatter =
                |buf: &mut Vec<T>, cols: usize, scale: f64, sign: &dyn Fn(usize, usize) -> f64| {
                    let len = buf.len();
                    for at in positions(rng, len, len.div_ceil(20)) {
                        let v = half_to_one(rng);
                        let v = if coherent {
                            v.abs() * sign(at / cols, at % cols)
                        } else {
                            v
                        };
                        buf[at] = T::from_f64(scale * v);
                    }
                };
            scatter(&mut p.x, k, huge, &|i, _| row_sign[i]);
            scatter(&mut p.w, n, large, &|_, _| 1.0);
            scatter(&mut p.dy, n, large, &|i, j| row_sign[i] * col_sign[j]);
        },
    );
    let what = if coherent {
        "huge products, coherent signs"
    } else {
        "huge products, random signs"
    };
    for which in [Which::Y, Which::YNoBias, Which::Dw] {
        let classes = [Class::Finite, Class::PosInf, Class::NegInf];
        assert_seen(&stats, which, &classes, what);
        let ambiguous = stats.ambiguous.get(&which).copied().unwrap_or(0);
        if coherent {
            assert_eq!(stats.count(which, Class::Nan), 0, "{what}: {which:?}");
            assert_eq!(ambiguous, 0, "{what}: {which:?}");
        } else {
            assert!(
                ambiguous > 0,
                "{what}: no {which:?} overflows to both signs"
            );
        }
    }
    // dx = dy·Wᵀ multiplies two large values at most: finite.
    assert_seen(&stats, Which::Dx, &[Class::Finite], what);
    assert_eq!(
        stats.count(Which::Dx, Class::Finite),
        stats.finite[&Which::Dx]
    );
}

#[test]
fn huge_products_overflow_to_inf_of_their_sign_f32() {
    huge_products_case::<f32>(0x1EEE_0501, true);
}

#[test]
fn huge_products_overflow_to_inf_of_their_sign_f64() {
    huge_products_case::<f64>(0x1EEE_0502, true);
}

#[test]
fn products_overflowing_to_both_signs_are_not_finite_f32() {
    huge_products_case::<f32>(0x1EEE_0503, false);
}

#[test]
fn products_overflowing_to_both_signs_are_not_finite_f64() {
    huge_products_case::<f64>(0x1EEE_0504, false);
}

/// Sums that overflow without any product doing so: the first and last rows of `x` hold
/// values near `MAX/4` of one sign each (positive, negative) and `W` is positive, so those
/// rows of `y` exceed the range (+Inf, -Inf) once the depth is 32 or more; `dW` takes at most
/// two such terms and stays finite.
fn huge_sums_case<T: Ieee>(seed: u64) {
    let big = pow2(T::MAX_EXP - 2);
    let stats = scenario::<T>(
        seed,
        &[Init::Fill(T::ZERO), Init::Prev],
        |s| cheap(s) && s.1 >= 32,
        |p, rng| {
            let (m, k) = (p.m, p.k);
            for v in p.w.iter_mut() {
                *v = T::from_f64(half_to_one(rng).abs());
            }
            for (i, sign) in [(0, 1.0), (m - 1, -1.0)] {
                for v in &mut p.x[i * k..(i + 1) * k] {
                    *v = T::from_f64(sign * big * half_to_one(rng).abs());
                }
            }
        },
    );
    let no_nan = [Class::Finite, Class::PosInf, Class::NegInf];
    assert_seen(&stats, Which::Y, &no_nan, "huge sums");
    assert_eq!(stats.count(Which::Y, Class::Nan), 0);
    assert_seen(&stats, Which::Dw, &[Class::Finite], "huge sums");
    assert_eq!(stats.count(Which::Dw, Class::Nan), 0);
}

#[test]
fn huge_sums_overflow_to_inf_f32() {
    huge_sums_case::<f32>(0x1EEE_0601);
}

#[test]
fn huge_sums_overflow_to_inf_f64() {
    huge_sums_case::<f64>(0x1EEE_0602);
}

// ---------------------------------------------------------------------------------------------
// Underflow
// ---------------------------------------------------------------------------------------------

/// Asserts that the scenario produced many subnormal results in `which`, far enough above the
/// error bound that flushing them to zero would fail.
fn assert_subnormal_results(stats: &Stats, which: Which, what: &str) {
    let finite = stats.finite.get(&which).copied().unwrap_or(0);
    let sub = stats.subnormal.get(&which).copied().unwrap_or(0);
    let above = stats.well_above_bound.get(&which).copied().unwrap_or(0);
    assert!(
        finite > 0 && sub * 2 >= finite && above * 2 >= finite,
        "{what}: {which:?} has {sub} subnormal and {above} clearly nonzero results out of \
         {finite}; the scenario does not test gradual underflow"
    );
}

/// Subnormal inputs (about `MIN_POSITIVE·1e-3`) times normal ones, in `x`, in `dy` and in `W`
/// in turn (with the bias and the previous outputs alongside), so that every output is
/// computed from subnormal terms.
fn subnormal_inputs_case<T: Ieee>(seed: u64) {
    let tiny = T::MIN_POSITIVE * pow2(-10);
    // (what, the buffers made subnormal, the outputs then subnormal)
    let cases: [(&str, &[Buf], &[Which]); 3] = [
        (
            "subnormal x",
            &[Buf::X, Buf::Bias, Buf::Y0, Buf::Dw0],
            &[Which::Y, Which::YNoBias, Which::Dw],
        ),
        (
            "subnormal dy",
            &[Buf::Dy, Buf::Dx0, Buf::Dw0, Buf::Db0],
            &[Which::Dx, Which::Dw, Which::Db],
        ),
        (
            "subnormal W",
            &[Buf::W, Buf::Bias, Buf::Y0, Buf::Dx0],
            &[Which::Y, Which::YNoBias, Which::Dx],
        ),
    ];
    for (case, (what, bufs, outputs)) in cases.into_iter().enumerate() {
        let stats = scenario::<T>(
            seed + case as u64,
            &[Init::Fill(T::NAN), Init::Prev],
            cheap,
            |p, _| {
                for &b in bufs {
                    for v in p.buf_mut(b).iter_mut() {
                        // Magnitudes from tiny/4 to tiny, never rounded to zero.
                        let u = v.to_f64();
                        *v = T::from_f64(u.signum() * tiny * (0.25 + 0.75 * u.abs()));
                        assert!(v.to_f64() != 0.0 && v.to_f64().abs() < T::MIN_POSITIVE);
                    }
                }
            },
        );
        for &which in outputs {
            assert_subnormal_results(&stats, which, what);
        }
    }
}

#[test]
fn subnormal_inputs_are_not_flushed_f32() {
    subnormal_inputs_case::<f32>(0x1EEE_0701);
}

#[test]
fn subnormal_inputs_are_not_flushed_f64() {
    subnormal_inputs_case::<f64>(0x1EEE_0702);
}

/// Normal inputs whose products underflow into the subnormal range (`x`, `W`, `dy` around
/// `√MIN_POSITIVE / 128`, products around `MIN_POSITIVE·2^-14`).
fn underflowing_products_case<T: Ieee>(seed: u64) {
    let e = (T::MIN_POSITIVE.log2() as i32) / 2 - 7;
    let scale = pow2(e);
    let stats = scenario::<T>(seed, &[Init::Fill(T::ZERO)], cheap, |p, _| {
        for buf in [&mut p.x, &mut p.w, &mut p.dy] {
            for v in buf.iter_mut() {
                *v = T::from_f64(v.to_f64() * scale);
                assert!(v.to_f64().abs() >= T::MIN_POSITIVE, "inputs stay normal");
            }
        }
        for v in p.bias.iter_mut() {
            *v = T::from_f64(v.to_f64() * scale * scale);
        }
    });
    for which in [Which::Y, Which::YNoBias, Which::Dx, Which::Dw] {
        assert_subnormal_results(&stats, which, "underflowing products");
    }
}

#[test]
fn products_underflowing_to_subnormals_are_kept_f32() {
    underflowing_products_case::<f32>(0x1EEE_0801);
}

#[test]
fn products_underflowing_to_subnormals_are_kept_f64() {
    underflowing_products_case::<f64>(0x1EEE_0802);
}
