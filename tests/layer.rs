//! `lingrad::Linear` and `lingrad::Param`: seeded initialisation, forward and backward against
//! the linear routines and the f64 reference, gradient accumulation and reset.

mod common;

use common::{assert_close_slice, bits, ref_col_sums, ref_matmul, Float, Layout, Mat, Rng};
use lingrad::{linear, Linear, MatMut, MatRef, Parallelism, Param};

const PAR: Parallelism = Parallelism::Current;

#[test]
fn seeded_init_is_deterministic() {
    for (inf, outf) in [(1usize, 1usize), (3, 2), (64, 10), (784, 128)] {
        let a = Linear::<f32>::new(inf, outf, 42).unwrap();
        let b = Linear::<f32>::new(inf, outf, 42).unwrap();
        assert_eq!(a, b);
        assert_eq!(
            bits(a.weight().value_slice()),
            bits(b.weight().value_slice())
        );
        assert_eq!(bits(a.bias().value_slice()), bits(b.bias().value_slice()));

        // Another seed gives another layer.
        let c = Linear::<f32>::new(inf, outf, 43).unwrap();
        assert_ne!(a.weight().value_slice(), c.weight().value_slice());
        assert_ne!(a.bias().value_slice(), c.bias().value_slice());

        // f32 and f64 layers from one seed are the same draws, rounded.
        let d = Linear::<f64>::new(inf, outf, 42).unwrap();
        for (&s, &w) in a
            .weight()
            .value_slice()
            .iter()
            .zip(d.weight().value_slice())
        {
            assert_eq!(s, w as f32);
        }
        for (&s, &w) in a.bias().value_slice().iter().zip(d.bias().value_slice()) {
            assert_eq!(s, w as f32);
        }
    }
}

/// Values are uniform in ±1/√in: inside the bound, using most of it, centred, and distinct.
#[test]
fn seeded_init_is_within_bound() {
    for (inf, outf, seed) in [
        (1usize, 300usize, 1u64),
        (16, 50, 2),
        (100, 40, 3),
        (1000, 5, 4),
    ] {
        let layer = Linear::<f64>::new(inf, outf, seed).unwrap();
        let bound = 1.0 / (inf as f64).sqrt();
        let w = layer.weight().value_slice();
        let b = layer.bias().value_slice();
        assert_eq!((w.len(), b.len()), (inf * outf, outf));
        let all: Vec<f64> = w.iter().chain(b).copied().collect();
        for &v in &all {
            assert!(v.abs() <= bound, "{v} outside ±{bound} (in = {inf})");
        }
        let n = all.len() as f64;
        let max = all.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        assert!(
            max > 0.9 * bound,
            "max |v| {max} uses too little of ±{bound}"
        );
        let mean = all.iter().sum::<f64>() / n;
        assert!(
            mean.abs() < 0.15 * bound,
            "mean {mean} not centred (bound {bound})"
        );
        // Uniform on ±bound has variance bound²/3.
        let var = all.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
        let want = bound * bound / 3.0;
        assert!(
            (var - want).abs() < 0.25 * want,
            "variance {var}, uniform gives {want}"
        );
        let mut sorted = all.clone();
        sorted.sort_by(f64::total_cmp);
        sorted.dedup();
        assert_eq!(sorted.len(), all.len(), "repeated values");
        // The gradients start at zero.
        assert!(layer.weight().grad_slice().iter().all(|&g| g == 0.0));
        assert!(layer.bias().grad_slice().iter().all(|&g| g == 0.0));
    }
}

#[test]
fn shapes_and_accessors() {
    let mut layer = Linear::<f32>::new(7, 3, 9).unwrap();
    assert_eq!((layer.in_features(), layer.out_features()), (7, 3));
    assert_eq!((layer.weight().rows(), layer.weight().cols()), (7, 3));
    assert_eq!((layer.bias().rows(), layer.bias().cols()), (1, 3));
    assert_eq!(layer.weight().value().shape(), (7, 3));
    assert_eq!(layer.weight().grad().shape(), (7, 3));
    assert_eq!(layer.bias().value().shape(), (1, 3));
    let w = layer.weight().value_slice().to_vec();
    let b = layer.bias().value_slice().to_vec();
    let [pw, pb] = layer.params_mut();
    assert_eq!(pw.value_slice(), &w[..]);
    assert_eq!(pb.value_slice(), &b[..]);
    // Views agree with slices, row-major.
    let v = layer.weight().value();
    for i in 0..7 {
        for j in 0..3 {
            assert_eq!(*v.get(i, j).unwrap(), w[i * 3 + j]);
        }
    }
}

/// One random batch for a layer of the given size.
fn batch<T: Float>(rng: &mut Rng, batch: usize, inf: usize, outf: usize) -> (Mat<T>, Mat<T>) {
    (
        Mat::random(batch, inf, Layout::RowMajor, rng),
        Mat::random(batch, outf, Layout::RowMajor, rng),
    )
}

