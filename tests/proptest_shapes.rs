//! Property tests over shapes, storage layouts, accumulation modes and thread settings: matmul
//! and the linear routines agree with the f64 reference, and mismatched shapes are rejected
//! without writing.
//!
//! Case counts come from proptest's `PROPTEST_CASES` (default 256), so CI can run more.

mod common;

use common::{
    assert_close, assert_close_slice, bits, output, output_vec, ref_col_sums, ref_matmul, Float,
    Layout, Mat, Rng,
};
use lingrad::{linear, matmul, Accum, MatMut, Parallelism, ShapeError};
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::FileFailurePersistence;

/// Mostly 0..=40, sometimes up to 150 (several tiles and, with luck, several blocks).
fn dim() -> impl Strategy<Value = usize> {
    prop_oneof![8 => 0usize..=40, 1 => 41usize..=150]
}

/// The named layouts, and general padded/strided ones in either order.
fn layout() -> impl Strategy<Value = Layout> {
    prop_oneof![
        3 => select(Layout::ALL.to_vec()),
        1 => (0usize..=4, 1usize..=3, any::<bool>())
            .prop_map(|(pad, step, col_major)| Layout::General { pad, step, col_major }),
    ]
}

fn accum() -> impl Strategy<Value = Accum> {
    select(vec![Accum::Overwrite, Accum::Add])
}

fn parallelism() -> impl Strategy<Value = Parallelism> {
    select(vec![Parallelism::Sequential, Parallelism::Current])
}

fn matmul_case<T: Float>(
    seed: u64,
    (m, n, k): (usize, usize, usize),
    lay: [Layout; 3],
    accum: Accum,
    par: Parallelism,
) {
    let mut rng = Rng::new(seed);
    let a = Mat::<T>::random(m, k, lay[0], &mut rng);
    let b = Mat::<T>::random(k, n, lay[1], &mut rng);
    let mut c = output::<T>(m, n, lay[2], accum, &mut rng);
    let c0 = c.to_f64();
    matmul(a.view(), b.view(), c.view_mut(), accum, par).unwrap();
    let want = ref_matmul(a.view(), b.view()).accumulate(accum, &c0);
    assert_close(&c, &want, &(m, n, k, lay, accum, par));
}

fn forward_case<T: Float>(
    seed: u64,
    (batch, inf, outf): (usize, usize, usize),
    lay: [Layout; 3],
    with_bias: bool,
    accum: Accum,
    par: Parallelism,
) {
    let mut rng = Rng::new(seed);
    let x = Mat::<T>::random(batch, inf, lay[0], &mut rng);
    let w = Mat::<T>::random(inf, outf, lay[1], &mut rng);
    let bias: Vec<T> = rng.vec(outf);
    let bias = with_bias.then_some(&bias[..]);
    let mut y = output::<T>(batch, outf, lay[2], accum, &mut rng);
    let y0 = y.to_f64();
    linear::forward_accum(x.view(), w.view(), bias, y.view_mut(), accum, par).unwrap();
    let mut want = ref_matmul(x.view(), w.view());
    if let Some(b) = bias {
        want = want.add_row_vector(b);
    }
    let want = want.accumulate(accum, &y0);
    assert_close(&y, &want, &(batch, inf, outf, lay, with_bias, accum, par));
}

fn backward_case<T: Float>(
    seed: u64,
    (batch, inf, outf): (usize, usize, usize),
    lay: [Layout; 5],
    req: [Option<Accum>; 3],
    par: Parallelism,
) {
    let mut rng = Rng::new(seed);
    let x = Mat::<T>::random(batch, inf, lay[0], &mut rng);
    let w = Mat::<T>::random(inf, outf, lay[1], &mut rng);
    let dy = Mat::<T>::random(batch, outf, lay[2], &mut rng);
    let mode = |r: Option<Accum>| r.unwrap_or(Accum::Add);
    let mut dx = output::<T>(batch, inf, lay[3], mode(req[0]), &mut rng);
    let mut dw = output::<T>(inf, outf, lay[4], mode(req[1]), &mut rng);
    let mut db = output_vec::<T>(outf, mode(req[2]), &mut rng);
    let (dx0, dw0, db0) = (dx.clone(), dw.clone(), db.clone());
    let ctx = (batch, inf, outf, lay, req, par);

    let mut grads = linear::Grads::new();
    if let Some(a) = req[0] {
        grads = grads.dx(dx.view_mut(), a);
    }
    if let Some(a) = req[1] {
        grads = grads.dw(dw.view_mut(), a);
    }
    if let Some(a) = req[2] {
        grads = grads.db(&mut db, a);
    }
    linear::backward(x.view(), w.view(), dy.view(), grads, par).unwrap();

    match req[0] {
        Some(a) => assert_close(
            &dx,
            &ref_matmul(dy.view(), w.view().t()).accumulate(a, &dx0.to_f64()),
            &ctx,
        ),
        None => assert_eq!(bits(&dx.data), bits(&dx0.data), "{ctx:?}"),
    }
    match req[1] {
        Some(a) => assert_close(
            &dw,
            &ref_matmul(x.view().t(), dy.view()).accumulate(a, &dw0.to_f64()),
            &ctx,
        ),
        None => assert_eq!(bits(&dw.data), bits(&dw0.data), "{ctx:?}"),
    }
    match req[2] {
        Some(a) => {
            let db0: Vec<f64> = db0.iter().map(|v| v.to_f64()).collect();
            assert_close_slice(&db, &ref_col_sums(dy.view()).accumulate(a, &db0), &ctx);
        }
        None => assert_eq!(bits(&db), bits(&db0), "{ctx:?}"),
    }
}

