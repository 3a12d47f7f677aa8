//! The backward routines against the f64 reference: `db = Σ_rows dy`, `dW = xᵀ·dy`,
//! `dx = dy·Wᵀ`, alone and through `linear::backward` with every subset of outputs and every
//! accumulation mode; identities between them; and central differences of a scalar loss.

mod common;

use common::{
    assert_close, assert_close_slice, bits, output, output_vec, ref_col_sums, ref_matmul, Float,
    Layout, Mat, Rng, ACCUMS,
};
use lingrad::{linear, matmul, Accum, MatMut, MatRef, Parallelism, ShapeError};

/// (batch, in_features, out_features).
const SHAPES: [(usize, usize, usize); 11] = [
    (1, 1, 1),
    (2, 3, 5),
    (7, 4, 9),
    (33, 17, 8),
    (64, 65, 10),
    (600, 6, 5),
    (300, 19, 23),
    (9, 130, 257),
    (200, 150, 130),
    (1100, 1, 1000),
    (513, 47, 49),
];

fn layouts(case: usize) -> [Layout; 3] {
    let all = Layout::ALL;
    [
        all[case % 5],
        all[(case / 5 + case) % 5],
        all[(case / 25 + 3 * case) % 5],
    ]
}

fn par(case: usize) -> Parallelism {
    if case % 4 == 3 {
        Parallelism::Sequential
    } else {
        Parallelism::Current
    }
}

/// Random x, w, dy for a shape, in the given layouts.
fn operands<T: Float>(
    rng: &mut Rng,
    (batch, inf, outf): (usize, usize, usize),
    lay: [Layout; 3],
) -> (Mat<T>, Mat<T>, Mat<T>) {
    (
        Mat::random(batch, inf, lay[0], rng),
        Mat::random(inf, outf, lay[1], rng),
        Mat::random(batch, outf, lay[2], rng),
    )
}

fn grad_bias_case<T: Float>(rng: &mut Rng, case: usize, shape: (usize, usize, usize)) {
    let (batch, _, outf) = shape;
    for accum in ACCUMS {
        let dy = Mat::<T>::random(batch, outf, layouts(case)[2], rng);
        let mut db = output_vec::<T>(outf, accum, rng);
        let db0: Vec<f64> = db.iter().map(|v| v.to_f64()).collect();
        linear::grad_bias(dy.view(), &mut db, accum).unwrap();
        let want = ref_col_sums(dy.view()).accumulate(accum, &db0);
        assert_close_slice(&db, &want, &(shape, accum));
    }
}

#[test]
fn grad_bias_matches_reference() {
    common::note_engine();
    let mut rng = Rng::new(0xB1);
    for (case, &shape) in SHAPES.iter().enumerate() {
        grad_bias_case::<f32>(&mut rng, case, shape);
        grad_bias_case::<f64>(&mut rng, case, shape);
    }
}

fn grad_input_case<T: Float>(rng: &mut Rng, case: usize, shape: (usize, usize, usize)) {
    let (batch, inf, _) = shape;
    let lay = layouts(case);
    for accum in ACCUMS {
        let (_, w, dy) = operands::<T>(rng, shape, lay);
        let mut dx = output::<T>(batch, inf, lay[0], accum, rng);
        let dx0 = dx.to_f64();
        linear::grad_input(dy.view(), w.view(), dx.view_mut(), accum, par(case)).unwrap();
        let want = ref_matmul(dy.view(), w.view().t()).accumulate(accum, &dx0);
        assert_close(&dx, &want, &(shape, lay, accum));
    }
}

#[test]
fn grad_input_matches_reference() {
    let mut rng = Rng::new(0xB2);
    for (case, &shape) in SHAPES.iter().enumerate() {
        grad_input_case::<f32>(&mut rng, case, shape);
        grad_input_case::<f64>(&mut rng, case, shape);
    }
}

