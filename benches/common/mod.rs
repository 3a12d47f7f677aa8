//! Criterion settings and helpers shared by `benches/gemm.rs` and `benches/linear.rs`.
//!
//! Throughput is declared as `Throughput::Elements(2·m·k·n)` per GEMM in the call, so the
//! "Gelem/s" criterion prints is GFLOP/s.
#![allow(dead_code)]

#[path = "../../examples/common/workloads.rs"]
pub mod workloads;

use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId, Criterion, SamplingMode, Throughput};
use rayon::ThreadPool;

use workloads::Shape;

/// Threads in the multi-threaded rows (`-2t`): lingrad runs with `Parallelism::Current` inside
/// a pool of this size, the `gemm` crate with `Parallelism::Rayon(THREADS)` in the same pool.
pub const THREADS: usize = 2;

/// The pool for the multi-threaded rows, built once per bench binary.
pub fn pool() -> ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(THREADS)
        .build()
        .expect("rayon pool")
}

/// A group with the settings every group here uses: 10 samples (criterion's minimum; the
/// large shapes take 0.1–2 s per call on a small machine), short warm-up and measurement, and
/// flat sampling where a linear ramp would not fit. On the large shapes criterion then warns
/// that it cannot complete 10 samples in the target time: one call per sample is intended.
pub fn group<'a>(c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
    let mut g = c.benchmark_group(name);
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(200))
        .measurement_time(Duration::from_millis(700))
        .nresamples(20_000)
        .sampling_mode(SamplingMode::Auto);
    g
}

/// Sets the throughput for `gemms` GEMMs of `shape` (so criterion's Gelem/s is GFLOP/s).
pub fn set_shape(g: &mut BenchmarkGroup<'_, WallTime>, shape: Shape, gemms: u64) {
    g.throughput(Throughput::Elements(gemms * shape.flops()));
}

/// Row label: `name` and the thread count, e.g. `lingrad-avx2-1t`, `gemm-2t`.
pub fn row(name: &str, threads: usize) -> String {
    format!("{name}-{threads}t")
}

/// Benchmarks `f` as row `row` of shape `shape`; inside `pool` when given (multi-threaded
/// rows), so that rayon work runs on exactly that pool.
pub fn bench(
    g: &mut BenchmarkGroup<'_, WallTime>,
    row: &str,
    shape: Shape,
    pool: Option<&ThreadPool>,
    mut f: impl FnMut() + Send,
) {
    g.bench_function(BenchmarkId::new(row, shape.name()), |b| match pool {
        Some(pool) => pool.install(|| b.iter(&mut f)),
        None => b.iter(&mut f),
    });
}
