//! `lingrad::matmul` on small arbitrary shapes (0 included), layouts, accumulation modes and
//! values.
//!
//! Oracle: no panic; when the shapes agree the call returns `Ok` and every element of `c` matches
//! an f64 reference within a tolerance that grows with `k` (checked when the inputs are finite),
//! no gap of `c`'s buffer is written, and `Parallelism::Sequential` and `Parallelism::Current`
//! give the same bits; when they disagree it returns `Err` and `c`'s buffer is bit-for-bit
//! unchanged.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use lingrad::{matmul, Element};
use lingrad_fuzz::{
    accum, assert_gaps_unchanged, assert_unchanged, dim, parallelism, perturb, Layout, Operand,
    Product, ValueStream, Values,
};

#[derive(Arbitrary, Debug)]
struct Input {
    m: u16,
    n: u16,
    k: u16,
    a: Layout,
    b: Layout,
    c: Layout,
    /// Perturbations of `b.rows`, `c.rows`, `c.cols` that make the shapes disagree.
    b_rows: Option<i8>,
    c_rows: Option<i8>,
    c_cols: Option<i8>,
    add: bool,
    parallel: bool,
    f64: bool,
    /// With `Accum::Overwrite`, fill `c` with NaN first: it must not be read.
    nan_c: bool,
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
    // Mostly below 40, sometimes up to 64 × 64 × 300: two depth blocks (KC = 256), and the
    // size at which a call may use threads (m·n·k ≥ 2^20).
    let (m, n, k) = (dim(input.m, 64), dim(input.n, 64), dim(input.k, 300));
    let nan = T::from_f64(f64::NAN);
    let mut values = ValueStream::new(input.values.clone());
    let a = Operand::<T>::new(m, k, input.a, &mut values, nan);
    let b = Operand::<T>::new(perturb(k, input.b_rows), n, input.b, &mut values, nan);
    let mut c = Operand::<T>::new(
        perturb(m, input.c_rows),
        perturb(n, input.c_cols),
        input.c,
        &mut values,
        nan,
    );
    let add = input.add;
    if !add && input.nan_c {
        c.data.fill(nan);
    }
    let valid = b.rows() == a.cols() && c.rows() == a.rows() && c.cols() == b.cols();
    let (Some(a_view), Some(b_view)) = (a.view(), b.view()) else {
        return;
    };
    let initial = c.clone();
    let before = c.bits();
    let Some(c_view) = c.view_mut() else {
        return;
    };

    let result = matmul(
        a_view,
        b_view,
        c_view,
        accum(add),
        parallelism(input.parallel),
    );
    if !valid {
        let err = result.expect_err("mismatched shapes must be rejected");
        let _ = err.to_string();
        assert_unchanged("c", &before, &c.bits());
        return;
    }
    result.expect("consistent shapes must be accepted");
    assert_gaps_unchanged("c", &c, &before);

    // The other parallelism mode must give the same bits.
    let mut other = initial.clone();
    matmul(
        a_view,
        b_view,
        other.view_mut().expect("accepted above"),
        accum(add),
        parallelism(!input.parallel),
    )
    .expect("consistent shapes must be accepted");
    assert!(
        other.bits() == c.bits(),
        "Sequential and Current differ for {m}x{k} · {k}x{n}"
    );
    let reference = Product::new((m, k, n), |i, p| a.at(i, p), |p, j| b.at(p, j));
    for i in 0..m {
        for j in 0..n {
            let c0 = add.then(|| initial.at(i, j));
            reference
                .at(i, j, c0)
                .assert_matches(c.at(i, j), k + 1, &|| {
                    format!("c[{i}, {j}] of {m}x{k} · {k}x{n}")
                });
        }
    }
}
