//! `lingrad::linear::forward_accum` (`y = x·W + bias`, or `y += …`) on small arbitrary shapes,
//! layouts and values, with and without a bias.
//!
//! `linear::forward_packed` runs on the same operands with W packed ahead of time.
//!
//! Oracle: no panic; consistent shapes give `Ok` and `y` matches an f64 reference within a
//! tolerance that grows with `in_features` (checked for finite inputs), gaps of `y`'s buffer
//! untouched; inconsistent shapes give `Err` with `y`'s buffer bit-for-bit unchanged. With
//! `Accum::Overwrite`, `forward_packed` gives the same bits as `forward`.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use lingrad::{linear, Element};
use lingrad_fuzz::{
    accum, assert_gaps_unchanged, assert_unchanged, dim, parallelism, perturb, Layout, Operand,
    Product, ValueStream, Values,
};

#[derive(Arbitrary, Debug)]
struct Input {
    batch: u16,
    in_features: u16,
    out_features: u16,
    x: Layout,
    w: Layout,
    y: Layout,
    /// Perturbations that make the shapes disagree.
    w_rows: Option<i8>,
    y_rows: Option<i8>,
    y_cols: Option<i8>,
    /// `None`: no bias; `Some(d)`: a bias of `perturb(out_features, d)` elements.
    bias: Option<Option<i8>>,
    add: bool,
    parallel: bool,
    f64: bool,
    nan_y: bool,
    values: Values,
}

fuzz_target!(|input: Input| {
    if input.f64 {
        run::<f64>(&input);
    } else {
        run::<f32>(&input);
    }
});

fn run<T: Element>(input: &Input) {
    let (batch, in_f, out_f) = (
        dim(input.batch, 64),
        dim(input.in_features, 300),
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
    let bias: Option<Vec<T>> = input.bias.map(|d| {
        (0..perturb(out_f, d))
            .map(|_| values.next_value())
            .collect()
    });
    let mut y = Operand::<T>::new(
        perturb(batch, input.y_rows),
        perturb(out_f, input.y_cols),
        input.y,
        &mut values,
        nan,
    );
    if !input.add && input.nan_y {
        y.data.fill(nan);
    }
    let valid = w.rows() == in_f
        && y.rows() == batch
        && y.cols() == w.cols()
        && bias.as_ref().is_none_or(|b| b.len() == w.cols());
    let (Some(x_view), Some(w_view)) = (x.view(), w.view()) else {
        return;
    };
    let initial = y.clone();
    let before = y.bits();
    let Some(y_view) = y.view_mut() else {
        return;
    };

    let result = linear::forward_accum(
        x_view,
        w_view,
        bias.as_deref(),
        y_view,
        accum(input.add),
        parallelism(input.parallel),
    );
    // The same product with W packed ahead of time: the same verdict, and with
    // `Accum::Overwrite` the same bits.
    let packed = linear::PackedWeights::new(w_view).expect("any W view can be packed");
    let mut y_packed = initial.clone();
    let packed_result = linear::forward_packed(
        x_view,
        &packed,
        bias.as_deref(),
        y_packed.view_mut().expect("accepted above"),
        parallelism(input.parallel),
    );
    if !valid {
        let _ = result
            .expect_err("mismatched shapes must be rejected")
            .to_string();
        let _ = packed_result
            .expect_err("mismatched shapes must be rejected by forward_packed")
            .to_string();
        assert_unchanged("y", &before, &y.bits());
        assert_unchanged("y (forward_packed)", &before, &y_packed.bits());
        return;
    }
    result.expect("consistent shapes must be accepted");
    packed_result.expect("consistent shapes must be accepted by forward_packed");
    assert_gaps_unchanged("y", &y, &before);
    if !input.add {
        assert!(
            y.bits_any_nan() == y_packed.bits_any_nan(),
            "forward_packed differs from forward for batch {batch}, {in_f} -> {out_f}"
        );
    }
    let reference = Product::new((batch, in_f, out_f), |i, p| x.at(i, p), |p, j| w.at(p, j));
    for i in 0..batch {
        for j in 0..out_f {
            let y0 = input.add.then(|| initial.at(i, j));
            let mut sum = reference.at(i, j, y0);
            if let Some(b) = &bias {
                sum.add(&[b[j]]);
            }
            sum.assert_matches(y.at(i, j), in_f + 2, &|| {
                format!("y[{i}, {j}] for batch {batch}, {in_f} -> {out_f}")
            });
        }
    }
}
