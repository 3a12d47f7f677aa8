//! Many threads calling every routine at once.
//!
//! The packing buffers are thread-local and taken out of their slot for the duration of a
//! call, rayon workers run other jobs while they wait, and several OS threads share the global
//! pool: these tests look for any state shared by mistake. Eight OS threads call every public
//! routine (and `Linear`) repeatedly, each on shapes of its own (large ones that go parallel,
//! m·n·k ≥ 128·128·64, a depth-split one and small ones) and on one set of operands and
//! `PackedWeights` shared by all, alternating `Parallelism::Sequential` and
//! `Parallelism::Current`, on the global pool or inside a pool shared by some of the threads.
//! Every result must be bit-for-bit the one computed beforehand by a single thread with
//! `Sequential`, which is itself checked against the f64 reference. A second test makes the
//! calls from inside rayon tasks, so that calls nest on the same worker threads.

mod common;

use std::sync::Barrier;

use common::{assert_close_slice, bits, ref_col_sums, ref_matmul, Float, Rng};
use lingrad::linear::{self, Grads, PackedWeights};
use lingrad::{matmul, Accum, Linear, MatMut, MatRef, Parallelism};

const THREADS: usize = 8;

/// Rounds of calls per thread.
const ITERS: usize = if cfg!(debug_assertions) { 1 } else { 20 };

/// `(batch, in_features, out_features)`: per thread, one shape large enough to go parallel in
/// at least one of its products and one small one.
const SHAPES: [[(usize, usize, usize); 2]; THREADS] = [
    [(128, 64, 128), (1, 1, 1)],
    [(5, 470, 460), (7, 33, 5)],
    [(300, 130, 64), (2, 3, 4)],
    [(97, 211, 67), (13, 17, 19)],
    [(4100, 7, 33), (33, 7, 1)], // dW split along the batch
    [(64, 256, 96), (24, 25, 26)],
    [(200, 100, 80), (1, 600, 7)],
    [(1, 1031, 1033), (65, 3, 65)],
];

/// The operands shared by every thread.
const SHARED: (usize, usize, usize) = (33, 300, 200);

/// One set of operands, its packed weights and layer, and the results every routine must
/// reproduce.
struct Work<T> {
    shape: (usize, usize, usize),
    x: Vec<T>,
    w: Vec<T>,
    bias: Vec<T>,
    dy: Vec<T>,
    y0: Vec<T>,
    dx0: Vec<T>,
    dw0: Vec<T>,
    db0: Vec<T>,
    packed: PackedWeights<T>,
    layer: Linear<T>,
    /// The bits of every output of [`run_all`], computed with `Sequential` on one thread.
    expected: Vec<Vec<u64>>,
}

impl<T: Float> Work<T> {
    fn new(rng: &mut Rng, shape: (usize, usize, usize)) -> Self {
        let (m, k, n) = shape;
        let w: Vec<T> = rng.vec(k * n);
        let packed = PackedWeights::new(MatRef::new(&w, k, n).unwrap()).unwrap();
        let mut work = Self {
            shape,
            x: rng.vec(m * k),
            w,
            bias: rng.vec(n),
            dy: rng.vec(m * n),
            y0: rng.vec(m * n),
            dx0: rng.vec(m * k),
            dw0: rng.vec(k * n),
            db0: rng.vec(n),
            packed,
            layer: Linear::new(k, n, rng.next_u64()).unwrap(),
            expected: Vec::new(),
        };
        let outputs = run_all(&work, Parallelism::Sequential);
        work.check_reference(&outputs);
        work.expected = outputs.iter().map(|o| bits(o)).collect();
        work
    }

