//! A catalogue of rejected calls, one or more per public entry point: each returns the
//! documented `ShapeError` variant, names the operation, describes the shapes in its message,
//! and leaves every output exactly as it was.

mod common;

use std::panic::catch_unwind;

use common::{ref_matmul, Rng};
use lingrad::{linear, matmul, Accum, Linear, MatMut, MatRef, Parallelism, Param, ShapeError};

/// What every output buffer holds before a rejected call, and must still hold after it.
const SENTINEL: f32 = 7.25;

fn sentinel(n: usize) -> Vec<f32> {
    vec![SENTINEL; n]
}

#[track_caller]
fn assert_intact(buf: &[f32], what: &str) {
    for (i, &v) in buf.iter().enumerate() {
        assert!(
            v.to_bits() == SENTINEL.to_bits(),
            "{what}: element {i} was overwritten with {v} by a rejected call"
        );
    }
}

/// Checks the parts every error shares: the operation's name, a message that names the
/// operation and every shape in the error's fields, and the `Error` impl.
#[track_caller]
fn check_common(err: &ShapeError, op: &str) {
    assert_eq!(err.op(), op, "{err:?}");
    let msg = err.to_string();
    assert!(msg.starts_with(op), "message {msg:?} does not name {op}");
    let needles: Vec<String> = match *err {
        ShapeError::BufferTooShort {
            rows,
            cols,
            row_stride,
            col_stride,
            required,
            len,
            ..
        } => vec![
            format!("{rows}x{cols}"),
            format!("({row_stride}, {col_stride})"),
            required.to_string(),
            len.to_string(),
        ],
        ShapeError::Overflow {
            rows,
            cols,
            row_stride,
            col_stride,
            ..
        } => vec![
            format!("{rows}x{cols}"),
            format!("({row_stride}, {col_stride})"),
        ],
        ShapeError::AliasingStrides {
            rows,
            cols,
            row_stride,
            col_stride,
            ..
        } => vec![
            format!("{rows}x{cols}"),
            format!("({row_stride}, {col_stride})"),
        ],
        ShapeError::DimMismatch {
            operand,
            expected,
            found,
            ..
        } => vec![
            operand.to_string(),
            format!("{}x{}", expected.0, expected.1),
            format!("{}x{}", found.0, found.1),
        ],
        ShapeError::LenMismatch {
            operand,
            expected,
            found,
            ..
        } => vec![operand.to_string(), expected.to_string(), found.to_string()],
        _ => panic!("unexpected variant {err:?}"),
    };
    for needle in needles {
        assert!(msg.contains(&needle), "message {msg:?} lacks {needle:?}");
    }
    let as_error: &dyn std::error::Error = err;
    assert_eq!(as_error.to_string(), msg);
    assert!(as_error.source().is_none());
}

/// `Err(DimMismatch)` for `operand` with these shapes, from `op`.
#[track_caller]
fn expect_dim(
    r: Result<(), ShapeError>,
    op: &str,
    operand: &str,
    expected: (usize, usize),
    found: (usize, usize),
) {
    let err = r.expect_err("a bad call was accepted");
    assert!(
        matches!(
            err,
            ShapeError::DimMismatch { operand: o, expected: e, found: f, .. }
                if o == operand && e == expected && f == found
        ),
        "expected DimMismatch {{ {operand}, {expected:?}, {found:?} }}, got {err:?}"
    );
    check_common(&err, op);
}

/// `Err(LenMismatch)` for `operand` with these lengths, from `op`.
#[track_caller]
fn expect_len(r: Result<(), ShapeError>, op: &str, operand: &str, expected: usize, found: usize) {
    let err = r.expect_err("a bad call was accepted");
    assert!(
        matches!(
            err,
            ShapeError::LenMismatch { operand: o, expected: e, found: f, .. }
                if o == operand && e == expected && f == found
        ),
        "expected LenMismatch {{ {operand}, {expected}, {found} }}, got {err:?}"
    );
    check_common(&err, op);
}

