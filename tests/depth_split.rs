//! Products with a small output over a long reduction (e.g. `dW` of a narrow layer at a large
//! batch) are split along the depth into fixed chunks: the result matches the reference and
//! is bitwise the same on any number of threads, with and without the fused bias gradient.

use lingrad::{linear, matmul, Accum, MatMut, MatRef, Parallelism};

fn data(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 11) as f64 / (1u64 << 53) as f64 - 0.5) as f32
        })
        .collect()
}

fn in_pool<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
        .install(f)
}

#[test]
fn narrow_grad_weight_over_a_large_batch() {
    for (batch, inf, outf) in [(5000, 7, 3), (4096, 64, 64), (9000, 1, 10), (4100, 33, 20)] {
        let x = data(batch * inf, 1);
        let dy = data(batch * outf, 2);
        let dw0 = data(inf * outf, 3);
        let run = |par: Parallelism| {
            let mut dw = dw0.clone();
            let mut db = vec![1.5f32; outf];
            linear::grad_weight(
                MatRef::new(&x, batch, inf).unwrap(),
                MatRef::new(&dy, batch, outf).unwrap(),
                MatMut::new(&mut dw, inf, outf).unwrap(),
                Some(&mut db),
                Accum::Add,
                par,
            )
            .unwrap();
            (dw, db)
        };
        let (dw, db) = run(Parallelism::Sequential);
        for threads in [1, 2, 3, 7] {
            let (dw_t, db_t) = in_pool(threads, || run(Parallelism::Current));
            assert!(
                dw_t == dw && db_t == db,
                "{batch}x{inf}x{outf} on {threads} threads"
            );
        }
        // db equals grad_bias bit for bit.
        let mut db_alone = vec![1.5f32; outf];
        linear::grad_bias(
            MatRef::new(&dy, batch, outf).unwrap(),
            &mut db_alone,
            Accum::Add,
        )
        .unwrap();
        assert!(db_alone == db, "{batch}x{inf}x{outf}: db");
        for i in 0..inf {
            for j in 0..outf {
                let (mut want, mut scale) = (dw0[i * outf + j] as f64, 0.0);
                for p in 0..batch {
                    let t = x[p * inf + i] as f64 * dy[p * outf + j] as f64;
                    want += t;
                    scale += t.abs();
                }
                let got = dw[i * outf + j] as f64;
                assert!(
                    (got - want).abs() <= 1e-6 * (scale + 1.0),
                    "{batch}x{inf}x{outf} ({i},{j}): {got} vs {want}"
                );
            }
        }
    }
}

#[test]
fn split_product_with_overwrite_never_reads_c() {
    let (m, k, n) = (3, 6000, 4);
    let a = data(m * k, 4);
    let b = data(k * n, 5);
    let mut c = vec![f32::NAN; m * n];
    matmul(
        MatRef::new(&a, m, k).unwrap(),
        MatRef::new(&b, k, n).unwrap(),
        MatMut::new(&mut c, m, n).unwrap(),
        Accum::Overwrite,
        Parallelism::Current,
    )
    .unwrap();
    assert!(c.iter().all(|v| v.is_finite()));
}