    /// Checks the outputs of [`run_all`] against the f64 reference.
    fn check_reference(&self, out: &[Vec<T>]) {
        let (m, k, n) = self.shape;
        let ctx = format!("{:?} {}", self.shape, T::NAME);
        let f64s = |v: &[T]| v.iter().map(|x| x.to_f64()).collect::<Vec<_>>();
        let x = MatRef::new(&self.x, m, k).unwrap();
        let w = MatRef::new(&self.w, k, n).unwrap();
        let dy = MatRef::new(&self.dy, m, n).unwrap();
        let xw = ref_matmul(x, w);
        let xw_b = xw.clone().add_row_vector(&self.bias);
        let dx = ref_matmul(dy, w.t());
        let dw = ref_matmul(x.t(), dy);
        let db = ref_col_sums(dy);
        let dw_add = dw.clone().add_matrix(&f64s(&self.dw0));
        let db_add = db.clone().add_matrix(&f64s(&self.db0));
        let lw = self.layer.weight().value();
        let lb = self.layer.bias().value_slice();
        let wants = [
            xw.clone(),
            xw.add_matrix(&f64s(&self.y0)),
            xw_b.clone(),
            xw_b.clone().add_matrix(&f64s(&self.y0)),
            xw_b,
            dx.clone(),
            dx.clone().add_matrix(&f64s(&self.dx0)),
            dw.clone(),
            db.clone(),
            dw_add.clone(),
            db_add.clone(),
            db_add,
            dx,
            dw_add,
            db.clone(),
            ref_matmul(x, lw).add_row_vector(lb),
            dw,
            db,
            ref_matmul(dy, lw.t()),
        ];
        assert_eq!(wants.len(), out.len());
        for (i, (got, want)) in out.iter().zip(&wants).enumerate() {
            assert_close_slice(got, want, &format!("{ctx}: output {i} of run_all"));
        }
    }
}

/// Runs every public routine (and a `Linear` step) on `work` and returns every output, in a
/// fixed order.
fn run_all<T: Float>(work: &Work<T>, par: Parallelism) -> Vec<Vec<T>> {
    let (m, k, n) = work.shape;
    let x = MatRef::new(&work.x, m, k).unwrap();
    let w = MatRef::new(&work.w, k, n).unwrap();
    let dy = MatRef::new(&work.dy, m, n).unwrap();
    let bias = Some(&work.bias[..]);
    let nan = |len: usize| vec![T::NAN; len];
    let mut out = Vec::new();

    for accum in [Accum::Overwrite, Accum::Add] {
        let mut c = match accum {
            Accum::Overwrite => nan(m * n),
            Accum::Add => work.y0.clone(),
        };
        matmul(x, w, MatMut::new(&mut c, m, n).unwrap(), accum, par).unwrap();
        out.push(c);
    }

    let mut y = nan(m * n);
    linear::forward(x, w, bias, MatMut::new(&mut y, m, n).unwrap(), par).unwrap();
    out.push(y);

    let mut y = work.y0.clone();
    let y_view = MatMut::new(&mut y, m, n).unwrap();
    linear::forward_accum(x, w, bias, y_view, Accum::Add, par).unwrap();
    out.push(y);

    let mut y = nan(m * n);
    let y_view = MatMut::new(&mut y, m, n).unwrap();
    linear::forward_packed(x, &work.packed, bias, y_view, par).unwrap();
    out.push(y);

    let mut dx = nan(m * k);
    linear::grad_input(
        dy,
        w,
        MatMut::new(&mut dx, m, k).unwrap(),
        Accum::Overwrite,
        par,
    )
    .unwrap();
    out.push(dx);

    let mut dx = work.dx0.clone();
    let dx_view = MatMut::new(&mut dx, m, k).unwrap();
    linear::grad_input_packed(dy, &work.packed, dx_view, Accum::Add, par).unwrap();
    out.push(dx);

    for accum in [Accum::Overwrite, Accum::Add] {
        let (mut dw, mut db) = match accum {
            Accum::Overwrite => (nan(k * n), nan(n)),
            Accum::Add => (work.dw0.clone(), work.db0.clone()),
        };
        let dw_view = MatMut::new(&mut dw, k, n).unwrap();
        linear::grad_weight(x, dy, dw_view, Some(&mut db), accum, par).unwrap();
        out.push(dw);
        out.push(db);
    }

    let mut db = work.db0.clone();
    linear::grad_bias(dy, &mut db, Accum::Add).unwrap();
    out.push(db);

    let mut dx = nan(m * k);
    let mut dw = work.dw0.clone();
    let mut db = nan(n);
    let grads = Grads::new()
        .dx(MatMut::new(&mut dx, m, k).unwrap(), Accum::Overwrite)
        .dw(MatMut::new(&mut dw, k, n).unwrap(), Accum::Add)
        .db(&mut db, Accum::Overwrite);
    linear::backward(x, w, dy, grads, par).unwrap();
    out.extend([dx, dw, db]);

    let mut layer = work.layer.clone();
    let mut y = nan(m * n);
    layer
        .forward(x, MatMut::new(&mut y, m, n).unwrap(), par)
        .unwrap();
    let mut dx = nan(m * k);
    let dx_view = MatMut::new(&mut dx, m, k).unwrap();
    layer.backward(x, dy, Some(dx_view), par).unwrap();
    out.extend([
        y,
        layer.weight().grad_slice().to_vec(),
        layer.bias().grad_slice().to_vec(),
        dx,
    ]);
    out
}