/// Valid operands for a layer with batch 3, in 4, out 5, and their sentinel outputs.
struct Setup {
    x: Vec<f32>,
    w: Vec<f32>,
    bias: Vec<f32>,
    dy: Vec<f32>,
}

const B: usize = 3;
const I: usize = 4;
const O: usize = 5;

impl Setup {
    fn new() -> Self {
        let mut rng = Rng::new(0xBAD);
        Self {
            x: rng.vec(B * I),
            w: rng.vec(I * O),
            bias: rng.vec(O),
            dy: rng.vec(B * O),
        }
    }
    fn x(&self) -> MatRef<'_, f32> {
        MatRef::new(&self.x, B, I).unwrap()
    }
    fn w(&self) -> MatRef<'_, f32> {
        MatRef::new(&self.w, I, O).unwrap()
    }
    fn dy(&self) -> MatRef<'_, f32> {
        MatRef::new(&self.dy, B, O).unwrap()
    }
}

const SEQ: Parallelism = Parallelism::Sequential;
const CUR: Parallelism = Parallelism::Current;

// ---- views -------------------------------------------------------------------------------

#[test]
fn matref_new_short_buffer() {
    let data = [1.0f32; 5];
    let err = MatRef::new(&data, 2, 3).unwrap_err();
    assert!(
        matches!(
            err,
            ShapeError::BufferTooShort {
                rows: 2,
                cols: 3,
                row_stride: 3,
                col_stride: 1,
                required: 6,
                len: 5,
                ..
            }
        ),
        "{err:?}"
    );
    check_common(&err, "MatRef::new");
}

#[test]
fn matref_new_overflowing_dims() {
    let data = [1.0f32; 4];
    for (rows, cols) in [(usize::MAX, 2), (2, usize::MAX), (1 << 33, 1 << 33)] {
        let err = MatRef::new(&data, rows, cols).unwrap_err();
        assert!(
            matches!(err, ShapeError::Overflow { rows: r, cols: c, .. } if r == rows && c == cols),
            "{err:?}"
        );
        check_common(&err, "MatRef::new");
    }
}

#[test]
fn matref_strided_short_buffer() {
    let data = [1.0f64; 6];
    // 2×3 with a padded row stride of 4 needs 4 + 2 + 1 = 7 elements.
    let err = MatRef::strided(&data, 2, 3, 4, 1).unwrap_err();
    assert!(
        matches!(
            err,
            ShapeError::BufferTooShort {
                required: 7,
                len: 6,
                row_stride: 4,
                ..
            }
        ),
        "{err:?}"
    );
    check_common(&err, "MatRef::strided");
    // Column stride 2 on a 1×4 view needs 7.
    let err = MatRef::strided(&data, 1, 4, 0, 2).unwrap_err();
    assert!(
        matches!(
            err,
            ShapeError::BufferTooShort {
                required: 7,
                len: 6,
                ..
            }
        ),
        "{err:?}"
    );
    check_common(&err, "MatRef::strided");
}

#[test]
fn matref_strided_overflowing_strides() {
    let data = [1.0f32; 4];
    let cases = [
        (2, 2, usize::MAX, 1),
        (2, 2, 1, usize::MAX),
        (1, 3, 0, usize::MAX / 2 + 1),
        // Fits in usize but not in isize: no allocation can be that long.
        (2, 1, isize::MAX as usize, 1),
    ];
    for (rows, cols, rs, cs) in cases {
        let err = MatRef::strided(&data, rows, cols, rs, cs).unwrap_err();
        assert!(
            matches!(err, ShapeError::Overflow { row_stride, col_stride, .. }
                if row_stride == rs && col_stride == cs),
            "{rows}x{cols} ({rs}, {cs}): {err:?}"
        );
        check_common(&err, "MatRef::strided");
    }
}