fn grad_weight_case<T: Float>(rng: &mut Rng, case: usize, shape: (usize, usize, usize)) {
    let (_, inf, outf) = shape;
    let lay = layouts(case);
    for accum in ACCUMS {
        for with_db in [false, true] {
            let (x, _, dy) = operands::<T>(rng, shape, lay);
            let mut dw = output::<T>(inf, outf, lay[1], accum, rng);
            let dw0 = dw.to_f64();
            let mut db = output_vec::<T>(outf, accum, rng);
            let db_before = db.clone();
            let db0: Vec<f64> = db.iter().map(|v| v.to_f64()).collect();
            let ctx = (shape, lay, accum, with_db);
            linear::grad_weight(
                x.view(),
                dy.view(),
                dw.view_mut(),
                with_db.then_some(&mut db[..]),
                accum,
                par(case),
            )
            .unwrap();
            let want = ref_matmul(x.view().t(), dy.view()).accumulate(accum, &dw0);
            assert_close(&dw, &want, &ctx);
            if with_db {
                let want = ref_col_sums(dy.view()).accumulate(accum, &db0);
                assert_close_slice(&db, &want, &ctx);
            } else {
                assert_eq!(bits(&db), bits(&db_before), "{ctx:?}: db not requested");
            }
        }
    }
}

#[test]
fn grad_weight_matches_reference() {
    let mut rng = Rng::new(0xB3);
    for (case, &shape) in SHAPES.iter().enumerate() {
        grad_weight_case::<f32>(&mut rng, case, shape);
        grad_weight_case::<f64>(&mut rng, case, shape);
    }
}

/// Which outputs a `backward` call requests, each with its mode (`None`: not requested).
type Request = [Option<Accum>; 3];

/// All 27 requests: each of dx, dW, db absent, overwritten or added to.
fn requests() -> Vec<Request> {
    let opts = [None, Some(Accum::Overwrite), Some(Accum::Add)];
    let mut out = Vec::new();
    for a in opts {
        for b in opts {
            for c in opts {
                out.push([a, b, c]);
            }
        }
    }
    out
}

fn backward_case<T: Float>(
    rng: &mut Rng,
    shape: (usize, usize, usize),
    lay: [Layout; 3],
    req: Request,
    par: Parallelism,
) {
    let (batch, inf, outf) = shape;
    let (x, w, dy) = operands::<T>(rng, shape, lay);
    let mode = |r: Option<Accum>| r.unwrap_or(Accum::Add);
    let mut dx = output::<T>(batch, inf, lay[1], mode(req[0]), rng);
    let mut dw = output::<T>(inf, outf, lay[2], mode(req[1]), rng);
    let mut db = output_vec::<T>(outf, mode(req[2]), rng);
    let (dx0, dw0) = (dx.clone(), dw.clone());
    let db0 = db.clone();
    let ctx = (shape, lay, req, par);

    let mut grads = linear::Grads::new();
    if let Some(accum) = req[0] {
        grads = grads.dx(dx.view_mut(), accum);
    }
    if let Some(accum) = req[1] {
        grads = grads.dw(dw.view_mut(), accum);
    }
    if let Some(accum) = req[2] {
        grads = grads.db(&mut db, accum);
    }
    linear::backward(x.view(), w.view(), dy.view(), grads, par).unwrap();

    match req[0] {
        Some(accum) => {
            let want = ref_matmul(dy.view(), w.view().t()).accumulate(accum, &dx0.to_f64());
            assert_close(&dx, &want, &ctx);
        }
        None => assert_eq!(bits(&dx.data), bits(&dx0.data), "{ctx:?}: dx not requested"),
    }
    match req[1] {
        Some(accum) => {
            let want = ref_matmul(x.view().t(), dy.view()).accumulate(accum, &dw0.to_f64());
            assert_close(&dw, &want, &ctx);
        }
        None => assert_eq!(bits(&dw.data), bits(&dw0.data), "{ctx:?}: dw not requested"),
    }
    match req[2] {
        Some(accum) => {
            let db0: Vec<f64> = db0.iter().map(|v| v.to_f64()).collect();
            let want = ref_col_sums(dy.view()).accumulate(accum, &db0);
            assert_close_slice(&db, &want, &ctx);
        }
        None => assert_eq!(bits(&db), bits(&db0), "{ctx:?}: db not requested"),
    }
}

