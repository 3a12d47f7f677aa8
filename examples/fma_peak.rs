//! Measures this machine's peak floating-point throughput with an FMA loop: f32 and f64, with
//! AVX2+FMA and (where the processor has it) AVX-512, on one thread and on every core.
//!
//! ```text
//! cargo run --release --example fma_peak            # about 0.3 s per cell
//! cargo run --release --example fma_peak -- --quick # about 0.1 s per cell
//! ```
//!
//! The figures are the ceiling for any GEMM on this machine; `examples/report.rs` quotes
//! kernel throughput as a fraction of them. Off x86-64 it prints a note and exits.

#[path = "common/fma.rs"]
mod fma;

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let threads = fma::all_cores();
    let peaks = fma::measure(&[1, threads], quick);
    if peaks.is_empty() {
        println!("{}", fma::unsupported_note());
        return;
    }
    println!(
        "FMA peak ({} logical core{} available; FMA = 2 FLOP per lane):\n",
        threads,
        if threads == 1 { "" } else { "s" }
    );
    print!("{}", fma::markdown(&peaks));
}