#[test]
fn matmut_new_short_buffer() {
    let mut data = sentinel(11);
    let err = MatMut::new(&mut data, 3, 4).unwrap_err();
    assert!(
        matches!(
            err,
            ShapeError::BufferTooShort {
                required: 12,
                len: 11,
                ..
            }
        ),
        "{err:?}"
    );
    check_common(&err, "MatMut::new");
    assert_intact(&data, "MatMut::new");
}

#[test]
fn matmut_new_overflowing_dims() {
    let mut data = sentinel(4);
    let err = MatMut::new(&mut data, usize::MAX, usize::MAX).unwrap_err();
    assert!(matches!(err, ShapeError::Overflow { .. }), "{err:?}");
    check_common(&err, "MatMut::new");
    assert_intact(&data, "MatMut::new");
}

#[test]
fn matmut_strided_short_buffer() {
    let mut data = sentinel(8);
    // 2×3 every other element: 5 + 4 + 1 = 10 elements.
    let err = MatMut::strided(&mut data, 2, 3, 5, 2).unwrap_err();
    assert!(
        matches!(
            err,
            ShapeError::BufferTooShort {
                required: 10,
                len: 8,
                ..
            }
        ),
        "{err:?}"
    );
    check_common(&err, "MatMut::strided");
    assert_intact(&data, "MatMut::strided");
}

#[test]
fn matmut_strided_overflowing_strides() {
    let mut data = sentinel(4);
    for (rs, cs) in [(usize::MAX, 1), (1, usize::MAX), (usize::MAX, usize::MAX)] {
        let err = MatMut::strided(&mut data, 2, 2, rs, cs).unwrap_err();
        assert!(
            matches!(err, ShapeError::Overflow { .. }),
            "({rs}, {cs}): {err:?}"
        );
        check_common(&err, "MatMut::strided");
    }
    assert_intact(&data, "MatMut::strided");
}

#[test]
fn matmut_strided_zero_stride_aliases() {
    let mut data = sentinel(16);
    let cases = [
        (2, 2, 4, 0), // two columns, one address per row
        (3, 2, 0, 1), // three rows on top of each other
        (1, 5, 0, 0), // one row, columns collapsed
        (4, 1, 0, 7), // one column, rows collapsed
    ];
    for (rows, cols, rs, cs) in cases {
        let err = MatMut::strided(&mut data, rows, cols, rs, cs).unwrap_err();
        assert!(
            matches!(err, ShapeError::AliasingStrides { rows: r, cols: c, row_stride, col_stride, .. }
                if (r, c, row_stride, col_stride) == (rows, cols, rs, cs)),
            "{rows}x{cols} ({rs}, {cs}): {err:?}"
        );
        check_common(&err, "MatMut::strided");
    }
    assert_intact(&data, "MatMut::strided");
}

#[test]
fn matmut_strided_overlapping_strides() {
    let mut data = sentinel(16);
    let cases = [
        (2, 2, 1, 1), // (0,1) and (1,0) share an address
        (3, 3, 2, 1), // rows overlap by one element
        (3, 3, 1, 2), // columns overlap
        (2, 3, 2, 3), // interleaved: rejected though injective (documented)
    ];
    for (rows, cols, rs, cs) in cases {
        let err = MatMut::strided(&mut data, rows, cols, rs, cs).unwrap_err();
        assert!(
            matches!(err, ShapeError::AliasingStrides { .. }),
            "{rows}x{cols} ({rs}, {cs}): {err:?}"
        );
        check_common(&err, "MatMut::strided");
    }
    assert_intact(&data, "MatMut::strided");
}

