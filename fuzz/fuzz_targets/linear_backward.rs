//! `lingrad::linear::backward` with any subset of `dx`, `dW`, `db`, each overwritten or
//! accumulated, on small arbitrary shapes, layouts and values.
//!
//! Oracle: no panic; consistent shapes give `Ok` and `dx = dy·Wᵀ`, `dW = xᵀ·dy`,
//! `db = Σ_rows dy` match an f64 reference within a tolerance that grows with the length of the
//! sum (checked for finite inputs), gaps of the output buffers untouched; inconsistent shapes
//! give `Err` with every output buffer bit-for-bit unchanged. `linear::grad_input_packed` gives
//! the same bits as `linear::grad_input`.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use lingrad::{linear, Element};
use lingrad_fuzz::{
    accum, assert_gaps_unchanged, assert_unchanged, dim, parallelism, perturb, Layout, Operand,
    Product, Sum, ValueStream, Values,
};

/// A requested gradient: its layout, a shape perturbation, and `Accum::Add` or not.
#[derive(Arbitrary, Debug, Clone, Copy)]
struct Out {
    layout: Layout,
    rows: Option<i8>,
    cols: Option<i8>,
    add: bool,
}

#[derive(Arbitrary, Debug)]
struct Input {
    batch: u16,
    in_features: u16,
    out_features: u16,
    x: Layout,
    w: Layout,
    dy: Layout,
    w_rows: Option<i8>,
    dy_rows: Option<i8>,
    dx: Option<Out>,
    dw: Option<Out>,
    db: Option<Out>,
    parallel: bool,
    f64: bool,
    /// Fill the outputs with NaN where they are overwritten: they must not be read.
    nan_outputs: bool,
    values: Values,
}

fuzz_target!(|input: Input| {
    if input.f64 {
        run::<f64>(&input);
    } else {
        run::<f32>(&input);
    }
});

/// An output operand for `out`, expected `rows × cols`.
fn output<T: Element>(
    out: Option<Out>,
    rows: usize,
    cols: usize,
    values: &mut ValueStream,
    nan_outputs: bool,
) -> Option<Operand<T>> {
    let out = out?;
    let nan = T::from_f64(f64::NAN);
    let mut op = Operand::new(
        perturb(rows, out.rows),
        perturb(cols, out.cols),
        out.layout,
        values,
        nan,
    );
    if !out.add && nan_outputs {
        op.data.fill(nan);
    }
    Some(op)
}

