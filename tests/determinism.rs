//! Results are bitwise identical with any number of threads: every routine run with
//! `Parallelism::Sequential` and with `Parallelism::Current` inside rayon pools of 1, 2, 3, 4
//! and 7 threads, on shapes that go parallel (m·n·k ≥ 128·128·64) and split either the rows of
//! C between threads or, when m is small, its column panels.

mod common;

use common::{
    assert_close, assert_close_slice, bits, ref_col_sums, ref_matmul, Float, Layout, Mat, Rng,
};
use lingrad::{linear, matmul, Accum, Parallelism};

const THREADS: [usize; 5] = [1, 2, 3, 4, 7];

/// (m, n, k) for matmul; (batch, in_features, out_features) for the linear routines. Every
/// product is at or above the parallel threshold except the one just below it.
const SHAPES: [(usize, usize, usize); 8] = [
    (300, 130, 64),  // many row blocks, several MC blocks
    (1, 1031, 1033), // one row: column panels split
    (5, 470, 460),
    (13, 300, 300),
    (97, 211, 67),  // odd everything
    (128, 128, 64), // exactly the threshold
    (127, 128, 64), // just below it: sequential either way
    (40, 5, 5300),  // deep and narrow
];

/// Runs `f` with `Sequential`, then with `Current` on the global pool and inside pools of each
/// size in [`THREADS`], and checks that every result equals the first (callers return bit
/// patterns, so NaN padding compares equal to itself).
fn same_bits_everywhere<R: PartialEq + std::fmt::Debug + Send>(
    what: &str,
    f: impl Fn(Parallelism) -> R + Sync,
) -> R {
    let seq = f(Parallelism::Sequential);
    let global = f(Parallelism::Current);
    assert!(global == seq, "{what}: global pool differs from Sequential");
    for t in THREADS {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(t)
            .build()
            .unwrap();
        let par = pool.install(|| f(Parallelism::Current));
        assert!(par == seq, "{what}: {t} threads differ from Sequential");
        if t == 7 {
            // Sequential inside a pool stays on the calling thread and agrees too.
            let seq_in_pool = pool.install(|| f(Parallelism::Sequential));
            assert!(
                seq_in_pool == seq,
                "{what}: Sequential inside a {t}-thread pool differs"
            );
        }
    }
    seq
}

fn matmul_case<T: Float>(rng: &mut Rng, (m, n, k): (usize, usize, usize), case: usize) {
    let lay = Layout::ALL;
    let a = Mat::<T>::random(m, k, lay[case % 5], rng);
    let b = Mat::<T>::random(k, n, lay[(case + 2) % 5], rng);
    let lc = lay[(case + 4) % 5];
    let c_start = Mat::<T>::random(m, n, lc, rng);
    for accum in [Accum::Overwrite, Accum::Add] {
        let what = format!("matmul {m}x{n}x{k} {accum:?} {}", T::NAME);
        let out = same_bits_everywhere(&what, |par| {
            let mut c = c_start.clone();
            matmul(a.view(), b.view(), c.view_mut(), accum, par).unwrap();
            bits(&c.data)
        });
        // The shared result is also the right one.
        let mut c = c_start.clone();
        c.data = out
            .iter()
            .map(|&b| T::from_f64(f64::from_bits(b)))
            .collect();
        let want = ref_matmul(a.view(), b.view()).accumulate(accum, &c_start.to_f64());
        assert_close(&c, &want, &what);
    }
}

#[test]
fn matmul_is_deterministic() {
    common::note_engine();
    let mut rng = Rng::new(0xD1);
    for (case, &shape) in SHAPES.iter().enumerate() {
        matmul_case::<f32>(&mut rng, shape, case);
        matmul_case::<f64>(&mut rng, shape, case + 1);
    }
}

/// Random operands of one linear layer.
struct Layer<T> {
    x: Mat<T>,
    w: Mat<T>,
    bias: Vec<T>,
    dy: Mat<T>,
}

impl<T: Float> Layer<T> {
    fn new(rng: &mut Rng, (batch, inf, outf): (usize, usize, usize)) -> Self {
        Self {
            x: Mat::random(batch, inf, Layout::RowMajor, rng),
            w: Mat::random(inf, outf, Layout::RowMajor, rng),
            bias: rng.vec(outf),
            dy: Mat::random(batch, outf, Layout::RowMajor, rng),
        }
    }
}

fn forward_case<T: Float>(rng: &mut Rng, shape: (usize, usize, usize)) {
    let (batch, _, outf) = shape;
    let l = Layer::<T>::new(rng, shape);
    let what = format!("forward {shape:?} {}", T::NAME);
    let y = same_bits_everywhere(&what, |par| {
        let mut y = Mat::<T>::filled(batch, outf, Layout::RowMajor, T::NAN);
        linear::forward(l.x.view(), l.w.view(), Some(&l.bias), y.view_mut(), par).unwrap();
        bits(&y.data)
    });
    let y: Vec<T> = y.iter().map(|&b| T::from_f64(f64::from_bits(b))).collect();
    let want = ref_matmul(l.x.view(), l.w.view()).add_row_vector(&l.bias);
    assert_close_slice(&y[..batch * outf], &want, &what);
}

#[test]
fn forward_is_deterministic() {
    let mut rng = Rng::new(0xD2);
    for &shape in &SHAPES {
        forward_case::<f32>(&mut rng, shape);
        forward_case::<f64>(&mut rng, shape);
    }
}