/// Mutable views with no elements cannot alias, whatever their strides; the contiguous
/// constructor must accept every empty shape (`MatMut::new(&mut [], rows, 0)` gets row stride
/// 0 and is rejected as aliasing when rows ≥ 2).
#[test]
fn empty_mutable_views_are_valid() {
    let mut data: [f32; 0] = [];
    for (rows, cols) in [(0, 0), (1, 0), (0, 1), (6, 0), (0, 6), (2, 0)] {
        let r = MatMut::new(&mut data, rows, cols);
        assert!(r.is_ok(), "MatMut::new(&mut [], {rows}, {cols}) = {r:?}");
        let r = MatMut::new(&mut data, cols, rows).map(MatMut::t);
        assert!(
            r.is_ok(),
            "MatMut::new(&mut [], {cols}, {rows}).t() = {r:?}"
        );
    }
    // Immutable views already accept them.
    assert!(MatRef::new(&data, 6, 0).is_ok());
}

// ---- matmul ------------------------------------------------------------------------------

#[test]
fn matmul_inner_dimension_mismatch() {
    let s = Setup::new();
    let mut c = sentinel(B * O);
    // a = x (3×4), b = dy (3×5): inner 4 ≠ 3.
    let r = matmul(
        s.x(),
        s.dy(),
        MatMut::new(&mut c, B, O).unwrap(),
        Accum::Overwrite,
        SEQ,
    );
    expect_dim(r, "matmul", "b", (I, O), (B, O));
    assert_intact(&c, "c");
}

#[test]
fn matmul_wrong_c_shape() {
    let s = Setup::new();
    let mut c = sentinel(64);
    // a·b is x (3×4) · w (4×5) = 3×5.
    for (rows, cols) in [(B + 1, O), (B, O - 1), (O, B), (0, 0)] {
        for accum in [Accum::Overwrite, Accum::Add] {
            let cm = MatMut::strided(&mut c, rows, cols, 8, 1).unwrap();
            let r = matmul(s.x(), s.w(), cm, accum, CUR);
            expect_dim(r, "matmul", "c", (B, O), (rows, cols));
        }
    }
    assert_intact(&c, "c");
}

#[test]
fn matmul_transposed_operand_mismatch() {
    let s = Setup::new();
    let mut c = sentinel(B * O);
    // w.t() is 5×4, not 4×5.
    let r = matmul(
        s.x(),
        s.w().t(),
        MatMut::new(&mut c, B, O).unwrap(),
        Accum::Add,
        CUR,
    );
    expect_dim(r, "matmul", "b", (I, I), (O, I));
    assert_intact(&c, "c");
}

// ---- forward -----------------------------------------------------------------------------

#[test]
fn forward_wrong_w() {
    let s = Setup::new();
    let mut y = sentinel(B * O);
    let w_bad = MatRef::new(&s.w[..(I - 1) * O], I - 1, O).unwrap();
    let r = linear::forward(
        s.x(),
        w_bad,
        Some(&s.bias),
        MatMut::new(&mut y, B, O).unwrap(),
        CUR,
    );
    expect_dim(r, "linear::forward", "w", (I, O), (I - 1, O));
    assert_intact(&y, "y");
}

#[test]
fn forward_wrong_y() {
    let s = Setup::new();
    let mut y = sentinel(32);
    for (rows, cols) in [(B, O + 1), (B - 1, O), (O, B)] {
        let ym = MatMut::new(&mut y, rows, cols).unwrap();
        let r = linear::forward(s.x(), s.w(), None, ym, SEQ);
        expect_dim(r, "linear::forward", "y", (B, O), (rows, cols));
    }
    assert_intact(&y, "y");
}

#[test]
fn forward_wrong_bias_length() {
    let s = Setup::new();
    let mut y = sentinel(B * O);
    for len in [0, O - 1, O + 1] {
        let bias = vec![1.0f32; len];
        let r = linear::forward(
            s.x(),
            s.w(),
            Some(&bias),
            MatMut::new(&mut y, B, O).unwrap(),
            CUR,
        );
        expect_len(r, "linear::forward", "bias", O, len);
    }
    assert_intact(&y, "y");
}