/// Runs every routine on `work` and panics unless every output has the expected bits.
fn check<T: Float>(work: &Work<T>, par: Parallelism, ctx: &str) {
    let out = run_all(work, par);
    assert_eq!(out.len(), work.expected.len());
    for (i, (got, want)) in out.iter().zip(&work.expected).enumerate() {
        assert!(
            bits(got) == *want,
            "{ctx}: {:?} {} {par:?}: output {i} of run_all differs from the single-threaded \
             result",
            work.shape,
            T::NAME
        );
    }
}

/// The work of one thread (its own shapes, then the shared operands), in both types.
struct ThreadWork<'a> {
    own32: Vec<Work<f32>>,
    own64: Vec<Work<f64>>,
    shared32: &'a Work<f32>,
    shared64: &'a Work<f64>,
}

impl ThreadWork<'_> {
    fn check_all(&self, par: Parallelism, ctx: &str) {
        for work in self.own32.iter().chain([self.shared32]) {
            check(work, par, ctx);
        }
        for work in self.own64.iter().chain([self.shared64]) {
            check(work, par, ctx);
        }
    }
}

#[test]
fn eight_threads_calling_every_routine_at_once() {
    common::note_engine();
    let mut rng = Rng::new(0xC0C0);
    let shared32 = Work::<f32>::new(&mut rng, SHARED);
    let shared64 = Work::<f64>::new(&mut rng, SHARED);
    let threads: Vec<ThreadWork<'_>> = SHAPES
        .iter()
        .map(|shapes| ThreadWork {
            own32: shapes.iter().map(|&s| Work::new(&mut rng, s)).collect(),
            own64: shapes.iter().map(|&s| Work::new(&mut rng, s)).collect(),
            shared32: &shared32,
            shared64: &shared64,
        })
        .collect();
    // A pool shared by every fourth thread, next to the global one.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(3)
        .build()
        .unwrap();
    let start = Barrier::new(THREADS);
    std::thread::scope(|s| {
        for (t, work) in threads.iter().enumerate() {
            let (pool, start) = (&pool, &start);
            s.spawn(move || {
                start.wait();
                for iter in 0..ITERS {
                    let par = if (iter + t) % 2 == 0 {
                        Parallelism::Current
                    } else {
                        Parallelism::Sequential
                    };
                    let ctx = format!("thread {t}, round {iter}");
                    if t % 4 == 3 {
                        pool.install(|| work.check_all(par, &ctx));
                    } else {
                        work.check_all(par, &ctx);
                    }
                }
            });
        }
    });
}

#[test]
fn calls_nested_in_rayon_tasks() {
    use rayon::prelude::*;
    common::note_engine();
    let mut rng = Rng::new(0xC0C1);
    // Shapes that go parallel, so that a worker waiting inside a call (holding its packing
    // buffers) picks up another task, which calls again on the same thread.
    let shapes = [(128, 64, 128), (300, 130, 64), (5, 470, 460), (4100, 7, 33)];
    let works32: Vec<Work<f32>> = shapes.iter().map(|&s| Work::new(&mut rng, s)).collect();
    let works64: Vec<Work<f64>> = shapes.iter().map(|&s| Work::new(&mut rng, s)).collect();
    let tasks = if cfg!(debug_assertions) { 4 } else { 64 };
    // More workers than cores, so that waiting workers steal often.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(8)
        .build()
        .unwrap();
    pool.install(|| {
        (0..tasks).into_par_iter().for_each(|task| {
            let ctx = format!("rayon task {task}");
            let i = task % shapes.len();
            check(&works32[i], Parallelism::Current, &ctx);
            check(&works64[(i + 1) % shapes.len()], Parallelism::Current, &ctx);
        });
    });
}
