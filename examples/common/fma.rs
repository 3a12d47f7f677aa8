//! FMA-throughput probe: the machine's peak GFLOP/s, measured rather than looked up.
//!
//! Each probe runs independent accumulator chains `acc ← acc·a + b` of full-width vectors.
//! An FMA has a latency of 4–5 cycles and up to two FMA ports issue one each per cycle, so
//! 8–10 chains in flight keep both ports busy. The probes use 14 chains on AVX2: with the two
//! operands that fills the 16 ymm registers exactly (no spills; checked in the assembly), and
//! it is already more than latency × ports on every AVX2 core (Zen 1 issues one 256-bit FMA per
//! cycle, latency 5). On AVX-512 they use 24 of the 32 zmm registers, 12 per port. Values
//! converge to 1, so nothing overflows or turns subnormal.
//!
//! Shared by `examples/fma_peak.rs` and `examples/report.rs` through `#[path]`.
#![allow(dead_code)]

use std::time::{Duration, Instant};

/// One measured peak.
#[derive(Clone, Debug)]
pub struct Peak {
    /// Instruction set, e.g. `AVX2+FMA`.
    pub isa: &'static str,
    /// `f32` or `f64`.
    pub dtype: &'static str,
    /// Independent accumulator chains per thread.
    pub chains: usize,
    /// Threads that ran the loop at the same time.
    pub threads: usize,
    /// Best observed throughput, in GFLOP/s (an FMA counts as 2 FLOP per lane).
    pub gflops: f64,
}

/// A probe: runs `iters` rounds of `CHAINS` vector FMAs and returns a value that depends on
/// all of them (so the work cannot be dropped).
type ProbeFn = fn(u64) -> f64;

struct Probe {
    isa: &'static str,
    dtype: &'static str,
    chains: usize,
    /// FLOP per round: chains × lanes × 2.
    flops_per_iter: u64,
    run: ProbeFn,
}

/// Probes this machine supports, best ISA first; empty off x86-64.
fn probes() -> Vec<Probe> {
    #[cfg(target_arch = "x86_64")]
    {
        x86::probes()
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        Vec::new()
    }
}

/// Why there is nothing to measure, when [`measure`] returns no rows.
pub fn unsupported_note() -> &'static str {
    if cfg!(target_arch = "x86_64") {
        "this x86-64 processor has neither AVX2+FMA nor AVX-512F: no FMA probe to run"
    } else {
        "the FMA probe has x86-64 (AVX2+FMA, AVX-512) kernels only: no peak measured on this \
         architecture"
    }
}

/// Threads to use for the all-cores row.
pub fn all_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Runs `probe` on `threads` threads at once for about `target`; returns GFLOP/s, the best of
/// `reps` timed runs.
fn time_probe(probe: &Probe, threads: usize, target: Duration, reps: usize) -> f64 {
    // Calibrate: grow the round count until one run takes a tenth of the target.
    let mut iters: u64 = 1 << 12;
    loop {
        let t = Instant::now();
        std::hint::black_box((probe.run)(std::hint::black_box(iters)));
        let dt = t.elapsed();
        if dt >= target / 10 || iters >= 1 << 40 {
            let scale = target.as_secs_f64() / dt.as_secs_f64().max(1e-9);
            iters = ((iters as f64 * scale) as u64).max(1);
            break;
        }
        iters *= 4;
    }
    let mut best = 0.0f64;
    for _ in 0..reps {
        let barrier = std::sync::Barrier::new(threads);
        let spans: Vec<(Instant, Instant)> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|_| {
                    s.spawn(|| {
                        barrier.wait();
                        let start = Instant::now();
                        std::hint::black_box((probe.run)(std::hint::black_box(iters)));
                        (start, Instant::now())
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("probe thread"))
                .collect()
        });
        let start = spans.iter().map(|s| s.0).min().expect("threads >= 1");
        let end = spans.iter().map(|s| s.1).max().expect("threads >= 1");
        let secs = (end - start).as_secs_f64();
        let flops = (threads as u64 * iters * probe.flops_per_iter) as f64;
        best = best.max(flops / secs / 1e9);
    }
    best
}

/// Measures every supported ISA × {f32, f64} on each of `thread_counts` threads at once.
/// `quick` shortens each measurement from about 0.3 s to 0.1 s.
pub fn measure(thread_counts: &[usize], quick: bool) -> Vec<Peak> {
    let target = Duration::from_millis(if quick { 100 } else { 300 });
    let reps = if quick { 2 } else { 3 };
    let mut counts: Vec<usize> = thread_counts.iter().map(|&t| t.max(1)).collect();
    counts.sort_unstable();
    counts.dedup();
    let mut out = Vec::new();
    for probe in probes() {
        for &t in &counts {
            out.push(Peak {
                isa: probe.isa,
                dtype: probe.dtype,
                chains: probe.chains,
                threads: t,
                gflops: time_probe(&probe, t, target, reps),
            });
        }
    }
    out
}

/// The best peak measured for `dtype` on `threads` threads, over all ISAs.
pub fn best(peaks: &[Peak], dtype: &str, threads: usize) -> Option<f64> {
    peaks
        .iter()
        .filter(|p| p.dtype == dtype && p.threads == threads)
        .map(|p| p.gflops)
        .reduce(f64::max)
}

