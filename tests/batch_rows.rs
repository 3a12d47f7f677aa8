//! On the crate's own engines, each output row of a batched call has the same bits as the
//! same call on that row alone: a row's sums do not depend on the batch size, whether the
//! product runs in strips (few rows) or tiles (many), in place or packed. Products long
//! enough to be split along their depth are the exception and are not used here.

mod common;

use common::Rng;
use lingrad::linear;
use lingrad::{matmul, Accum, Element, Isa, MatMut, MatRef, Parallelism};

const BATCHES: [usize; 12] = [1, 2, 3, 5, 6, 7, 8, 9, 11, 13, 25, 40];
const DEPTHS: [usize; 5] = [1, 7, 64, 257, 513];
const WIDTHS: [usize; 7] = [1, 5, 16, 17, 33, 100, 130];

fn native_engine() -> bool {
    // matrixmultiply blocks its sums in its own way.
    lingrad::isa() != Isa::Fallback
}

fn bits<T: Element>(v: &[T]) -> Vec<u64> {
    v.iter().map(|x| x.to_f64().to_bits()).collect()
}

fn forward_rows<T: common::Float>() {
    let mut rng = Rng::new(41);
    for &batch in &BATCHES {
        for &inf in &DEPTHS {
            for &outf in &WIDTHS {
                let x: Vec<T> = rng.vec(batch * inf);
                let w: Vec<T> = rng.vec(inf * outf);
                let b: Vec<T> = rng.vec(outf);
                let w_ = MatRef::new(&w, inf, outf).unwrap();
                let mut y = vec![T::ZERO; batch * outf];
                linear::forward(
                    MatRef::new(&x, batch, inf).unwrap(),
                    w_,
                    Some(&b),
                    MatMut::new(&mut y, batch, outf).unwrap(),
                    Parallelism::Current,
                )
                .unwrap();
                for i in 0..batch {
                    let mut row = vec![T::ZERO; outf];
                    linear::forward(
                        MatRef::new(&x[i * inf..(i + 1) * inf], 1, inf).unwrap(),
                        w_,
                        Some(&b),
                        MatMut::new(&mut row, 1, outf).unwrap(),
                        Parallelism::Sequential,
                    )
                    .unwrap();
                    assert_eq!(
                        bits(&row),
                        bits(&y[i * outf..(i + 1) * outf]),
                        "forward row {i} of batch {batch}, {inf} -> {outf}"
                    );
                }
            }
        }
    }
}

/// dx = dy·Wᵀ reads W transposed: the few-row path copies it, the tiled path packs it or
/// swaps the operands.
fn grad_input_rows<T: common::Float>() {
    let mut rng = Rng::new(43);
    for &batch in &BATCHES {
        for &inf in &WIDTHS {
            for &outf in &DEPTHS {
                let dy: Vec<T> = rng.vec(batch * outf);
                let w: Vec<T> = rng.vec(inf * outf);
                let w_ = MatRef::new(&w, inf, outf).unwrap();
                let old: Vec<T> = rng.vec(batch * inf);
                let mut dx = old.clone();
                linear::grad_input(
                    MatRef::new(&dy, batch, outf).unwrap(),
                    w_,
                    MatMut::new(&mut dx, batch, inf).unwrap(),
                    Accum::Add,
                    Parallelism::Current,
                )
                .unwrap();
                for i in 0..batch {
                    let mut row = old[i * inf..(i + 1) * inf].to_vec();
                    linear::grad_input(
                        MatRef::new(&dy[i * outf..(i + 1) * outf], 1, outf).unwrap(),
                        w_,
                        MatMut::new(&mut row, 1, inf).unwrap(),
                        Accum::Add,
                        Parallelism::Sequential,
                    )
                    .unwrap();
                    assert_eq!(
                        bits(&row),
                        bits(&dx[i * inf..(i + 1) * inf]),
                        "dx row {i} of batch {batch}, {inf} -> {outf}"
                    );
                }
            }
        }
    }
}

/// A column-major, padded C and a B with a row stride that is not its width.
fn matmul_strided_rows<T: common::Float>() {
    let mut rng = Rng::new(47);
    for &m in &BATCHES {
        for &k in &DEPTHS {
            for &n in &WIDTHS {
                let a: Vec<T> = rng.vec(m * k);
                let ldb = n + 3;
                let b: Vec<T> = rng.vec(k * ldb);
                let b_ = MatRef::strided(&b, k, n, ldb, 1).unwrap();
                let ldc = m + 2;
                let mut c = vec![T::ZERO; n * ldc];
                matmul(
                    MatRef::new(&a, m, k).unwrap(),
                    b_,
                    MatMut::strided(&mut c, m, n, 1, ldc).unwrap(),
                    Accum::Overwrite,
                    Parallelism::Sequential,
                )
                .unwrap();
                for i in 0..m {
                    let mut row = vec![T::ZERO; n];
                    matmul(
                        MatRef::new(&a[i * k..(i + 1) * k], 1, k).unwrap(),
                        b_,
                        MatMut::new(&mut row, 1, n).unwrap(),
                        Accum::Overwrite,
                        Parallelism::Sequential,
                    )
                    .unwrap();
                    let column: Vec<T> = (0..n).map(|j| c[i + j * ldc]).collect();
                    assert_eq!(bits(&row), bits(&column), "row {i} of {m}x{k} · {k}x{n}");
                }
            }
        }
    }
}

#[test]
fn forward_rows_f32() {
    if native_engine() {
        forward_rows::<f32>();
    }
}

#[test]
fn forward_rows_f64() {
    if native_engine() {
        forward_rows::<f64>();
    }
}

#[test]
fn grad_input_rows_f32() {
    if native_engine() {
        grad_input_rows::<f32>();
    }
}

#[test]
fn grad_input_rows_f64() {
    if native_engine() {
        grad_input_rows::<f64>();
    }
}

#[test]
fn matmul_strided_rows_f32() {
    if native_engine() {
        matmul_strided_rows::<f32>();
    }
}

#[test]
fn matmul_strided_rows_f64() {
    if native_engine() {
        matmul_strided_rows::<f64>();
    }
}
