//! `lingrad::matmul` against the f64 reference GEMM: empty and tiny sizes, sizes around the
//! micro-kernel tiles of every engine, around the cache blocks in K, M and N, every storage
//! layout of `a`, `b` and `c`, and both accumulation modes.

mod common;

use common::{assert_close, output, ref_matmul, Float, Layout, Mat, Rng, ACCUMS, SLACK};
use lingrad::{matmul, Accum, MatMut, MatRef, Parallelism};

/// One checked call: random `a` (m×k) and `b` (k×n), `c` NaN for `Overwrite` and random for
/// `Add`; the result must match the reference and leave `c`'s padding alone.
#[allow(clippy::too_many_arguments)]
fn check<T: Float>(
    rng: &mut Rng,
    m: usize,
    n: usize,
    k: usize,
    layouts: [Layout; 3],
    accum: Accum,
    par: Parallelism,
) {
    let a = Mat::<T>::random(m, k, layouts[0], rng);
    let b = Mat::<T>::random(k, n, layouts[1], rng);
    let mut c = output::<T>(m, n, layouts[2], accum, rng);
    let c0 = c.to_f64();
    let ctx = (m, n, k, layouts, accum, par);
    matmul(a.view(), b.view(), c.view_mut(), accum, par).unwrap();
    let want = ref_matmul(a.view(), b.view()).accumulate(accum, &c0);
    assert_close(&c, &want, &ctx);
}

/// All 125 (a, b, c) layout combinations.
fn layout_triples() -> Vec<[Layout; 3]> {
    let mut out = Vec::new();
    for &la in &Layout::ALL {
        for &lb in &Layout::ALL {
            for &lc in &Layout::ALL {
                out.push([la, lb, lc]);
            }
        }
    }
    out
}

/// Sizes around the tile edges of every engine's kernels (MR up to 14, NR up to 32).
fn tile_edge_sizes() -> Vec<usize> {
    let mut v: Vec<usize> = (1..=17).collect();
    v.push(23);
    v.extend(31..=33);
    v.extend(47..=49);
    v.extend(63..=65);
    v
}

fn both_types(f: impl Fn(&mut Rng, bool)) {
    let mut rng = Rng::new(0x6E44);
    f(&mut rng, false);
    f(&mut rng, true);
}

macro_rules! check_t {
    ($is_f64:expr, $($arg:expr),* $(,)?) => {
        if $is_f64 {
            check::<f64>($($arg),*)
        } else {
            check::<f32>($($arg),*)
        }
    };
}

#[test]
fn worked_example_is_exact() {
    common::note_engine();
    // [[1, 2, 3], [4, 5, 6]] · [[7, 8], [9, 10], [11, 12]] = [[58, 64], [139, 154]]
    let a = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0];
    let b = [7.0f32, 8.0, 9.0, 10.0, 11.0, 12.0];
    let mut c = [f32::NAN; 4];
    matmul(
        MatRef::new(&a, 2, 3).unwrap(),
        MatRef::new(&b, 3, 2).unwrap(),
        MatMut::new(&mut c, 2, 2).unwrap(),
        Accum::Overwrite,
        Parallelism::Sequential,
    )
    .unwrap();
    assert_eq!(c, [58.0, 64.0, 139.0, 154.0]);
    matmul(
        MatRef::new(&a, 2, 3).unwrap(),
        MatRef::new(&b, 3, 2).unwrap(),
        MatMut::new(&mut c, 2, 2).unwrap(),
        Accum::Add,
        Parallelism::Current,
    )
    .unwrap();
    assert_eq!(c, [116.0, 128.0, 278.0, 308.0]);
}

/// Tiny sizes, zeros included, in every layout combination and both modes.
#[test]
fn small_sizes_every_layout() {
    common::note_engine();
    let sizes = [0usize, 1, 2, 3, 5];
    let triples = layout_triples();
    both_types(|rng, is_f64| {
        for &m in &sizes {
            for &n in &sizes {
                for &k in &sizes {
                    for &layouts in &triples {
                        for accum in ACCUMS {
                            check_t!(is_f64, rng, m, n, k, layouts, accum, Parallelism::Current);
                        }
                    }
                }
            }
        }
    });
}

