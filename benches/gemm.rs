//! GEMM throughput, `c = a·b` on row-major operands: lingrad's `matmul` against
//! `matrixmultiply` 0.3 and the `gemm` crate 0.19 on the named shapes M×K×N, f32 and f64.
//!
//! Throughput is `Throughput::Elements(2·m·k·n)`, so criterion's "Gelem/s" is GFLOP/s.
//!
//! ```text
//! cargo bench --bench gemm                           # everything (about 4 minutes here)
//! cargo bench --bench gemm -- 1024x1024x1024         # one shape (a regex on the id)
//! cargo bench --bench gemm -- 'matmul_f32/.*-1t/'    # f32, single-threaded rows
//! LINGRAD_ISA=portable cargo bench --bench gemm      # lingrad on another engine
//! ```
//!
//! Ids are `matmul_{f32,f64}/ROW/MxKxN`. Rows: `lingrad-ENGINE-1t` (`Parallelism::Sequential`;
//! ENGINE is `lingrad::isa()`, which `LINGRAD_ISA` can lower), `matrixmultiply-1t`, `gemm-1t`
//! (`Parallelism::None`), and the two-thread rows `lingrad-ENGINE-2t` (`Parallelism::Current`
//! in a 2-thread rayon pool) and `gemm-2t` (`Parallelism::Rayon(2)` in that pool). All rows
//! use the same random non-zero data. docs/benchmarks.md has the rest.

mod common;

use common::workloads::{self, Data, Engine, Float, Op, SHAPES};
use common::{bench, group, pool, row, set_shape, THREADS};
use criterion::{criterion_group, criterion_main, Criterion};

fn matmul<T: Float>(c: &mut Criterion) {
    let pool = pool();
    let mut g = group(c, &format!("matmul_{}", T::NAME));
    for shape in SHAPES {
        let mut data = Data::<T>::new(shape);
        set_shape(&mut g, shape, 1);
        for threads in [1, THREADS] {
            for engine in Engine::ALL {
                if !engine.supports_threads(threads) {
                    continue;
                }
                let p = (threads > 1).then_some(&pool);
                bench(&mut g, &row(&engine.label(), threads), shape, p, || {
                    workloads::run(engine, Op::Matmul, threads, &mut data)
                });
            }
        }
    }
    g.finish();
}

fn benches(c: &mut Criterion) {
    matmul::<f32>(c);
    matmul::<f64>(c);
}

criterion_group!(gemm_benches, benches);
criterion_main!(gemm_benches);
