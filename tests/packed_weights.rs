//! `PackedWeights`: the packed routines give the same bits as the plain ones, for every
//! shape class (direct, packed, edge panels, several depth and column blocks), and `update`
//! follows new weights.

use lingrad::linear::{self, PackedWeights};
use lingrad::{Accum, MatMut, MatRef, Parallelism, ShapeError};

fn data(n: usize, seed: u64) -> Vec<f64> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        })
        .collect()
}

const SHAPES: [(usize, usize, usize); 9] = [
    (1, 37, 29),
    (7, 300, 5),
    (24, 257, 131),
    (25, 64, 64),
    (64, 513, 200),
    (97, 33, 17),
    (130, 1100, 70),
    (3, 5000, 40),
    (40, 20, 4200),
];

fn check<T: lingrad::Element>(par: Parallelism) {
    for (batch, inf, outf) in SHAPES {
        let to_t = |v: Vec<f64>| v.into_iter().map(T::from_f64).collect::<Vec<T>>();
        let x = to_t(data(batch * inf, 1));
        let w = to_t(data(inf * outf, 2));
        let bias = to_t(data(outf, 3));
        let dy = to_t(data(batch * outf, 4));
        let dx0 = to_t(data(batch * inf, 5));
        let x_ = MatRef::new(&x, batch, inf).unwrap();
        let w_ = MatRef::new(&w, inf, outf).unwrap();
        let dy_ = MatRef::new(&dy, batch, outf).unwrap();
        let packed = PackedWeights::new(w_).unwrap();
        assert_eq!((packed.in_features(), packed.out_features()), (inf, outf));

        let mut y1 = vec![T::from_f64(f64::NAN); batch * outf];
        let mut y2 = y1.clone();
        linear::forward(
            x_,
            w_,
            Some(&bias),
            MatMut::new(&mut y1, batch, outf).unwrap(),
            par,
        )
        .unwrap();
        linear::forward_packed(
            x_,
            &packed,
            Some(&bias),
            MatMut::new(&mut y2, batch, outf).unwrap(),
            par,
        )
        .unwrap();
        assert!(y1 == y2, "forward {batch}x{inf}x{outf}");
        // Spot-check against a direct sum so equality is not of two wrong results.
        let want: f64 = (0..inf)
            .map(|p| x[p].to_f64() * w[p * outf].to_f64())
            .sum::<f64>()
            + bias[0].to_f64();
        let tol = if core::mem::size_of::<T>() == 4 {
            1e-4
        } else {
            1e-12
        } * inf as f64;
        assert!(
            (y2[0].to_f64() - want).abs() <= tol,
            "forward value {batch}x{inf}x{outf}"
        );

        for accum in [Accum::Overwrite, Accum::Add] {
            let mut dx1 = dx0.clone();
            let mut dx2 = dx0.clone();
            linear::grad_input(
                dy_,
                w_,
                MatMut::new(&mut dx1, batch, inf).unwrap(),
                accum,
                par,
            )
            .unwrap();
            linear::grad_input_packed(
                dy_,
                &packed,
                MatMut::new(&mut dx2, batch, inf).unwrap(),
                accum,
                par,
            )
            .unwrap();
            assert!(dx1 == dx2, "grad_input {batch}x{inf}x{outf} {accum:?}");
        }
    }
}

#[test]
fn packed_routines_match_plain_ones_f32() {
    check::<f32>(Parallelism::Sequential);
    check::<f32>(Parallelism::Current);
}

#[test]
fn packed_routines_match_plain_ones_f64() {
    check::<f64>(Parallelism::Sequential);
    check::<f64>(Parallelism::Current);
}

#[test]
fn update_follows_new_weights_and_checks_the_shape() {
    let w1 = [1.0f32, 2.0, 3.0, 4.0];
    let w2 = [0.5f32, 0.0, 0.0, 0.5];
    let mut packed = PackedWeights::new(MatRef::new(&w1, 2, 2).unwrap()).unwrap();
    packed.update(MatRef::new(&w2, 2, 2).unwrap()).unwrap();
    let x = [2.0f32, 4.0];
    let mut y = [0.0f32; 2];
    let run = |packed: &PackedWeights<f32>, y: &mut [f32]| {
        linear::forward_packed(
            MatRef::new(&x, 1, 2).unwrap(),
            packed,
            None,
            MatMut::new(y, 1, 2).unwrap(),
            Parallelism::Sequential,
        )
    };
    run(&packed, &mut y).unwrap();
    assert_eq!(y, [1.0, 2.0]);

    let bad = [0.0f32; 6];
    let err = packed.update(MatRef::new(&bad, 3, 2).unwrap()).unwrap_err();
    assert!(matches!(
        err,
        ShapeError::DimMismatch {
            op: "PackedWeights::update",
            ..
        }
    ));
    // Unchanged by the rejected update.
    run(&packed, &mut y).unwrap();
    assert_eq!(y, [1.0, 2.0]);

    // A mismatched input is rejected before y is written.
    let mut y3 = [7.25f32; 3];
    let err = linear::forward_packed(
        MatRef::new(&x, 1, 2).unwrap(),
        &packed,
        None,
        MatMut::new(&mut y3, 1, 3).unwrap(),
        Parallelism::Sequential,
    )
    .unwrap_err();
    assert!(matches!(err, ShapeError::DimMismatch { operand: "y", .. }));
    assert_eq!(y3, [7.25; 3]);
}