/// Medium sizes larger than any tile, in every layout combination.
#[test]
fn medium_sizes_every_layout() {
    let triples = layout_triples();
    both_types(|rng, is_f64| {
        for (idx, &layouts) in triples.iter().enumerate() {
            let accum = ACCUMS[idx % 2];
            let (m, n, k) = [(19, 37, 29), (33, 17, 41), (7, 65, 13)][idx % 3];
            check_t!(is_f64, rng, m, n, k, layouts, accum, Parallelism::Current);
        }
    });
}

/// Every (m, n) among the tile-edge sizes, with a few depths; layouts rotate through all
/// combinations.
#[test]
fn tile_edges() {
    let sizes = tile_edge_sizes();
    let triples = layout_triples();
    both_types(|rng, is_f64| {
        let mut case = 0usize;
        for &m in &sizes {
            for &n in &sizes {
                for k in [1usize, 4, 17] {
                    let layouts = triples[case % triples.len()];
                    let accum = ACCUMS[(case / 7) % 2];
                    case += 1;
                    check_t!(is_f64, rng, m, n, k, layouts, accum, Parallelism::Current);
                }
            }
        }
    });
}

/// Depths around the K cache block (KC ≈ 256–512), with small m and n.
#[test]
fn k_block_edges() {
    let ks = [
        255usize, 256, 257, 383, 384, 385, 511, 512, 513, 767, 768, 769, 1025,
    ];
    let mns = [(1usize, 1usize), (3, 5), (5, 9), (13, 17), (7, 33)];
    let triples = layout_triples();
    both_types(|rng, is_f64| {
        let mut case = 0usize;
        for &k in &ks {
            for &(m, n) in &mns {
                for accum in ACCUMS {
                    let layouts = triples[(case * 37) % triples.len()];
                    case += 1;
                    check_t!(is_f64, rng, m, n, k, layouts, accum, Parallelism::Current);
                }
            }
        }
    });
}

/// Row counts around the M cache block (MC ≈ 96–480), with small k.
#[test]
fn m_block_edges() {
    let ms = [
        95usize, 96, 97, 143, 144, 145, 191, 192, 193, 287, 288, 289, 479, 480, 481,
    ];
    let nks = [(5usize, 3usize), (17, 8), (1, 2)];
    let triples = layout_triples();
    both_types(|rng, is_f64| {
        let mut case = 0usize;
        for &m in &ms {
            for &(n, k) in &nks {
                for accum in ACCUMS {
                    let layouts = triples[(case * 53) % triples.len()];
                    case += 1;
                    check_t!(is_f64, rng, m, n, k, layouts, accum, Parallelism::Current);
                }
            }
        }
    });
}

/// Column counts around N blocks (NC from a few hundred to 4096), with small m and k.
#[test]
fn n_block_edges() {
    let ns = [
        127usize, 128, 129, 255, 256, 257, 511, 512, 513, 1023, 1024, 1025, 2047, 2048, 2049, 4095,
        4096, 4097, 8193,
    ];
    let mks = [(3usize, 2usize), (1, 5), (6, 1)];
    let triples = layout_triples();
    both_types(|rng, is_f64| {
        let mut case = 0usize;
        for &n in &ns {
            for &(m, k) in &mks {
                for accum in ACCUMS {
                    let layouts = triples[(case * 29) % triples.len()];
                    case += 1;
                    check_t!(is_f64, rng, m, n, k, layouts, accum, Parallelism::Current);
                }
            }
        }
    });
}

/// Shapes that cross several blocks in every dimension and go parallel, both modes, on a
/// representative set of layouts.
#[test]
fn large_mixed() {
    let shapes = [
        (130usize, 150usize, 300usize),
        (200, 97, 520),
        (97, 301, 66),
    ];
    let layouts = [
        [Layout::RowMajor, Layout::RowMajor, Layout::RowMajor],
        [Layout::ColMajor, Layout::Strided, Layout::Padded],
        [Layout::Strided, Layout::ColMajor, Layout::ColStrided],
        [Layout::ColStrided, Layout::Padded, Layout::ColMajor],
    ];
    both_types(|rng, is_f64| {
        for (s, &(m, n, k)) in shapes.iter().enumerate() {
            for (l, &lay) in layouts.iter().enumerate() {
                let accum = ACCUMS[(s + l) % 2];
                let par = if l % 2 == 0 {
                    Parallelism::Current
                } else {
                    Parallelism::Sequential
                };
                check_t!(is_f64, rng, m, n, k, lay, accum, par);
            }
        }
    });
}

