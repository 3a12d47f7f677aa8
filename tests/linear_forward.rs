//! `linear::forward` and `linear::forward_accum` against the f64 reference `x·W + bias`.

mod common;

use common::{assert_close, output, ref_matmul, Float, Layout, Mat, Rng, ACCUMS};
use lingrad::{linear, Accum, MatMut, MatRef, Parallelism};

/// (batch, in_features, out_features): tiny, tile edges, several K blocks, and shapes large
/// enough to go parallel (row split and, with batch 1, column split).
const SHAPES: [(usize, usize, usize); 12] = [
    (1, 1, 1),
    (2, 3, 2),
    (3, 5, 7),
    (17, 33, 9),
    (6, 16, 32),
    (64, 64, 10),
    (7, 600, 17),
    (97, 5, 513),
    (13, 257, 65),
    (130, 300, 150),
    (1, 1100, 1000),
    (5, 470, 460),
];

/// Layout triples for (x, w, y), rotated through by case number.
fn layouts(case: usize) -> [Layout; 3] {
    let all = Layout::ALL;
    [
        all[case % 5],
        all[(case / 5 + case) % 5],
        all[(case / 25 + 2 * case) % 5],
    ]
}

/// Reference `x·W (+ bias) (+ y0)`.
fn reference<T: Float>(
    x: &Mat<T>,
    w: &Mat<T>,
    bias: Option<&[T]>,
    accum: Accum,
    y0: &[f64],
) -> common::Expected {
    let mut want = ref_matmul(x.view(), w.view());
    if let Some(b) = bias {
        want = want.add_row_vector(b);
    }
    want.accumulate(accum, y0)
}

/// One checked call of `forward` (when `accum` is `None`) or `forward_accum`.
fn check<T: Float>(
    rng: &mut Rng,
    (batch, inf, outf): (usize, usize, usize),
    lay: [Layout; 3],
    with_bias: bool,
    accum: Option<Accum>,
    par: Parallelism,
) {
    let x = Mat::<T>::random(batch, inf, lay[0], rng);
    let w = Mat::<T>::random(inf, outf, lay[1], rng);
    // A bias larger than the products, so adding it twice or not at all is plain to see.
    let bias: Vec<T> = (0..outf)
        .map(|_| T::from_f64(4.0 * rng.signed_unit()))
        .collect();
    let bias = with_bias.then_some(&bias[..]);
    let mut y = output::<T>(batch, outf, lay[2], accum.unwrap_or(Accum::Overwrite), rng);
    let y0 = y.to_f64();
    let ctx = (batch, inf, outf, lay, with_bias, accum, par);
    match accum {
        None => linear::forward(x.view(), w.view(), bias, y.view_mut(), par),
        Some(accum) => linear::forward_accum(x.view(), w.view(), bias, y.view_mut(), accum, par),
    }
    .unwrap();
    let want = reference(&x, &w, bias, accum.unwrap_or(Accum::Overwrite), &y0);
    assert_close(&y, &want, &ctx);
}

fn for_both_types(mut f: impl FnMut(&mut Rng, bool)) {
    let mut rng = Rng::new(0xF0);
    f(&mut rng, false);
    f(&mut rng, true);
}

fn run(
    rng: &mut Rng,
    is_f64: bool,
    shape: (usize, usize, usize),
    lay: [Layout; 3],
    with_bias: bool,
    accum: Option<Accum>,
    par: Parallelism,
) {
    if is_f64 {
        check::<f64>(rng, shape, lay, with_bias, accum, par)
    } else {
        check::<f32>(rng, shape, lay, with_bias, accum, par)
    }
}

#[test]
fn forward_with_bias() {
    common::note_engine();
    for_both_types(|rng, is_f64| {
        for (case, &shape) in SHAPES.iter().enumerate() {
            run(
                rng,
                is_f64,
                shape,
                layouts(case),
                true,
                None,
                Parallelism::Current,
            );
        }
    });
}

#[test]
fn forward_without_bias() {
    for_both_types(|rng, is_f64| {
        for (case, &shape) in SHAPES.iter().enumerate() {
            run(
                rng,
                is_f64,
                shape,
                layouts(case + 7),
                false,
                None,
                Parallelism::Current,
            );
        }
    });
}

#[test]
fn forward_accum_every_mode() {
    for_both_types(|rng, is_f64| {
        let mut case = 0;
        for &shape in &SHAPES {
            for accum in ACCUMS {
                for with_bias in [false, true] {
                    let par = if case % 3 == 0 {
                        Parallelism::Sequential
                    } else {
                        Parallelism::Current
                    };
                    run(
                        rng,
                        is_f64,
                        shape,
                        layouts(case * 11),
                        with_bias,
                        Some(accum),
                        par,
                    );
                    case += 1;
                }
            }
        }
    });
}

/// Small shapes in every (x, w, y) layout combination.
#[test]
fn forward_every_layout() {
    for_both_types(|rng, is_f64| {
        let mut case = 0;
        for &lx in &Layout::ALL {
            for &lw in &Layout::ALL {
                for &ly in &Layout::ALL {
                    let shape = [(3, 5, 9), (9, 4, 17), (5, 13, 3)][case % 3];
                    let accum = [None, Some(Accum::Add), Some(Accum::Overwrite)][case % 3];
                    run(
                        rng,
                        is_f64,
                        shape,
                        [lx, lw, ly],
                        case % 2 == 0,
                        accum,
                        Parallelism::Current,
                    );
                    case += 1;
                }
            }
        }
    });
}