#[test]
fn forward_accum_wrong_shapes() {
    let s = Setup::new();
    let mut y = sentinel(B * O + 8);
    for accum in [Accum::Overwrite, Accum::Add] {
        let r = linear::forward_accum(
            s.x(),
            s.w(),
            Some(&s.bias),
            MatMut::new(&mut y, B + 1, O).unwrap(),
            accum,
            CUR,
        );
        expect_dim(r, "linear::forward_accum", "y", (B, O), (B + 1, O));
        let r = linear::forward_accum(
            s.x(),
            s.w(),
            Some(&s.bias[..O - 2]),
            MatMut::new(&mut y, B, O).unwrap(),
            accum,
            CUR,
        );
        expect_len(r, "linear::forward_accum", "bias", O, O - 2);
        let r = linear::forward_accum(
            s.x().t(),
            s.w(),
            None,
            MatMut::new(&mut y, I, O).unwrap(),
            accum,
            CUR,
        );
        expect_dim(r, "linear::forward_accum", "w", (B, O), (I, O));
    }
    assert_intact(&y, "y");
}

// ---- gradients ---------------------------------------------------------------------------

#[test]
fn grad_bias_wrong_length() {
    let s = Setup::new();
    for len in [0, O - 1, O + 1, B] {
        for accum in [Accum::Overwrite, Accum::Add] {
            let mut db = sentinel(len);
            let r = linear::grad_bias(s.dy(), &mut db, accum);
            expect_len(r, "linear::grad_bias", "db", O, len);
            assert_intact(&db, "db");
        }
    }
}

#[test]
fn grad_input_wrong_w() {
    let s = Setup::new();
    let mut dx = sentinel(B * I);
    // w with out_features 4 where dy has 5 columns.
    let w_bad = MatRef::new(&s.w[..I * (O - 1)], I, O - 1).unwrap();
    let r = linear::grad_input(
        s.dy(),
        w_bad,
        MatMut::new(&mut dx, B, I).unwrap(),
        Accum::Add,
        CUR,
    );
    expect_dim(r, "linear::grad_input", "w", (I, O), (I, O - 1));
    assert_intact(&dx, "dx");
}

#[test]
fn grad_input_wrong_dx() {
    let s = Setup::new();
    let mut dx = sentinel(32);
    for (rows, cols) in [(B, I + 1), (B + 1, I), (I, B)] {
        let r = linear::grad_input(
            s.dy(),
            s.w(),
            MatMut::new(&mut dx, rows, cols).unwrap(),
            Accum::Overwrite,
            SEQ,
        );
        expect_dim(r, "linear::grad_input", "dx", (B, I), (rows, cols));
    }
    assert_intact(&dx, "dx");
}

#[test]
fn grad_weight_wrong_dy() {
    let s = Setup::new();
    let mut dw = sentinel(I * O);
    let mut db = sentinel(O);
    // dy with one row fewer than x.
    let dy_bad = MatRef::new(&s.dy[..(B - 1) * O], B - 1, O).unwrap();
    let r = linear::grad_weight(
        s.x(),
        dy_bad,
        MatMut::new(&mut dw, I, O).unwrap(),
        Some(&mut db),
        Accum::Overwrite,
        CUR,
    );
    expect_dim(r, "linear::grad_weight", "dy", (B, O), (B - 1, O));
    assert_intact(&dw, "dw");
    assert_intact(&db, "db");
}

#[test]
fn grad_weight_wrong_dw() {
    let s = Setup::new();
    let mut dw = sentinel(32);
    let mut db = sentinel(O);
    for (rows, cols) in [(I, O + 1), (I + 1, O), (O, I)] {
        for with_db in [false, true] {
            let r = linear::grad_weight(
                s.x(),
                s.dy(),
                MatMut::new(&mut dw, rows, cols).unwrap(),
                with_db.then_some(&mut db[..]),
                Accum::Add,
                CUR,
            );
            expect_dim(r, "linear::grad_weight", "dw", (I, O), (rows, cols));
        }
    }
    assert_intact(&dw, "dw");
    assert_intact(&db, "db");
}