proptest! {
    // `ProptestConfig::default()` reads PROPTEST_CASES. Failing cases are saved next to this
    // file (tests/proptest_shapes.regressions) and replayed first on the next run.
    #![proptest_config(ProptestConfig {
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("regressions"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn matmul_matches_reference(
        seed in any::<u64>(),
        m in dim(), n in dim(), k in dim(),
        la in layout(), lb in layout(), lc in layout(),
        accum in accum(),
        par in parallelism(),
    ) {
        matmul_case::<f32>(seed, (m, n, k), [la, lb, lc], accum, par);
        matmul_case::<f64>(seed, (m, n, k), [la, lb, lc], accum, par);
    }

    #[test]
    fn forward_matches_reference(
        seed in any::<u64>(),
        batch in dim(), inf in dim(), outf in dim(),
        lx in layout(), lw in layout(), ly in layout(),
        with_bias in any::<bool>(),
        accum in accum(),
        par in parallelism(),
    ) {
        forward_case::<f32>(seed, (batch, inf, outf), [lx, lw, ly], with_bias, accum, par);
        forward_case::<f64>(seed, (batch, inf, outf), [lx, lw, ly], with_bias, accum, par);
    }

    #[test]
    fn backward_matches_reference(
        seed in any::<u64>(),
        batch in dim(), inf in dim(), outf in dim(),
        lay in [layout(), layout(), layout(), layout(), layout()],
        req in [
            proptest::option::of(accum()),
            proptest::option::of(accum()),
            proptest::option::of(accum()),
        ],
        par in parallelism(),
    ) {
        backward_case::<f32>(seed, (batch, inf, outf), lay, req, par);
        backward_case::<f64>(seed, (batch, inf, outf), lay, req, par);
    }

    /// A `b` whose row count differs from `a`'s column count, or a `c` of the wrong shape, is
    /// rejected with `DimMismatch` and `c` keeps every bit.
    #[test]
    fn mismatched_matmul_is_rejected(
        seed in any::<u64>(),
        m in 0usize..=12, n in 0usize..=12, k in 0usize..=12,
        dk in 0usize..=3, dm in 0usize..=3, dn in 0usize..=3,
        accum in accum(),
    ) {
        // At least one dimension is off.
        let dk = if dk + dm + dn == 0 { 1 } else { dk };
        let mut rng = Rng::new(seed);
        let a = Mat::<f32>::random(m, k, Layout::RowMajor, &mut rng);
        let b = Mat::<f32>::random(k + dk, n, Layout::ColMajor, &mut rng);
        let (cm, cn) = (m + dm, n + dn);
        let mut c_data = vec![7.25f32; cm * cn + 1];
        let c = MatMut::strided(&mut c_data, cm, cn, cn.max(1), 1).unwrap();
        let err = matmul(a.view(), b.view(), c, accum, Parallelism::Current).unwrap_err();
        let operand = if dk > 0 { "b" } else { "c" };
        prop_assert!(
            matches!(err, ShapeError::DimMismatch { op: "matmul", operand: o, .. } if o == operand),
            "{:?}", err
        );
        prop_assert!(c_data.iter().all(|&v| v == 7.25));
    }

    /// `grad_weight` with a wrong `db` length writes neither `dw` nor `db`.
    #[test]
    fn mismatched_grad_weight_writes_nothing(
        seed in any::<u64>(),
        batch in 0usize..=10, inf in 0usize..=10, outf in 0usize..=10,
        extra in 1usize..=3,
        shorter in any::<bool>(),
    ) {
        let len = if shorter && outf >= extra { outf - extra } else { outf + extra };
        let mut rng = Rng::new(seed);
        let x = Mat::<f64>::random(batch, inf, Layout::Padded, &mut rng);
        let dy = Mat::<f64>::random(batch, outf, Layout::RowMajor, &mut rng);
        let mut dw = vec![7.25f64; inf * outf + 2];
        let mut db = vec![7.25f64; len];
        let err = linear::grad_weight(
            x.view(),
            dy.view(),
            MatMut::strided(&mut dw, inf, outf, outf.max(1), 1).unwrap(),
            Some(&mut db),
            Accum::Add,
            Parallelism::Current,
        )
        .unwrap_err();
        prop_assert!(
            matches!(err, ShapeError::LenMismatch { operand: "db", expected, found, .. }
                if expected == outf && found == len),
            "{:?}", err
        );
        prop_assert!(dw.iter().chain(&db).all(|&v| v == 7.25));
    }
}