fn forward_case<T: Float>(rng: &mut Rng, (b, inf, outf): (usize, usize, usize), seed: u64) {
    let layer = Linear::<T>::new(inf, outf, seed).unwrap();
    let (x, _) = batch::<T>(rng, b, inf, outf);
    for ly in [Layout::RowMajor, Layout::ColStrided] {
        let mut y = Mat::<T>::filled(b, outf, ly, T::NAN);
        layer.forward(x.view(), y.view_mut(), PAR).unwrap();
        let mut y_fn = Mat::<T>::filled(b, outf, ly, T::NAN);
        linear::forward(
            x.view(),
            layer.weight().value(),
            Some(layer.bias().value_slice()),
            y_fn.view_mut(),
            PAR,
        )
        .unwrap();
        assert_eq!(
            bits(&y.data),
            bits(&y_fn.data),
            "Linear::forward vs linear::forward"
        );
        let want =
            ref_matmul(x.view(), layer.weight().value()).add_row_vector(layer.bias().value_slice());
        common::assert_close(&y, &want, &(b, inf, outf, ly));
    }
}

#[test]
fn forward_equals_linear_forward() {
    let mut rng = Rng::new(0x1A);
    for (i, &shape) in [
        (1usize, 1usize, 1usize),
        (5, 3, 2),
        (32, 64, 10),
        (200, 130, 150),
    ]
    .iter()
    .enumerate()
    {
        forward_case::<f32>(&mut rng, shape, i as u64);
        forward_case::<f64>(&mut rng, shape, i as u64);
    }
}

fn backward_case<T: Float>(rng: &mut Rng, (b, inf, outf): (usize, usize, usize)) {
    let mut layer = Linear::<T>::new(inf, outf, 7).unwrap();
    let before = layer.clone();
    let (x, dy) = batch::<T>(rng, b, inf, outf);
    let mut dx = Mat::<T>::filled(b, inf, Layout::Padded, T::NAN);
    layer
        .backward(x.view(), dy.view(), Some(dx.view_mut()), PAR)
        .unwrap();

    // Values untouched; dx = dy·Wᵀ; gradients = xᵀ·dy and Σ_rows dy.
    assert_eq!(layer.weight().value_slice(), before.weight().value_slice());
    assert_eq!(layer.bias().value_slice(), before.bias().value_slice());
    let want_dx = ref_matmul(dy.view(), layer.weight().value().t());
    common::assert_close(&dx, &want_dx, &"dx");
    let want_dw = ref_matmul(x.view().t(), dy.view());
    let want_db = ref_col_sums(dy.view());
    assert_close_slice(layer.weight().grad_slice(), &want_dw, &"dw once");
    assert_close_slice(layer.bias().grad_slice(), &want_db, &"db once");

    // A second call adds: twice the gradient. dx is overwritten, not accumulated.
    layer
        .backward(x.view(), dy.view(), Some(dx.view_mut()), PAR)
        .unwrap();
    common::assert_close(&dx, &want_dx, &"dx second call");
    let twice = |e: &common::Expected| {
        let mut e = e.clone();
        e.value.iter_mut().for_each(|v| *v *= 2.0);
        e.magnitude.iter_mut().for_each(|v| *v *= 2.0);
        e.depth += 1;
        e
    };
    assert_close_slice(layer.weight().grad_slice(), &twice(&want_dw), &"dw twice");
    assert_close_slice(layer.bias().grad_slice(), &twice(&want_db), &"db twice");

    // Without dx, the parameter gradients still accumulate.
    layer.backward(x.view(), dy.view(), None, PAR).unwrap();
    let mut thrice = twice(&want_dw);
    thrice.value.iter_mut().for_each(|v| *v *= 1.5);
    thrice.magnitude.iter_mut().for_each(|v| *v *= 1.5);
    assert_close_slice(layer.weight().grad_slice(), &thrice, &"dw thrice");

    // zero_grad resets both gradients and nothing else.
    layer.zero_grad();
    assert!(layer.weight().grad_slice().iter().all(|&g| g == T::ZERO));
    assert!(layer.bias().grad_slice().iter().all(|&g| g == T::ZERO));
    assert_eq!(layer, before);

    // After zero_grad the next backward starts afresh.
    layer.backward(x.view(), dy.view(), None, PAR).unwrap();
    assert_close_slice(layer.weight().grad_slice(), &want_dw, &"dw after zero_grad");
    assert_close_slice(layer.bias().grad_slice(), &want_db, &"db after zero_grad");
}

#[test]
fn backward_accumulates_and_zero_grad_resets() {
    let mut rng = Rng::new(0x1B);
    for &shape in &[
        (1usize, 1usize, 1usize),
        (4, 3, 2),
        (33, 17, 9),
        (300, 64, 10),
    ] {
        backward_case::<f32>(&mut rng, shape);
        backward_case::<f64>(&mut rng, shape);
    }
}