/// Every subset of {dx, dW, db} with every mode, on a few shapes and layouts.
#[test]
fn backward_every_request() {
    let mut rng = Rng::new(0xB4);
    let shapes = [
        (1usize, 1usize, 1usize),
        (5, 9, 7),
        (33, 17, 65),
        (300, 19, 23),
    ];
    let mut case = 0;
    for &shape in &shapes {
        for req in requests() {
            let lay = layouts(case * 7);
            backward_case::<f32>(&mut rng, shape, lay, req, par(case));
            backward_case::<f64>(&mut rng, shape, lay, req, par(case + 1));
            case += 1;
        }
    }
}

/// All three outputs on the larger shapes (parallel, several blocks).
#[test]
fn backward_all_outputs_large() {
    let mut rng = Rng::new(0xB5);
    for (case, &shape) in SHAPES.iter().enumerate() {
        let req = [
            Some(ACCUMS[case % 2]),
            Some(ACCUMS[(case / 2) % 2]),
            Some(ACCUMS[(case + 1) % 2]),
        ];
        backward_case::<f32>(&mut rng, shape, layouts(case), req, par(case));
        backward_case::<f64>(&mut rng, shape, layouts(case + 3), req, par(case + 2));
    }
}

/// `db` is the column sums of dy, summed row by row from row 0 (bitwise), and the three
/// routines that compute it agree bitwise.
#[test]
fn db_is_column_sums_of_dy() {
    let mut rng = Rng::new(0xB6);
    for &(batch, inf, outf) in &[(1usize, 2usize, 3usize), (37, 5, 70), (300, 3, 129)] {
        let (x, w, dy) = operands::<f32>(&mut rng, (batch, inf, outf), layouts(batch));
        let mut in_order = vec![0.0f32; outf];
        for i in 0..batch {
            for (j, s) in in_order.iter_mut().enumerate() {
                *s += dy.get(i, j);
            }
        }
        let mut db1 = vec![f32::NAN; outf];
        linear::grad_bias(dy.view(), &mut db1, Accum::Overwrite).unwrap();
        assert_eq!(bits(&db1), bits(&in_order), "grad_bias, batch {batch}");
        assert_close_slice(&db1, &ref_col_sums(dy.view()), &"grad_bias");

        let mut db2 = vec![f32::NAN; outf];
        let mut dw = vec![f32::NAN; inf * outf];
        linear::grad_weight(
            x.view(),
            dy.view(),
            MatMut::new(&mut dw, inf, outf).unwrap(),
            Some(&mut db2),
            Accum::Overwrite,
            Parallelism::Current,
        )
        .unwrap();
        assert_eq!(bits(&db2), bits(&db1), "grad_weight's db");

        let mut db3 = vec![f32::NAN; outf];
        linear::backward(
            x.view(),
            w.view(),
            dy.view(),
            linear::Grads::new().db(&mut db3, Accum::Overwrite),
            Parallelism::Current,
        )
        .unwrap();
        assert_eq!(bits(&db3), bits(&db1), "backward's db");
    }
}