fn run<T: Element>(input: &Input) {
    // The batch is the reduction of dW and db: let it cross a depth block (KC = 256).
    let (batch, in_f, out_f) = (
        dim(input.batch, 300),
        dim(input.in_features, 64),
        dim(input.out_features, 64),
    );
    let nan = T::from_f64(f64::NAN);
    let mut values = ValueStream::new(input.values.clone());
    let x = Operand::<T>::new(batch, in_f, input.x, &mut values, nan);
    let w = Operand::<T>::new(
        perturb(in_f, input.w_rows),
        out_f,
        input.w,
        &mut values,
        nan,
    );
    let dy = Operand::<T>::new(
        perturb(batch, input.dy_rows),
        out_f,
        input.dy,
        &mut values,
        nan,
    );
    let mut dx = output::<T>(input.dx, batch, in_f, &mut values, input.nan_outputs);
    let mut dw = output::<T>(input.dw, in_f, out_f, &mut values, input.nan_outputs);
    // db is a plain slice: its length is the perturbed column count of a 1-row operand.
    let mut db: Option<Vec<T>> = input.db.map(|o| {
        let nan_fill = !o.add && input.nan_outputs;
        (0..perturb(out_f, o.cols))
            .map(|_| if nan_fill { nan } else { values.next_value() })
            .collect()
    });
    let valid = w.rows() == in_f
        && dy.rows() == batch
        && dx
            .as_ref()
            .is_none_or(|d| (d.rows(), d.cols()) == (batch, in_f))
        && dw
            .as_ref()
            .is_none_or(|d| (d.rows(), d.cols()) == (in_f, out_f))
        && db.as_ref().is_none_or(|d| d.len() == out_f);
    let (Some(x_view), Some(w_view), Some(dy_view)) = (x.view(), w.view(), dy.view()) else {
        return;
    };
    let (dx0, dw0, db0) = (dx.clone(), dw.clone(), db.clone());
    let bits = |o: &Option<Operand<T>>| o.as_ref().map(Operand::bits);
    let (dx_bits, dw_bits) = (bits(&dx), bits(&dw));

    let mut grads = linear::Grads::new();
    if let (Some(op), Some(o)) = (dx.as_mut(), input.dx) {
        let Some(v) = op.view_mut() else { return };
        grads = grads.dx(v, accum(o.add));
    }
    if let (Some(op), Some(o)) = (dw.as_mut(), input.dw) {
        let Some(v) = op.view_mut() else { return };
        grads = grads.dw(v, accum(o.add));
    }
    if let (Some(d), Some(o)) = (db.as_mut(), input.db) {
        grads = grads.db(d, accum(o.add));
    }

    let result = linear::backward(x_view, w_view, dy_view, grads, parallelism(input.parallel));
    if !valid {
        let _ = result
            .expect_err("mismatched shapes must be rejected")
            .to_string();
        if let (Some(d), Some(b)) = (&dx, &dx_bits) {
            assert_unchanged("dx", b, &d.bits());
        }
        if let (Some(d), Some(b)) = (&dw, &dw_bits) {
            assert_unchanged("dw", b, &d.bits());
        }
        if let (Some(d), Some(d0)) = (&db, &db0) {
            let b = |v: &[T]| v.iter().map(|e| e.to_f64().to_bits()).collect::<Vec<_>>();
            assert_unchanged("db", &b(d0), &b(d));
        }
        return;
    }
    result.expect("consistent shapes must be accepted");

    // `grad_input_packed` must give the same bits as `grad_input` on the same W.
    if let (Some(d0), Some(o)) = (&dx0, input.dx) {
        let packed = linear::PackedWeights::new(w_view).expect("any W view can be packed");
        let (mut plain, mut with_packed) = (d0.clone(), d0.clone());
        let par = parallelism(input.parallel);
        linear::grad_input(
            dy_view,
            w_view,
            plain.view_mut().expect("accepted"),
            accum(o.add),
            par,
        )
        .expect("consistent shapes must be accepted by grad_input");
        let dx_view = with_packed.view_mut().expect("accepted");
        linear::grad_input_packed(dy_view, &packed, dx_view, accum(o.add), par)
            .expect("consistent shapes must be accepted by grad_input_packed");
        assert!(
            plain.bits_any_nan() == with_packed.bits_any_nan(),
            "grad_input_packed differs from grad_input for batch {batch}, {in_f} -> {out_f}"
        );
    }

    if let (Some(d), Some(d0), Some(b), Some(o)) = (&dx, &dx0, &dx_bits, input.dx) {
        assert_gaps_unchanged("dx", d, b);
        let reference = Product::new((batch, out_f, in_f), |i, j| dy.at(i, j), |j, p| w.at(p, j));
        for i in 0..batch {
            for p in 0..in_f {
                let s = reference.at(i, p, o.add.then(|| d0.at(i, p)));
                s.assert_matches(d.at(i, p), out_f + 1, &|| format!("dx[{i}, {p}]"));
            }
        }
    }
    if let (Some(d), Some(d0), Some(b), Some(o)) = (&dw, &dw0, &dw_bits, input.dw) {
        assert_gaps_unchanged("dw", d, b);
        let reference = Product::new((in_f, batch, out_f), |p, i| x.at(i, p), |i, j| dy.at(i, j));
        for p in 0..in_f {
            for j in 0..out_f {
                let s = reference.at(p, j, o.add.then(|| d0.at(p, j)));
                s.assert_matches(d.at(p, j), batch + 1, &|| format!("dw[{p}, {j}]"));
            }
        }
    }
    if let (Some(d), Some(d0), Some(o)) = (&db, &db0, input.db) {
        for j in 0..out_f {
            let mut s = Sum::new();
            if o.add {
                s.add(&[d0[j]]);
            }
            for i in 0..batch {
                s.add(&[dy.at(i, j)]);
            }
            s.assert_matches(d[j], batch + 1, &|| format!("db[{j}]"));
        }
    }
}