/// A plain SGD step through `value_and_grad_mut` moves each value by `-lr · grad`.
#[test]
fn optimiser_step_through_params() {
    let mut rng = Rng::new(0x1C);
    let mut layer = Linear::<f64>::new(6, 4, 11).unwrap();
    let (x, dy) = batch::<f64>(&mut rng, 8, 6, 4);
    layer.backward(x.view(), dy.view(), None, PAR).unwrap();
    let before = layer.clone();
    let lr = 0.125;
    for p in layer.params_mut() {
        let (value, grad) = p.value_and_grad_mut();
        assert_eq!(value.len(), grad.len());
        for (v, g) in value.iter_mut().zip(grad) {
            *v -= lr * g;
        }
    }
    for (p_new, p_old) in [
        (layer.weight(), before.weight()),
        (layer.bias(), before.bias()),
    ] {
        for ((&n, &o), &g) in p_new
            .value_slice()
            .iter()
            .zip(p_old.value_slice())
            .zip(p_old.grad_slice())
        {
            assert_eq!(n, o - lr * g);
        }
        assert_eq!(p_new.grad_slice(), p_old.grad_slice());
    }
}

#[test]
fn param_invariants() {
    let mut rng = Rng::new(0x1D);
    for (rows, cols) in [(0usize, 0usize), (1, 5), (5, 1), (3, 4), (0, 7)] {
        let value: Vec<f32> = rng.vec(rows * cols);
        let mut p = Param::new(value.clone(), rows, cols).unwrap();
        assert_eq!((p.rows(), p.cols()), (rows, cols));
        assert_eq!(p.value().shape(), (rows, cols));
        assert_eq!(p.grad().shape(), (rows, cols));
        assert_eq!(p.value_slice(), &value[..]);
        assert_eq!(p.grad_slice().len(), value.len());
        assert!(p.grad_slice().iter().all(|&g| g == 0.0));

        // Writing the value leaves the shape and gradient alone and shows in the view.
        for v in p.value_slice_mut() {
            *v *= 2.0;
        }
        assert_eq!(p.value().shape(), (rows, cols));
        for i in 0..rows {
            for j in 0..cols {
                assert_eq!(*p.value().get(i, j).unwrap(), 2.0 * value[i * cols + j]);
            }
        }
        assert!(p.grad_slice().iter().all(|&g| g == 0.0));
        let q = p.clone();
        assert_eq!(p, q);
        p.zero_grad();
        assert_eq!(p, q);
    }
}

/// A layer built from given parameters computes with exactly those parameters.
#[test]
fn from_params_uses_the_given_parameters() {
    let w = Param::new(vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], 3, 2).unwrap();
    let b = Param::new(vec![0.5f32, -0.5], 1, 2).unwrap();
    let layer = Linear::from_params(w.clone(), b.clone()).unwrap();
    assert_eq!(layer.weight(), &w);
    assert_eq!(layer.bias(), &b);
    let x = [1.0f32, 0.0, -1.0, 2.0, 1.0, 0.0];
    let mut y = [f32::NAN; 4];
    layer
        .forward(
            MatRef::new(&x, 2, 3).unwrap(),
            MatMut::new(&mut y, 2, 2).unwrap(),
            PAR,
        )
        .unwrap();
    // [1, 0, -1]·W = [1 - 5, 2 - 6] = [-4, -4]; [2, 1, 0]·W = [2 + 3, 4 + 4] = [5, 8].
    assert_eq!(y, [-3.5, -4.5, 5.5, 7.5]);
}

/// A layer with no inputs outputs its bias; one with no outputs needs nothing.
#[test]
fn degenerate_layers() {
    let layer = Linear::<f32>::new(0, 3, 5).unwrap();
    // With in_features = 0 the bound is 1.
    assert!(layer.bias().value_slice().iter().all(|v| v.abs() <= 1.0));
    let x: [f32; 0] = [];
    let mut y = [f32::NAN; 6];
    layer
        .forward(
            MatRef::new(&x, 2, 0).unwrap(),
            MatMut::new(&mut y, 2, 3).unwrap(),
            PAR,
        )
        .unwrap();
    let b = layer.bias().value_slice();
    assert_eq!(y, [b[0], b[1], b[2], b[0], b[1], b[2]]);

    let mut layer = Linear::<f64>::new(4, 0, 5).unwrap();
    assert!(layer.weight().value_slice().is_empty());
    let x = [1.0f64; 8];
    let dy: [f64; 0] = [];
    let mut dx = [f64::NAN; 8];
    layer
        .backward(
            MatRef::new(&x, 2, 4).unwrap(),
            MatRef::strided(&dy, 2, 0, 1, 1).unwrap(),
            Some(MatMut::new(&mut dx, 2, 4).unwrap()),
            PAR,
        )
        .unwrap();
    assert_eq!(dx, [0.0; 8], "dx = dy·Wᵀ with no outputs is an empty sum");
}