#[test]
fn grad_weight_wrong_db() {
    let s = Setup::new();
    let mut dw = sentinel(I * O);
    for len in [O - 1, O + 1] {
        let mut db = sentinel(len);
        let r = linear::grad_weight(
            s.x(),
            s.dy(),
            MatMut::new(&mut dw, I, O).unwrap(),
            Some(&mut db),
            Accum::Overwrite,
            CUR,
        );
        expect_len(r, "linear::grad_weight", "db", O, len);
        assert_intact(&db, "db");
    }
    // dW must not be computed when db is rejected.
    assert_intact(&dw, "dw");
}

// ---- backward ----------------------------------------------------------------------------

/// Sentinel outputs for `backward`, with valid shapes unless a test changes them.
struct Outs {
    dx: Vec<f32>,
    dw: Vec<f32>,
    db: Vec<f32>,
}

impl Outs {
    fn new() -> Self {
        Self {
            dx: sentinel(64),
            dw: sentinel(64),
            db: sentinel(16),
        }
    }
    fn assert_intact(&self) {
        assert_intact(&self.dx, "dx");
        assert_intact(&self.dw, "dw");
        assert_intact(&self.db, "db");
    }
}

#[test]
fn backward_wrong_w() {
    let s = Setup::new();
    let mut o = Outs::new();
    let w_bad = MatRef::new(&s.w[..(I - 1) * O], I - 1, O).unwrap();
    let r = linear::backward(
        s.x(),
        w_bad,
        s.dy(),
        linear::Grads::new()
            .dx(MatMut::new(&mut o.dx, B, I).unwrap(), Accum::Overwrite)
            .dw(MatMut::new(&mut o.dw, I - 1, O).unwrap(), Accum::Overwrite)
            .db(&mut o.db[..O], Accum::Overwrite),
        CUR,
    );
    expect_dim(r, "linear::backward", "w", (I, O), (I - 1, O));
    o.assert_intact();
}

#[test]
fn backward_wrong_dy() {
    let s = Setup::new();
    let mut o = Outs::new();
    for (rows, cols) in [(B, O - 1), (B + 1, O)] {
        let dy_data = vec![1.0f32; rows * cols];
        let r = linear::backward(
            s.x(),
            s.w(),
            MatRef::new(&dy_data, rows, cols).unwrap(),
            linear::Grads::new()
                .dx(MatMut::new(&mut o.dx, B, I).unwrap(), Accum::Add)
                .dw(MatMut::new(&mut o.dw, I, O).unwrap(), Accum::Add)
                .db(&mut o.db[..O], Accum::Add),
            CUR,
        );
        expect_dim(r, "linear::backward", "dy", (B, O), (rows, cols));
    }
    o.assert_intact();
}

#[test]
fn backward_wrong_dx_others_valid() {
    let s = Setup::new();
    let mut o = Outs::new();
    for accum in [Accum::Overwrite, Accum::Add] {
        let r = linear::backward(
            s.x(),
            s.w(),
            s.dy(),
            linear::Grads::new()
                .dx(MatMut::new(&mut o.dx, I, B).unwrap(), accum)
                .dw(MatMut::new(&mut o.dw, I, O).unwrap(), accum)
                .db(&mut o.db[..O], accum),
            CUR,
        );
        expect_dim(r, "linear::backward", "dx", (B, I), (I, B));
        // dx alone.
        let r = linear::backward(
            s.x(),
            s.w(),
            s.dy(),
            linear::Grads::new().dx(MatMut::new(&mut o.dx, B, I + 1).unwrap(), accum),
            SEQ,
        );
        expect_dim(r, "linear::backward", "dx", (B, I), (B, I + 1));
    }
    o.assert_intact();
}