fn grad_input_case<T: Float>(rng: &mut Rng, shape: (usize, usize, usize)) {
    let (batch, inf, _) = shape;
    let l = Layer::<T>::new(rng, shape);
    let dx0 = Mat::<T>::random(batch, inf, Layout::RowMajor, rng);
    let what = format!("grad_input {shape:?} {}", T::NAME);
    let dx = same_bits_everywhere(&what, |par| {
        let mut dx = dx0.clone();
        linear::grad_input(l.dy.view(), l.w.view(), dx.view_mut(), Accum::Add, par).unwrap();
        bits(&dx.data)
    });
    let dx: Vec<T> = dx.iter().map(|&b| T::from_f64(f64::from_bits(b))).collect();
    let want = ref_matmul(l.dy.view(), l.w.view().t()).add_matrix(&dx0.to_f64());
    assert_close_slice(&dx[..batch * inf], &want, &what);
}

#[test]
fn grad_input_is_deterministic() {
    let mut rng = Rng::new(0xD3);
    for &shape in &SHAPES {
        grad_input_case::<f32>(&mut rng, shape);
        grad_input_case::<f64>(&mut rng, shape);
    }
}

fn grad_weight_case<T: Float>(rng: &mut Rng, shape: (usize, usize, usize)) {
    let (_, inf, outf) = shape;
    let l = Layer::<T>::new(rng, shape);
    let what = format!("grad_weight {shape:?} {}", T::NAME);
    let (dw, db) = same_bits_everywhere(&what, |par| {
        let mut dw = Mat::<T>::filled(inf, outf, Layout::RowMajor, T::NAN);
        let mut db = vec![T::NAN; outf];
        linear::grad_weight(
            l.x.view(),
            l.dy.view(),
            dw.view_mut(),
            Some(&mut db),
            Accum::Overwrite,
            par,
        )
        .unwrap();
        (bits(&dw.data), bits(&db))
    });
    let dw: Vec<T> = dw[..inf * outf]
        .iter()
        .map(|&b| T::from_f64(f64::from_bits(b)))
        .collect();
    let db: Vec<T> = db.iter().map(|&b| T::from_f64(f64::from_bits(b))).collect();
    assert_close_slice(&dw, &ref_matmul(l.x.view().t(), l.dy.view()), &what);
    assert_close_slice(&db, &ref_col_sums(l.dy.view()), &what);
}

#[test]
fn grad_weight_is_deterministic() {
    let mut rng = Rng::new(0xD4);
    // The weight gradient's GEMM is in × out × batch: the shapes with a small batch put a
    // small dimension in k, and those with a small in_features split column panels.
    let extra = [
        (1031usize, 1usize, 1033usize),
        (460, 5, 470),
        (300, 13, 300),
        // Long reductions over the batch with a small output (more than 1024 rows).
        (3001, 20, 30),
        (2049, 7, 77),
    ];
    for &shape in SHAPES.iter().chain(&extra) {
        grad_weight_case::<f32>(&mut rng, shape);
        grad_weight_case::<f64>(&mut rng, shape);
    }
}

fn backward_case<T: Float>(rng: &mut Rng, shape: (usize, usize, usize)) {
    let (batch, inf, outf) = shape;
    let l = Layer::<T>::new(rng, shape);
    let dw0 = Mat::<T>::random(inf, outf, Layout::Padded, rng);
    let db0: Vec<T> = rng.vec(outf);
    let what = format!("backward {shape:?} {}", T::NAME);
    let (dx, dw, db) = same_bits_everywhere(&what, |par| {
        let mut dx = Mat::<T>::filled(batch, inf, Layout::ColMajor, T::NAN);
        let mut dw = dw0.clone();
        let mut db = db0.clone();
        linear::backward(
            l.x.view(),
            l.w.view(),
            l.dy.view(),
            linear::Grads::new()
                .dx(dx.view_mut(), Accum::Overwrite)
                .dw(dw.view_mut(), Accum::Add)
                .db(&mut db, Accum::Add),
            par,
        )
        .unwrap();
        (bits(&dx.data), bits(&dw.data), bits(&db))
    });
    let from_bits =
        |v: &[u64]| -> Vec<T> { v.iter().map(|&b| T::from_f64(f64::from_bits(b))).collect() };
    let mut dx_m = Mat::<T>::filled(batch, inf, Layout::ColMajor, T::NAN);
    dx_m.data = from_bits(&dx);
    let mut dw_m = dw0.clone();
    dw_m.data = from_bits(&dw);
    assert_close(&dx_m, &ref_matmul(l.dy.view(), l.w.view().t()), &what);
    let want_dw = ref_matmul(l.x.view().t(), l.dy.view()).add_matrix(&dw0.to_f64());
    assert_close(&dw_m, &want_dw, &what);
    let db0_f64: Vec<f64> = db0.iter().map(|v| v.to_f64()).collect();
    assert_close_slice(
        &from_bits(&db),
        &ref_col_sums(l.dy.view()).add_matrix(&db0_f64),
        &what,
    );
}

#[test]
fn backward_is_deterministic() {
    let mut rng = Rng::new(0xD5);
    for &shape in SHAPES.iter().chain(&[(3001, 20, 30)]) {
        backward_case::<f32>(&mut rng, shape);
        backward_case::<f64>(&mut rng, shape);
    }
}