/// `k = 0`: an empty sum, so `Overwrite` writes zeros over NaN and `Add` changes nothing.
#[test]
fn empty_inner_dimension() {
    for &lc in &Layout::ALL {
        for (m, n) in [(1usize, 1usize), (4, 8), (7, 33)] {
            let a = Mat::<f32>::filled(m, 0, Layout::RowMajor, 1.0);
            let b = Mat::<f32>::filled(0, n, Layout::ColMajor, 1.0);
            let mut c = Mat::<f32>::filled(m, n, lc, f32::NAN);
            matmul(
                a.view(),
                b.view(),
                c.view_mut(),
                Accum::Overwrite,
                Parallelism::Current,
            )
            .unwrap();
            assert!(c.to_row_major().iter().all(|&v| v == 0.0), "{m}x{n} {lc:?}");
            c.check_padding(&(m, n, lc));

            let mut rng = Rng::new(9);
            let mut c = Mat::<f64>::random(m, n, lc, &mut rng);
            let before = c.clone();
            let (a, b) = (
                Mat::<f64>::filled(m, 0, Layout::Padded, 1.0),
                Mat::<f64>::filled(0, n, Layout::Strided, 1.0),
            );
            matmul(
                a.view(),
                b.view(),
                c.view_mut(),
                Accum::Add,
                Parallelism::Current,
            )
            .unwrap();
            assert_eq!(
                common::bits(&c.data),
                common::bits(&before.data),
                "{m}x{n} {lc:?}"
            );
        }
    }
}

/// An empty output (m = 0 or n = 0) touches nothing, even with a large k.
#[test]
fn empty_output_touches_nothing() {
    let mut rng = Rng::new(3);
    for (m, n, k) in [(0usize, 5usize, 300usize), (6, 0, 300), (0, 0, 7)] {
        let a = Mat::<f32>::random(m, k, Layout::RowMajor, &mut rng);
        let b = Mat::<f32>::random(k, n, Layout::RowMajor, &mut rng);
        let mut buf = vec![7.25f32; 4];
        // Unit strides: `MatMut::new` rejects some empty shapes (see bad_input.rs).
        let c = MatMut::strided(&mut buf, m, n, 1, 1).unwrap();
        matmul(
            a.view(),
            b.view(),
            c,
            Accum::Overwrite,
            Parallelism::Current,
        )
        .unwrap();
        assert_eq!(buf, [7.25; 4]);
    }
}

/// Broadcast inputs: a zero row stride repeats one row, a zero column stride one column.
#[test]
fn zero_stride_inputs() {
    let mut rng = Rng::new(11);
    for (m, n, k) in [(5usize, 9usize, 7usize), (33, 17, 300), (64, 65, 3)] {
        let row: Vec<f64> = rng.vec(k);
        let col: Vec<f64> = rng.vec(k);
        // a: every row equals `row`; b: every column equals `col`.
        let a = MatRef::strided(&row, m, k, 0, 1).unwrap();
        let b = MatRef::strided(&col, k, n, 1, 0).unwrap();
        let mut c = Mat::<f64>::filled(m, n, Layout::Padded, f64::NAN);
        matmul(a, b, c.view_mut(), Accum::Overwrite, Parallelism::Current).unwrap();
        let want = ref_matmul(a, b);
        assert_close(&c, &want, &(m, n, k));
        // Every element is the same dot product.
        let first = c.get(0, 0);
        assert!(c.to_row_major().iter().all(|&v| v == first));
    }
}