#[test]
fn backward_wrong_dw_others_valid() {
    let s = Setup::new();
    let mut o = Outs::new();
    let r = linear::backward(
        s.x(),
        s.w(),
        s.dy(),
        linear::Grads::new()
            .dx(MatMut::new(&mut o.dx, B, I).unwrap(), Accum::Overwrite)
            .dw(MatMut::new(&mut o.dw, O, I).unwrap(), Accum::Overwrite)
            .db(&mut o.db[..O], Accum::Overwrite),
        CUR,
    );
    expect_dim(r, "linear::backward", "dw", (I, O), (O, I));
    o.assert_intact();
}

#[test]
fn backward_wrong_db_others_valid() {
    let s = Setup::new();
    let mut o = Outs::new();
    let r = linear::backward(
        s.x(),
        s.w(),
        s.dy(),
        linear::Grads::new()
            .dx(MatMut::new(&mut o.dx, B, I).unwrap(), Accum::Add)
            .dw(MatMut::new(&mut o.dw, I, O).unwrap(), Accum::Add)
            .db(&mut o.db[..O + 1], Accum::Add),
        CUR,
    );
    expect_len(r, "linear::backward", "db", O, O + 1);
    o.assert_intact();
}

/// Operand shapes are checked even when no requested output needs them.
#[test]
fn backward_checks_unneeded_operands() {
    let s = Setup::new();
    let mut o = Outs::new();
    // Only db requested, but w does not match x.
    let w_bad = MatRef::new(&s.w[..(I + 1) * 3], I + 1, 3).unwrap();
    let r = linear::backward(
        s.x(),
        w_bad,
        s.dy(),
        linear::Grads::new().db(&mut o.db[..O], Accum::Overwrite),
        CUR,
    );
    expect_dim(r, "linear::backward", "w", (I, 3), (I + 1, 3));
    o.assert_intact();
}

// ---- Param and Linear --------------------------------------------------------------------

#[test]
fn param_new_wrong_length() {
    for (len, rows, cols) in [(5, 2, 3), (7, 2, 3), (0, 1, 1), (1, 0, 4)] {
        let err = Param::new(vec![1.0f32; len], rows, cols).unwrap_err();
        assert!(
            matches!(err, ShapeError::LenMismatch { operand: "value", expected, found, .. }
                if expected == rows * cols && found == len),
            "{err:?}"
        );
        check_common(&err, "Param::new");
    }
}

#[test]
fn param_new_overflowing_dims() {
    for (rows, cols) in [(usize::MAX, 2), (1 << 40, 1 << 40)] {
        let err = Param::new(Vec::<f64>::new(), rows, cols).unwrap_err();
        assert!(matches!(err, ShapeError::Overflow { .. }), "{err:?}");
        check_common(&err, "Param::new");
    }
}

#[test]
fn linear_new_overflowing_sizes() {
    for (inf, outf) in [(usize::MAX, 2), (1 << 32, 1 << 32), (2, usize::MAX)] {
        let err = Linear::<f32>::new(inf, outf, 1).unwrap_err();
        assert!(
            matches!(err, ShapeError::Overflow { rows, cols, .. } if rows == inf && cols == outf),
            "{err:?}"
        );
        check_common(&err, "Linear::new");
    }
}

/// With no input features the weight is empty, but the bias still needs `out_features`
/// elements: a length that cannot be allocated must be an `Overflow` error, not a panic.
#[test]
fn linear_new_overflowing_bias_length() {
    for outf in [usize::MAX, isize::MAX as usize / 2 + 1] {
        let r = catch_unwind(|| Linear::<f32>::new(0, outf, 1));
        match r {
            Ok(Err(err)) => {
                assert!(matches!(err, ShapeError::Overflow { .. }), "{err:?}");
                check_common(&err, "Linear::new");
            }
            Ok(Ok(_)) => panic!("Linear::new(0, {outf}) succeeded"),
            Err(_) => panic!("Linear::new(0, {outf}) panicked instead of returning Overflow"),
        }
    }
}