/// dW = matmul(xᵀ, dy) and dx = matmul(dy, Wᵀ), to rounding, and both match the reference.
#[test]
fn gradients_are_the_matching_products() {
    let mut rng = Rng::new(0xB7);
    for (case, &(batch, inf, outf)) in SHAPES.iter().enumerate() {
        let (x, w, dy) = operands::<f64>(&mut rng, (batch, inf, outf), layouts(case));
        let mut dw = Mat::<f64>::filled(inf, outf, Layout::RowMajor, f64::NAN);
        let mut dw_mm = dw.clone();
        let mut dx = Mat::<f64>::filled(batch, inf, Layout::RowMajor, f64::NAN);
        let mut dx_mm = dx.clone();
        linear::backward(
            x.view(),
            w.view(),
            dy.view(),
            linear::Grads::new()
                .dw(dw.view_mut(), Accum::Overwrite)
                .dx(dx.view_mut(), Accum::Overwrite),
            Parallelism::Current,
        )
        .unwrap();
        let p = Parallelism::Current;
        matmul(
            x.view().t(),
            dy.view(),
            dw_mm.view_mut(),
            Accum::Overwrite,
            p,
        )
        .unwrap();
        matmul(
            dy.view(),
            w.view().t(),
            dx_mm.view_mut(),
            Accum::Overwrite,
            p,
        )
        .unwrap();
        let want_dw = ref_matmul(x.view().t(), dy.view());
        let want_dx = ref_matmul(dy.view(), w.view().t());
        assert_close(&dw, &want_dw, &("dw", case));
        assert_close(&dw_mm, &want_dw, &("matmul(x.t(), dy)", case));
        assert_close(&dx, &want_dx, &("dx", case));
        assert_close(&dx_mm, &want_dx, &("matmul(dy, w.t())", case));
        for (g, h) in dw.to_row_major().iter().zip(dw_mm.to_row_major()) {
            assert!(
                (g - h).abs() <= 1e-12 * (1.0 + h.abs()),
                "dw vs matmul: {g} {h}"
            );
        }
        for (g, h) in dx.to_row_major().iter().zip(dx_mm.to_row_major()) {
            assert!(
                (g - h).abs() <= 1e-12 * (1.0 + h.abs()),
                "dx vs matmul: {g} {h}"
            );
        }
    }
}

/// Degenerate sizes: no input features, an empty batch, no outputs.
#[test]
fn degenerate_sizes() {
    let mut rng = Rng::new(0xB8);

    // in_features = 0: dW and dx are empty, db still sums dy.
    let (batch, outf) = (6, 9);
    let x = Mat::<f32>::random(batch, 0, Layout::RowMajor, &mut rng);
    let w = Mat::<f32>::random(0, outf, Layout::RowMajor, &mut rng);
    let dy = Mat::<f32>::random(batch, outf, Layout::RowMajor, &mut rng);
    let mut db = vec![f32::NAN; outf];
    let mut dx_buf = [7.25f32; 2];
    let mut dw_buf = [7.25f32; 2];
    linear::backward(
        x.view(),
        w.view(),
        dy.view(),
        linear::Grads::new()
            .dx(
                MatMut::strided(&mut dx_buf, batch, 0, 1, 1).unwrap(),
                Accum::Overwrite,
            )
            .dw(
                MatMut::strided(&mut dw_buf, 0, outf, 1, 1).unwrap(),
                Accum::Overwrite,
            )
            .db(&mut db, Accum::Overwrite),
        Parallelism::Current,
    )
    .unwrap();
    assert_close_slice(&db, &ref_col_sums(dy.view()), &"in_features = 0");
    assert_eq!((dx_buf, dw_buf), ([7.25; 2], [7.25; 2]));

    // batch = 0: dW = 0 and db = 0 (Overwrite), unchanged (Add); dx is empty.
    let (inf, outf) = (5, 7);
    let x = Mat::<f64>::random(0, inf, Layout::RowMajor, &mut rng);
    let w = Mat::<f64>::random(inf, outf, Layout::Padded, &mut rng);
    let dy = Mat::<f64>::random(0, outf, Layout::RowMajor, &mut rng);
    for lw in Layout::ALL {
        let mut dw = Mat::<f64>::filled(inf, outf, lw, f64::NAN);
        let mut db = vec![f64::NAN; outf];
        linear::grad_weight(
            x.view(),
            dy.view(),
            dw.view_mut(),
            Some(&mut db),
            Accum::Overwrite,
            Parallelism::Current,
        )
        .unwrap();
        assert!(dw.to_row_major().iter().all(|&v| v == 0.0), "{lw:?}");
        assert!(db.iter().all(|&v| v == 0.0));
        dw.check_padding(&lw);

        let mut dw = Mat::<f64>::random(inf, outf, lw, &mut rng);
        let mut db: Vec<f64> = rng.vec(outf);
        let (dw0, db0) = (dw.clone(), db.clone());
        linear::backward(
            x.view(),
            w.view(),
            dy.view(),
            linear::Grads::new()
                .dw(dw.view_mut(), Accum::Add)
                .db(&mut db, Accum::Add),
            Parallelism::Current,
        )
        .unwrap();
        assert_eq!(bits(&dw.data), bits(&dw0.data));
        assert_eq!(bits(&db), bits(&db0));
    }

    // out_features = 0: dx = dy·Wᵀ is an empty sum, so zero.
    let (batch, inf) = (4, 3);
    let w = Mat::<f32>::random(inf, 0, Layout::RowMajor, &mut rng);
    let dy = Mat::<f32>::random(batch, 0, Layout::RowMajor, &mut rng);
    let mut dx = Mat::<f32>::filled(batch, inf, Layout::Strided, f32::NAN);
    linear::grad_input(
        dy.view(),
        w.view(),
        dx.view_mut(),
        Accum::Overwrite,
        Parallelism::Current,
    )
    .unwrap();
    assert!(dx.to_row_major().iter().all(|&v| v == 0.0));
    dx.check_padding(&"out_features = 0");
}