/// A framework that stores W as `out × in` passes `w.t()`; the result is the same as with a
/// row-major copy of W, to rounding.
#[test]
fn transposed_weight_storage() {
    let mut rng = Rng::new(21);
    let (batch, inf, outf) = (11, 37, 23);
    let x = Mat::<f32>::random(batch, inf, Layout::RowMajor, &mut rng);
    let w_out_in: Vec<f32> = rng.vec(outf * inf);
    let w_t = MatRef::new(&w_out_in, outf, inf).unwrap().t();
    let bias: Vec<f32> = rng.vec(outf);
    let mut y = vec![f32::NAN; batch * outf];
    linear::forward(
        x.view(),
        w_t,
        Some(&bias),
        MatMut::new(&mut y, batch, outf).unwrap(),
        Parallelism::Current,
    )
    .unwrap();
    let want = ref_matmul(x.view(), w_t).add_row_vector(&bias);
    common::assert_close_slice(&y, &want, &"w.t()");
}

/// `in_features = 0`: the product is an empty sum, so y is exactly the bias (or zero).
#[test]
fn zero_in_features_gives_bias() {
    let mut rng = Rng::new(22);
    for (batch, outf) in [(1usize, 1usize), (4, 9), (33, 65)] {
        for &ly in &Layout::ALL {
            let x = Mat::<f64>::random(batch, 0, Layout::RowMajor, &mut rng);
            let w = Mat::<f64>::random(0, outf, Layout::RowMajor, &mut rng);
            let bias: Vec<f64> = rng.vec(outf);
            let mut y = Mat::<f64>::filled(batch, outf, ly, f64::NAN);
            linear::forward(
                x.view(),
                w.view(),
                Some(&bias),
                y.view_mut(),
                Parallelism::Current,
            )
            .unwrap();
            for i in 0..batch {
                for (j, &b) in bias.iter().enumerate() {
                    assert_eq!(y.get(i, j), b, "({i}, {j}) of {batch}x{outf} {ly:?}");
                }
            }
            y.check_padding(&ly);

            linear::forward(x.view(), w.view(), None, y.view_mut(), Parallelism::Current).unwrap();
            assert!(y.to_row_major().iter().all(|&v| v == 0.0));

            // Add: y0 + bias, exactly (one rounding, same as the reference's).
            let mut y = Mat::<f64>::random(batch, outf, ly, &mut rng);
            let y0 = y.to_row_major();
            linear::forward_accum(
                x.view(),
                w.view(),
                Some(&bias),
                y.view_mut(),
                Accum::Add,
                Parallelism::Current,
            )
            .unwrap();
            for i in 0..batch {
                for j in 0..outf {
                    assert_eq!(y.get(i, j), y0[i * outf + j] + bias[j]);
                }
            }
        }
    }
}

/// An empty batch or an empty output writes nothing.
#[test]
fn empty_batch_or_output_writes_nothing() {
    let mut rng = Rng::new(23);
    for (batch, inf, outf) in [(0usize, 7usize, 5usize), (3, 7, 0), (0, 0, 0)] {
        let x = Mat::<f32>::random(batch, inf, Layout::RowMajor, &mut rng);
        let w = Mat::<f32>::random(inf, outf, Layout::RowMajor, &mut rng);
        let bias: Vec<f32> = rng.vec(outf);
        let mut buf = vec![7.25f32; 8];
        let y = MatMut::strided(&mut buf, batch, outf, 1, 1).unwrap();
        linear::forward(x.view(), w.view(), Some(&bias), y, Parallelism::Current).unwrap();
        assert_eq!(buf, [7.25; 8]);
    }
}

/// The bias is added once per row, whatever the blocking: a large bias on a deep product.
#[test]
fn bias_added_exactly_once() {
    let (batch, inf, outf) = (9usize, 1500usize, 21usize);
    // Quarter multiples and a 0/1 weight: every partial sum is exact in f32, so y must equal
    // Σ_{p even} x[i, p] + bias[j] exactly, in any summation order.
    let x = Mat::<f32>::from_fn(batch, inf, Layout::RowMajor, |i, p| {
        0.25 * ((i + p) % 5 + 1) as f32
    });
    let w = Mat::<f32>::from_fn(inf, outf, Layout::RowMajor, |p, _| {
        if p % 2 == 0 {
            1.0
        } else {
            0.0
        }
    });
    let bias: Vec<f32> = (0..outf).map(|j| 100.0 + j as f32).collect();
    let mut y = vec![f32::NAN; batch * outf];
    linear::forward(
        x.view(),
        w.view(),
        Some(&bias),
        MatMut::new(&mut y, batch, outf).unwrap(),
        Parallelism::Current,
    )
    .unwrap();
    let want = ref_matmul(x.view(), w.view()).add_row_vector(&bias);
    common::assert_close_slice(&y, &want, &"deep bias");
    for i in 0..batch {
        let row_sum: f64 = (0..inf).step_by(2).map(|p| x.get(i, p) as f64).sum();
        for j in 0..outf {
            assert_eq!(
                y[i * outf + j] as f64,
                row_sum + bias[j] as f64,
                "({i}, {j})"
            );
        }
    }
}