/// A markdown table of `peaks`: one row per ISA and type, one column per thread count.
pub fn markdown(peaks: &[Peak]) -> String {
    let mut counts: Vec<usize> = peaks.iter().map(|p| p.threads).collect();
    counts.sort_unstable();
    counts.dedup();
    let mut s = String::from("| ISA | type | chains |");
    for t in &counts {
        s += &format!(" {t} thread{} GFLOP/s |", if *t == 1 { "" } else { "s" });
    }
    s += "\n|---|---|---:|";
    s += &"---:|".repeat(counts.len());
    s.push('\n');
    let mut seen: Vec<(&str, &str)> = Vec::new();
    for p in peaks {
        if seen.contains(&(p.isa, p.dtype)) {
            continue;
        }
        seen.push((p.isa, p.dtype));
        s += &format!("| {} | {} | {} |", p.isa, p.dtype, p.chains);
        for t in &counts {
            match peaks
                .iter()
                .find(|q| q.isa == p.isa && q.dtype == p.dtype && q.threads == *t)
            {
                Some(q) => s += &format!(" {:.1} |", q.gflops),
                None => s += " – |",
            }
        }
        s.push('\n');
    }
    s
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::Probe;
    use std::arch::x86_64::*;

    /// Chains on AVX2: 14 accumulators + 2 operands = all 16 ymm registers.
    const CHAINS_AVX2: usize = 14;
    /// Chains on AVX-512 (32 zmm registers): 12 per FMA port.
    const CHAINS_AVX512: usize = 24;

    /// One probe body: `$chains` accumulators of `$vec`, each updated once per round.
    macro_rules! fma_probe {
        ($name:ident, $features:literal, $t:ty, $vec:ty, $set1:ident, $fmadd:ident,
         $add:ident, $first:ident, $chains:expr) => {
            #[target_feature(enable = $features)]
            fn $name(iters: u64) -> f64 {
                // a < 1 and b = 1 - a: every chain converges to 1.
                let a: $vec = $set1(std::hint::black_box(0.999_9 as $t));
                let b: $vec = $set1(std::hint::black_box(0.000_1 as $t));
                let mut acc: [$vec; $chains] = [$set1(0.5 as $t); $chains];
                for _ in 0..iters {
                    for r in acc.iter_mut() {
                        *r = $fmadd(*r, a, b);
                    }
                }
                let mut sum = acc[0];
                for r in &acc[1..] {
                    sum = $add(sum, *r);
                }
                $first(sum) as f64
            }
        };
    }

    fma_probe!(
        avx2_f32,
        "avx2,fma",
        f32,
        __m256,
        _mm256_set1_ps,
        _mm256_fmadd_ps,
        _mm256_add_ps,
        _mm256_cvtss_f32,
        CHAINS_AVX2
    );
    fma_probe!(
        avx2_f64,
        "avx2,fma",
        f64,
        __m256d,
        _mm256_set1_pd,
        _mm256_fmadd_pd,
        _mm256_add_pd,
        _mm256_cvtsd_f64,
        CHAINS_AVX2
    );
    fma_probe!(
        avx512_f32,
        "avx512f",
        f32,
        __m512,
        _mm512_set1_ps,
        _mm512_fmadd_ps,
        _mm512_add_ps,
        _mm512_cvtss_f32,
        CHAINS_AVX512
    );
    fma_probe!(
        avx512_f64,
        "avx512f",
        f64,
        __m512d,
        _mm512_set1_pd,
        _mm512_fmadd_pd,
        _mm512_add_pd,
        _mm512_cvtsd_f64,
        CHAINS_AVX512
    );

    pub(super) fn probes() -> Vec<Probe> {
        let mut out = Vec::new();
        if is_x86_feature_detected!("avx512f") {
            out.push(Probe {
                isa: "AVX-512",
                dtype: "f32",
                chains: CHAINS_AVX512,
                flops_per_iter: (CHAINS_AVX512 * 16 * 2) as u64,
                // SAFETY: AVX-512F was detected on this processor just above.
                run: |iters| unsafe { avx512_f32(iters) },
            });
            out.push(Probe {
                isa: "AVX-512",
                dtype: "f64",
                chains: CHAINS_AVX512,
                flops_per_iter: (CHAINS_AVX512 * 8 * 2) as u64,
                // SAFETY: AVX-512F was detected on this processor just above.
                run: |iters| unsafe { avx512_f64(iters) },
            });
        }
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            out.push(Probe {
                isa: "AVX2+FMA",
                dtype: "f32",
                chains: CHAINS_AVX2,
                flops_per_iter: (CHAINS_AVX2 * 8 * 2) as u64,
                // SAFETY: AVX2 and FMA were detected on this processor just above.
                run: |iters| unsafe { avx2_f32(iters) },
            });
            out.push(Probe {
                isa: "AVX2+FMA",
                dtype: "f64",
                chains: CHAINS_AVX2,
                flops_per_iter: (CHAINS_AVX2 * 4 * 2) as u64,
                // SAFETY: AVX2 and FMA were detected on this processor just above.
                run: |iters| unsafe { avx2_f64(iters) },
            });
        }
        out
    }
}