/// Each gradient has exactly its variable's shape: it is accepted with that shape and rejected,
/// naming the expected shape, when transposed.
#[test]
fn gradients_have_their_variables_shapes() {
    let mut rng = Rng::new(0xB9);
    for _ in 0..40 {
        let batch = rng.range(1, 12);
        let inf = rng.range(1, 12);
        let outf = rng.range(1, 12);
        let (x, w, dy) = operands::<f32>(&mut rng, (batch, inf, outf), layouts(batch));
        let mut dx = vec![f32::NAN; batch * inf];
        let mut dw = vec![f32::NAN; inf * outf];
        let mut db = vec![f32::NAN; outf];
        linear::backward(
            x.view(),
            w.view(),
            dy.view(),
            linear::Grads::new()
                .dx(
                    MatMut::new(&mut dx, x.rows, x.cols).unwrap(),
                    Accum::Overwrite,
                )
                .dw(
                    MatMut::new(&mut dw, w.rows, w.cols).unwrap(),
                    Accum::Overwrite,
                )
                .db(&mut db, Accum::Overwrite),
            Parallelism::Current,
        )
        .unwrap();
        assert_close_slice(&dx, &ref_matmul(dy.view(), w.view().t()), &"dx shape");
        assert_close_slice(&dw, &ref_matmul(x.view().t(), dy.view()), &"dw shape");

        if batch != inf {
            let mut buf = vec![7.25f32; batch * inf];
            let err = linear::backward(
                x.view(),
                w.view(),
                dy.view(),
                linear::Grads::new().dx(MatMut::new(&mut buf, inf, batch).unwrap(), Accum::Add),
                Parallelism::Current,
            )
            .unwrap_err();
            assert!(
                matches!(err, ShapeError::DimMismatch { operand: "dx", expected, found, .. }
                    if expected == (batch, inf) && found == (inf, batch)),
                "{err:?}"
            );
            assert!(buf.iter().all(|&v| v == 7.25));
        }
        if inf != outf {
            let mut buf = vec![7.25f32; inf * outf];
            let err = linear::grad_weight(
                x.view(),
                dy.view(),
                MatMut::new(&mut buf, outf, inf).unwrap(),
                None,
                Accum::Add,
                Parallelism::Current,
            )
            .unwrap_err();
            assert!(
                matches!(err, ShapeError::DimMismatch { operand: "dw", expected, .. }
                    if expected == (inf, outf)),
                "{err:?}"
            );
            assert!(buf.iter().all(|&v| v == 7.25));
        }
        let mut short = vec![7.25f32; outf + 1];
        let err = linear::grad_bias(dy.view(), &mut short, Accum::Add).unwrap_err();
        assert!(
            matches!(err, ShapeError::LenMismatch { operand: "db", expected, found, .. }
                if expected == outf && found == outf + 1),
            "{err:?}"
        );
    }
}