#[test]
fn linear_from_params_wrong_bias() {
    let w = Param::new(vec![1.0f32; 6], 2, 3).unwrap();
    for (rows, cols) in [(1, 2), (3, 1), (2, 3)] {
        let b = Param::new(vec![0.5f32; rows * cols], rows, cols).unwrap();
        let err = Linear::from_params(w.clone(), b).unwrap_err();
        assert!(
            matches!(err, ShapeError::DimMismatch { operand: "bias", expected: (1, 3), found, .. }
                if found == (rows, cols)),
            "{err:?}"
        );
        check_common(&err, "Linear::from_params");
    }
}

#[test]
fn layer_forward_wrong_shapes() {
    let s = Setup::new();
    let layer = Linear::<f32>::new(I, O, 5).unwrap();
    let mut y = sentinel(32);
    // x with in_features + 1 columns.
    let x_bad = vec![1.0f32; B * (I + 1)];
    let r = layer.forward(
        MatRef::new(&x_bad, B, I + 1).unwrap(),
        MatMut::new(&mut y, B, O).unwrap(),
        CUR,
    );
    expect_dim(r, "linear::forward", "w", (I + 1, O), (I, O));
    // y with the wrong width.
    let r = layer.forward(s.x(), MatMut::new(&mut y, B, O - 1).unwrap(), CUR);
    expect_dim(r, "linear::forward", "y", (B, O), (B, O - 1));
    assert_intact(&y, "y");
}

#[test]
fn layer_backward_wrong_shapes_leave_gradients() {
    let s = Setup::new();
    let mut layer = Linear::<f32>::new(I, O, 6).unwrap();
    // Make the gradients non-zero first, so "unchanged" is a real check.
    layer.backward(s.x(), s.dy(), None, CUR).unwrap();
    let before = layer.clone();
    assert!(before.weight().grad_slice().iter().any(|&g| g != 0.0));
    let want = ref_matmul(s.x().t(), s.dy());
    common::assert_close_slice(before.weight().grad_slice(), &want, &"first backward");

    let mut dx = sentinel(32);
    // dy with a wrong width.
    let dy_bad = vec![1.0f32; B * (O + 1)];
    let r = layer.backward(
        s.x(),
        MatRef::new(&dy_bad, B, O + 1).unwrap(),
        Some(MatMut::new(&mut dx, B, I).unwrap()),
        CUR,
    );
    expect_dim(r, "linear::backward", "dy", (B, O), (B, O + 1));
    // dx with a wrong shape.
    let r = layer.backward(
        s.x(),
        s.dy(),
        Some(MatMut::new(&mut dx, I, B).unwrap()),
        CUR,
    );
    expect_dim(r, "linear::backward", "dx", (B, I), (I, B));
    // x with a wrong width.
    let x_bad = vec![1.0f32; B * (I - 1)];
    let r = layer.backward(MatRef::new(&x_bad, B, I - 1).unwrap(), s.dy(), None, SEQ);
    expect_dim(r, "linear::backward", "w", (I - 1, O), (I, O));

    assert_intact(&dx, "dx");
    assert_eq!(layer, before, "a rejected backward changed the layer");
}

/// A rejected call does not disturb a following good one.
#[test]
fn good_call_after_bad_call() {
    let s = Setup::new();
    let mut y = sentinel(B * O);
    let r = linear::forward(
        s.x(),
        s.w(),
        Some(&s.bias[..1]),
        MatMut::new(&mut y, B, O).unwrap(),
        CUR,
    );
    assert!(r.is_err());
    assert_intact(&y, "y");
    linear::forward(
        s.x(),
        s.w(),
        Some(&s.bias),
        MatMut::new(&mut y, B, O).unwrap(),
        CUR,
    )
    .unwrap();
    let want = ref_matmul(s.x(), s.w()).add_row_vector(&s.bias);
    common::assert_close_slice(&y, &want, &"good call");
}