/// Strides that only matter for an index that is always 0 may be anything, even huge: a
/// single row with `row_stride = usize::MAX`, a single column with `col_stride = usize::MAX`.
#[test]
fn unused_strides_may_be_huge() {
    let mut rng = Rng::new(12);
    for (n, k) in [(1usize, 1usize), (9, 5), (40, 33), (3, 300)] {
        let a_data: Vec<f32> = rng.vec(k + SLACK);
        let a = MatRef::strided(&a_data, 1, k, usize::MAX, 1).unwrap();
        let b = Mat::<f32>::random(k, n, Layout::RowMajor, &mut rng);
        let mut c_data = vec![f32::NAN; n];
        let c = MatMut::strided(&mut c_data, 1, n, usize::MAX, 1).unwrap();
        matmul(a, b.view(), c, Accum::Overwrite, Parallelism::Current).unwrap();
        let want = ref_matmul(a, b.view());
        common::assert_close_slice(&c_data, &want, &("1-row", n, k));

        // The transposed problem: one column everywhere.
        let mut ct_data = vec![f32::NAN; n];
        let ct = MatMut::strided(&mut ct_data, n, 1, 1, usize::MAX).unwrap();
        matmul(
            b.view().t(),
            a.t(),
            ct,
            Accum::Overwrite,
            Parallelism::Current,
        )
        .unwrap();
        let want_t = ref_matmul(b.view().t(), a.t());
        common::assert_close_slice(&ct_data, &want_t, &("1-col", n, k));
    }
}

/// `Overwrite` must not read `c`: infinities in `c` (which would turn `0·c` or `c - c` into
/// NaN) leave no trace.
#[test]
fn overwrite_ignores_infinite_output() {
    let mut rng = Rng::new(13);
    for (m, n, k) in [(4usize, 8usize, 5usize), (13, 29, 300), (50, 40, 3)] {
        let a = Mat::<f32>::random(m, k, Layout::RowMajor, &mut rng);
        let b = Mat::<f32>::random(k, n, Layout::RowMajor, &mut rng);
        let mut c = Mat::<f32>::filled(m, n, Layout::RowMajor, f32::INFINITY);
        matmul(
            a.view(),
            b.view(),
            c.view_mut(),
            Accum::Overwrite,
            Parallelism::Current,
        )
        .unwrap();
        assert_close(&c, &ref_matmul(a.view(), b.view()), &(m, n, k));
    }
}

/// `c += a·b` twice equals `c0 + 2·a·b`; a call with `Add` really adds.
#[test]
fn add_twice_adds_twice() {
    let mut rng = Rng::new(14);
    let (m, n, k) = (21, 19, 40);
    let a = Mat::<f64>::random(m, k, Layout::RowMajor, &mut rng);
    let b = Mat::<f64>::random(k, n, Layout::ColMajor, &mut rng);
    let mut c = Mat::<f64>::random(m, n, Layout::Padded, &mut rng);
    let c0 = c.to_f64();
    for _ in 0..2 {
        matmul(
            a.view(),
            b.view(),
            c.view_mut(),
            Accum::Add,
            Parallelism::Current,
        )
        .unwrap();
    }
    let mut want = ref_matmul(a.view(), b.view());
    for (v, mag) in want.value.iter_mut().zip(&mut want.magnitude) {
        *v *= 2.0;
        *mag *= 2.0;
    }
    let want = want.add_matrix(&c0);
    assert_close(&c, &want, &"add twice");
}

/// The reference itself is checked on a case with a known answer, so a broken reference
/// cannot make the suite pass.
#[test]
fn reference_known_answer() {
    let a = [1.0f64, 2.0, 3.0, 4.0];
    let b = [5.0f64, 6.0, 7.0, 8.0];
    let r = ref_matmul(
        MatRef::new(&a, 2, 2).unwrap(),
        MatRef::new(&b, 2, 2).unwrap(),
    );
    assert_eq!(r.value, vec![19.0, 22.0, 43.0, 50.0]);
    // Compensated sum: 1 + 1e-16·(10^4 times) - 1 is 1e-12, not 0.
    let mut s = common::KahanSum::default();
    s.add(1.0);
    for _ in 0..10_000 {
        s.add(1e-16);
    }
    s.add(-1.0);
    assert!((s.value() - 1e-12).abs() < 1e-20);
    // A single wrong element is caught.
    let mut bad = Mat::<f64>::from_row_major(2, 2, Layout::RowMajor, &[19.0, 22.0, 43.0, 50.0]);
    bad.set(1, 1, 50.0 + 1e-9);
    let caught = std::panic::catch_unwind(|| assert_close(&bad, &r, &"deliberately wrong"));
    assert!(caught.is_err());
}