/// L(x, W, b) = Σ (x·W + b) ⊙ G, evaluated with `linear::forward` in f64.
fn loss(
    x: &[f64],
    w: &[f64],
    b: &[f64],
    g: &[f64],
    (batch, inf, outf): (usize, usize, usize),
) -> f64 {
    let mut y = vec![f64::NAN; batch * outf];
    linear::forward(
        MatRef::new(x, batch, inf).unwrap(),
        MatRef::new(w, inf, outf).unwrap(),
        Some(b),
        MatMut::new(&mut y, batch, outf).unwrap(),
        Parallelism::Sequential,
    )
    .unwrap();
    y.iter().zip(g).map(|(y, g)| y * g).sum()
}

/// Central difference `(L(v + h) - L(v - h)) / 2h` for every entry of one variable.
fn numeric_grad(
    var: usize,
    vars: &[Vec<f64>; 3],
    g: &[f64],
    shape: (usize, usize, usize),
) -> Vec<f64> {
    const H: f64 = 1e-6;
    let mut vs = vars.clone();
    (0..vars[var].len())
        .map(|e| {
            let orig = vs[var][e];
            vs[var][e] = orig + H;
            let up = loss(&vs[0], &vs[1], &vs[2], g, shape);
            vs[var][e] = orig - H;
            let down = loss(&vs[0], &vs[1], &vs[2], g, shape);
            vs[var][e] = orig;
            (up - down) / (2.0 * H)
        })
        .collect()
}

/// For L = Σ y ⊙ G, dL/dy = G; the analytic gradients from `linear::backward` match central
/// differences of L for x, W and b.
#[test]
fn finite_differences() {
    let mut rng = Rng::new(0xB10);
    for trial in 0..24 {
        let shape = (rng.range(1, 6), rng.range(1, 6), rng.range(1, 6));
        let (batch, inf, outf) = shape;
        let x: Vec<f64> = rng.vec(batch * inf);
        let w: Vec<f64> = rng.vec(inf * outf);
        let b: Vec<f64> = rng.vec(outf);
        let g: Vec<f64> = rng.vec(batch * outf);

        let mut dx = vec![f64::NAN; batch * inf];
        let mut dw = vec![f64::NAN; inf * outf];
        let mut db = vec![f64::NAN; outf];
        linear::backward(
            MatRef::new(&x, batch, inf).unwrap(),
            MatRef::new(&w, inf, outf).unwrap(),
            MatRef::new(&g, batch, outf).unwrap(),
            linear::Grads::new()
                .dx(MatMut::new(&mut dx, batch, inf).unwrap(), Accum::Overwrite)
                .dw(MatMut::new(&mut dw, inf, outf).unwrap(), Accum::Overwrite)
                .db(&mut db, Accum::Overwrite),
            Parallelism::Current,
        )
        .unwrap();

        let vars = [x, w, b];
        for (var, (name, analytic)) in [("dx", &dx), ("dw", &dw), ("db", &db)]
            .into_iter()
            .enumerate()
        {
            let numeric = numeric_grad(var, &vars, &g, shape);
            assert_eq!(numeric.len(), analytic.len());
            for (e, (&a, &n)) in analytic.iter().zip(&numeric).enumerate() {
                // L is linear in each variable, so the difference quotient is exact up to the
                // rounding of L (≈ eps·|L| / h ≈ 1e-9 here).
                assert!(
                    (a - n).abs() <= 1e-6 * (1.0 + n.abs()),
                    "trial {trial} {shape:?}: {name}[{e}] analytic {a} numeric {n}"
                );
            }
        }
    }
}
