//! Performance report: forward, dW and dx on the named shapes, lingrad against
//! `matrixmultiply` 0.3 and the `gemm` crate 0.19, as GFLOP/s and as a fraction of this
//! machine's measured FMA peak. Prints a markdown table and writes `docs/report.md` and a bar
//! chart `docs/report.png`.
//!
//! ```text
//! cargo run --release --example report                      # f32 and f64, 1 and all threads
//! cargo run --release --example report -- --quick           # 3 reps instead of 7
//! cargo run --release --example report -- --dtype f32 --threads 1
//! LINGRAD_ISA=portable cargo run --release --example report -- --out-dir /tmp/portable
//! ```
//!
//! Options: `--dtype f32|f64|both`, `--threads 1,2` (a list; default 1 and every core),
//! `--reps N`, `--quick`, `--shapes 1024x1024x1024,64x4096x4096`, `--out-dir DIR` (default
//! `docs`), `--no-png`, `--font FILE.ttf`.
//!
//! Timing: each cell runs once as warm-up, which also sets how many calls one timed rep makes
//! (enough for at least 20 ms); the figure is the median of the reps. The peak is probed before
//! and after the runs, and the better figure kept. Every peer's output is
//! checked against lingrad's. Multi-threaded cells run inside a rayon pool of that size:
//! lingrad with `Parallelism::Current`, `gemm` with `Parallelism::Rayon(n)`; `matrixmultiply`
//! is single-threaded only.
//!
//! The chart needs a TrueType font for its text: `--font`, else `LINGRAD_REPORT_FONT`, else
//! DejaVu Sans or Liberation Sans from the usual system folders. Without one the report is
//! written without the chart, and says so.

#[path = "common/fma.rs"]
mod fma;
#[path = "common/workloads.rs"]
mod workloads;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use workloads::{Data, Engine, Float, Op, Shape, SHAPES};

const OPS: [Op; 3] = [Op::Forward, Op::GradWeight, Op::GradInput];

struct Options {
    dtypes: Vec<&'static str>,
    threads: Vec<usize>,
    reps: usize,
    quick: bool,
    shapes: Vec<Shape>,
    out_dir: PathBuf,
    png: bool,
    font: Option<PathBuf>,
}

fn usage() -> ! {
    eprintln!(
        "usage: report [--dtype f32|f64|both] [--threads 1,2] [--reps N] [--quick] \
         [--shapes MxKxN,...] [--out-dir DIR] [--no-png] [--font FILE]"
    );
    std::process::exit(2)
}

fn parse_args() -> Options {
    let cores = fma::all_cores();
    let mut o = Options {
        dtypes: vec!["f32", "f64"],
        threads: if cores > 1 { vec![1, cores] } else { vec![1] },
        reps: 7,
        quick: false,
        shapes: SHAPES.to_vec(),
        out_dir: PathBuf::from("docs"),
        png: true,
        font: None,
    };
    let mut reps = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| usage());
        match arg.as_str() {
            "--dtype" => {
                o.dtypes = match value().as_str() {
                    "f32" => vec!["f32"],
                    "f64" => vec!["f64"],
                    "both" => vec!["f32", "f64"],
                    _ => usage(),
                }
            }
            "--threads" => {
                o.threads = value()
                    .split(',')
                    .map(|t| t.trim().parse().ok().filter(|&t| t > 0))
                    .collect::<Option<_>>()
                    .unwrap_or_else(|| usage())
            }
            "--reps" => {
                reps = Some(
                    value()
                        .parse()
                        .ok()
                        .filter(|&r| r > 0)
                        .unwrap_or_else(|| usage()),
                )
            }
            "--quick" => o.quick = true,
            "--shapes" => {
                let wanted = value();
                o.shapes = SHAPES
                    .into_iter()
                    .filter(|s| wanted.split(',').any(|w| w.trim() == s.name()))
                    .collect();
                if o.shapes.is_empty() {
                    eprintln!("no shape matches {wanted:?}; shapes are:");
                    SHAPES.iter().for_each(|s| eprintln!("  {}", s.name()));
                    std::process::exit(2);
                }
            }
            "--out-dir" => o.out_dir = PathBuf::from(value()),
            "--no-png" => o.png = false,
            "--font" => o.font = Some(PathBuf::from(value())),
            "-h" | "--help" => usage(),
            // `cargo bench` passes `--bench` to every target; harmless here.
            "--bench" => {}
            _ => usage(),
        }
    }
    o.reps = reps.unwrap_or(if o.quick { 3 } else { 7 });
    o.threads.sort_unstable();
    o.threads.dedup();
    o
}

/// One measured cell.
struct Cell {
    dtype: &'static str,
    threads: usize,
    shape: Shape,
    op: Op,
    engine: Engine,
    gflops: f64,
}

/// Median seconds per call of `f`, after a warm-up call that also sizes the reps.
fn time_median(reps: usize, min_rep: Duration, mut f: impl FnMut()) -> f64 {
    let t = Instant::now();
    f();
    let first = t.elapsed().as_secs_f64().max(1e-9);
    let calls = ((min_rep.as_secs_f64() / first).ceil() as usize).max(1);
    let mut per_call: Vec<f64> = (0..reps)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..calls {
                f();
            }
            t.elapsed().as_secs_f64() / calls as f64
        })
        .collect();
    per_call.sort_by(f64::total_cmp);
    per_call[per_call.len() / 2]
}

/// Largest difference allowed between two engines' results: rounding of a sum of
/// `terms` products of values below 1, with a wide margin.
fn tolerance<T: Float>(terms: usize) -> f64 {
    let eps = if T::NAME == "f32" {
        f32::EPSILON as f64
    } else {
        f64::EPSILON
    };
    8.0 * eps * terms as f64
}

fn measure<T: Float>(
    o: &Options,
    threads: usize,
    cells: &mut Vec<Cell>,
    mismatches: &mut Vec<String>,
) {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("rayon pool");
    let min_rep = Duration::from_millis(if o.quick { 10 } else { 20 });
    for &shape in &o.shapes {
        let mut data = Data::<T>::new(shape);
        for op in OPS {
            let mut reference: Vec<T> = Vec::new();
            for engine in Engine::ALL {
                if !engine.supports_threads(threads) {
                    continue;
                }
                let secs = pool.install(|| {
                    time_median(o.reps, min_rep, || {
                        workloads::run(engine, op, threads, &mut data)
                    })
                });
                let gflops = shape.flops() as f64 / secs / 1e9;
                eprintln!(
                    "{} {}t {:>15} {:>7} {:>22} {:8.2} GFLOP/s",
                    T::NAME,
                    threads,
                    shape.name(),
                    op.name(),
                    engine.label(),
                    gflops
                );
                let out = data.output(op);
                if engine == Engine::Lingrad {
                    reference = out.to_vec();
                } else {
                    let terms = match op {
                        Op::Matmul | Op::Forward => shape.k,
                        Op::GradWeight => shape.m,
                        Op::GradInput => shape.n,
                    };
                    let diff = workloads::max_abs_diff(&reference, out);
                    if diff.is_nan() || diff > tolerance::<T>(terms) {
                        mismatches.push(format!(
                            "{} {} {} {}t: {} differs from lingrad by {diff:e}",
                            T::NAME,
                            shape.name(),
                            op.name(),
                            threads,
                            engine.label()
                        ));
                    }
                }
                cells.push(Cell {
                    dtype: T::NAME,
                    threads,
                    shape,
                    op,
                    engine,
                    gflops,
                });
            }
        }
    }
}

fn geomean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, n) = values.fold((0.0, 0usize), |(s, n), v| (s + v.ln(), n + 1));
    (n > 0).then(|| (sum / n as f64).exp())
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_owned())
}

/// Today's date (UTC), from the system clock.
fn today() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    // Civil-from-days (H. Hinnant's algorithm).
    let z = (secs / 86_400) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

fn markdown(
    o: &Options,
    cells: &[Cell],
    peaks: &[fma::Peak],
    mismatches: &[String],
    chart: &str,
) -> String {
    let mut s = String::new();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let _ = writeln!(s, "# lingrad performance report\n");
    let _ = writeln!(
        s,
        "{}: {}, {} logical cores; lingrad engine `{}` (detected `{}`). Command: \
         `cargo run --release --example report{}{}`. Median of {} reps per cell after a warm-up; \
         GFLOP/s counts 2·M·K·N per operation; percentages are of the measured FMA peak for the \
         type and thread count.\n",
        today(),
        cpu_model(),
        fma::all_cores(),
        lingrad::isa(),
        lingrad::detected_isa(),
        if args.is_empty() { "" } else { " -- " },
        args.join(" "),
        o.reps
    );
    let _ = writeln!(s, "## FMA peak\n");
    if peaks.is_empty() {
        let _ = writeln!(s, "{}\n", fma::unsupported_note());
    } else {
        let _ = writeln!(s, "{}", fma::markdown(peaks));
    }
    let engines = |threads: usize| -> Vec<Engine> {
        Engine::ALL
            .into_iter()
            .filter(|e| e.supports_threads(threads))
            .collect()
    };
    let _ = writeln!(s, "## Summary: geometric mean GFLOP/s over the shapes\n");
    let _ = write!(s, "| type | threads | engine |");
    for op in OPS {
        let _ = write!(s, " {} |", op.name());
    }
    let _ = writeln!(s, "\n|---|---:|---|{}", "---:|".repeat(OPS.len()));
    for &dtype in &o.dtypes {
        for &threads in &o.threads {
            let peak = fma::best(peaks, dtype, threads);
            for engine in engines(threads) {
                let _ = write!(s, "| {dtype} | {threads} | {} |", engine.label());
                for op in OPS {
                    let g = geomean(
                        cells
                            .iter()
                            .filter(|c| c.dtype == dtype && c.threads == threads)
                            .filter(|c| c.op == op && c.engine == engine)
                            .map(|c| c.gflops),
                    );
                    let _ = write!(s, " {} |", fmt_cell(g, peak));
                }
                let _ = writeln!(s);
            }
        }
    }
    let _ = writeln!(s);
    for &dtype in &o.dtypes {
        for &threads in &o.threads {
            let peak = fma::best(peaks, dtype, threads);
            let _ = writeln!(
                s,
                "## {dtype}, {threads} thread{}: GFLOP/s (% of peak {})\n",
                if threads == 1 { "" } else { "s" },
                peak.map_or("unknown".to_owned(), |p| format!("{p:.1}"))
            );
            let list = engines(threads);
            let _ = write!(s, "| shape M×K×N | op |");
            for e in &list {
                let _ = write!(s, " {} |", e.label());
            }
            let _ = writeln!(s, "\n|---|---|{}", "---:|".repeat(list.len()));
            for &shape in &o.shapes {
                for op in OPS {
                    let _ = write!(s, "| {} | {} |", shape.name(), op.name());
                    for &engine in &list {
                        let g = cells
                            .iter()
                            .find(|c| {
                                c.dtype == dtype
                                    && c.threads == threads
                                    && c.shape == shape
                                    && c.op == op
                                    && c.engine == engine
                            })
                            .map(|c| c.gflops);
                        let _ = write!(s, " {} |", fmt_cell(g, peak));
                    }
                    let _ = writeln!(s);
                }
            }
            let _ = writeln!(s);
        }
    }
    let over_peak = cells
        .iter()
        .any(|c| fma::best(peaks, c.dtype, c.threads).is_some_and(|p| c.gflops > 1.02 * p));
    let crowded = o.dtypes.iter().any(|&d| {
        o.threads.iter().any(|&t| {
            let (one, many) = (fma::best(peaks, d, 1), fma::best(peaks, d, t));
            t > 1
                && one
                    .zip(many)
                    .is_some_and(|(one, many)| many < 0.75 * t as f64 * one)
        })
    });
    if crowded {
        let _ = writeln!(
            s,
            "**Note:** the multi-thread peak is well below threads × the 1-thread peak: other \
             work was using the cores, so multi-thread figures and percentages understate this \
             machine.\n"
        );
    }
    if over_peak {
        let _ = writeln!(
            s,
            "**Note:** some cells exceed the measured peak: the machine was busy while the peak \
             was probed (before and after the runs), so the percentages are not reliable.\n"
        );
    }
    if !mismatches.is_empty() {
        let _ = writeln!(s, "## Result mismatches\n");
        for m in mismatches {
            let _ = writeln!(s, "- {m}");
        }
        let _ = writeln!(s);
    }
    let _ = writeln!(s, "{chart}");
    s
}

fn fmt_cell(gflops: Option<f64>, peak: Option<f64>) -> String {
    match (gflops, peak) {
        (Some(g), Some(p)) => format!("{g:.1} ({:.0} %)", 100.0 * g / p),
        (Some(g), None) => format!("{g:.1}"),
        (None, _) => "–".to_owned(),
    }
}

/// The first readable TrueType font: `--font`, `LINGRAD_REPORT_FONT`, then common system
/// locations.
fn find_font(o: &Options) -> Option<(PathBuf, Vec<u8>)> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    candidates.extend(o.font.clone());
    candidates.extend(std::env::var_os("LINGRAD_REPORT_FONT").map(PathBuf::from));
    for p in [
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/TTF/DejaVuSans.ttf",
        "/usr/share/fonts/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf",
        "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
        "/usr/share/fonts/liberation-sans/LiberationSans-Regular.ttf",
        "/Library/Fonts/Arial.ttf",
        "/System/Library/Fonts/Supplemental/Arial.ttf",
        "C:\\Windows\\Fonts\\arial.ttf",
    ] {
        candidates.push(PathBuf::from(p));
    }
    candidates
        .into_iter()
        .find_map(|p| std::fs::read(&p).ok().map(|bytes| (p, bytes)))
}

/// Bar chart: one panel per (type, threads) row and operation column; in each, GFLOP/s per
/// shape for every engine, with the FMA peak as a vertical line.
fn draw_chart(
    path: &Path,
    o: &Options,
    cells: &[Cell],
    peaks: &[fma::Peak],
) -> Result<(), Box<dyn std::error::Error>> {
    use plotters::prelude::*;

    let configs: Vec<(&str, usize)> = o
        .dtypes
        .iter()
        .flat_map(|&d| o.threads.iter().map(move |&t| (d, t)))
        .collect();
    let n_shapes = o.shapes.len();
    let panel_h = 70 + 26 * n_shapes as u32;
    let (width, height) = (1800u32, 60 + panel_h * configs.len() as u32);
    let root = BitMapBackend::new(path, (width, height)).into_drawing_area();
    root.fill(&WHITE)?;
    let (title, body) = root.split_vertically(60);
    title.draw(&Text::new(
        format!(
            "GFLOP/s per shape: lingrad vs matrixmultiply vs gemm, {} ({})",
            cpu_model(),
            today()
        ),
        (20, 8),
        ("sans-serif", 24),
    ))?;
    let colors = [
        RGBColor(31, 119, 180),
        RGBColor(255, 127, 14),
        RGBColor(44, 160, 44),
    ];
    // Legend in the header, so it never covers a bar.
    let mut x = 20;
    for (engine, color) in Engine::ALL.iter().zip(colors) {
        title.draw(&Rectangle::new([(x, 40), (x + 16, 52)], color.filled()))?;
        let label = engine.label();
        title.draw(&Text::new(label.clone(), (x + 22, 38), ("sans-serif", 16)))?;
        x += 40 + 9 * label.len() as i32;
    }
    title.draw(&PathElement::new(
        vec![(x, 46), (x + 16, 46)],
        BLACK.stroke_width(2),
    ))?;
    title.draw(&Text::new(
        "measured FMA peak",
        (x + 22, 38),
        ("sans-serif", 16),
    ))?;
    let panels = body.split_evenly((configs.len(), OPS.len()));
    for (idx, panel) in panels.iter().enumerate() {
        let (dtype, threads) = configs[idx / OPS.len()];
        let op = OPS[idx % OPS.len()];
        let engines: Vec<Engine> = Engine::ALL
            .into_iter()
            .filter(|e| e.supports_threads(threads))
            .collect();
        let value = |shape: Shape, engine: Engine| {
            cells
                .iter()
                .find(|c| {
                    c.dtype == dtype
                        && c.threads == threads
                        && c.shape == shape
                        && c.op == op
                        && c.engine == engine
                })
                .map(|c| c.gflops)
        };
        let peak = fma::best(peaks, dtype, threads);
        let max = cells
            .iter()
            .filter(|c| c.dtype == dtype && c.threads == threads)
            .map(|c| c.gflops)
            .chain(peak)
            .fold(1.0, f64::max);
        let names: Vec<String> = o.shapes.iter().map(Shape::name).collect();
        let mut chart = ChartBuilder::on(panel)
            .caption(
                format!(
                    "{} {dtype}, {threads} thread{}",
                    op.name(),
                    if threads == 1 { "" } else { "s" }
                ),
                ("sans-serif", 18),
            )
            .margin(8)
            .x_label_area_size(38)
            .y_label_area_size(130)
            .build_cartesian_2d(0.0..max * 1.08, -0.5..n_shapes as f64 - 0.5)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(n_shapes)
            .y_label_formatter(&|v| {
                // Shape 0 at the top.
                let i = (n_shapes as f64 - 1.0 - v).round();
                if (i - (n_shapes as f64 - 1.0 - v)).abs() < 1e-6 && i >= 0.0 {
                    names.get(i as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .x_desc("GFLOP/s")
            .label_style(("sans-serif", 14))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()?;
        let bar_h = 0.8 / engines.len() as f64;
        for (e_idx, &engine) in engines.iter().enumerate() {
            let color = colors[Engine::ALL.iter().position(|&e| e == engine).unwrap_or(0)];
            let bars = o.shapes.iter().enumerate().filter_map(|(i, &shape)| {
                let g = value(shape, engine)?;
                let top = (n_shapes - 1 - i) as f64 + 0.4 - e_idx as f64 * bar_h;
                Some(Rectangle::new(
                    [(0.0, top), (g, top - bar_h * 0.9)],
                    color.filled(),
                ))
            });
            chart.draw_series(bars)?;
        }
        if let Some(p) = peak {
            chart.draw_series(std::iter::once(PathElement::new(
                vec![(p, -0.5), (p, n_shapes as f64 - 0.5)],
                BLACK.stroke_width(2),
            )))?;
        }
    }
    root.present()?;
    Ok(())
}

fn main() {
    let o = parse_args();
    eprintln!(
        "lingrad engine {} (detected {}); measuring the FMA peak...",
        lingrad::isa(),
        lingrad::detected_isa()
    );
    let mut peaks = fma::measure(&o.threads, o.quick);
    let mut cells = Vec::new();
    let mut mismatches = Vec::new();
    for &dtype in &o.dtypes {
        for &threads in &o.threads {
            match dtype {
                "f32" => measure::<f32>(&o, threads, &mut cells, &mut mismatches),
                _ => measure::<f64>(&o, threads, &mut cells, &mut mismatches),
            }
        }
    }
    for m in &mismatches {
        eprintln!("MISMATCH {m}");
    }
    // Measure the peak again and keep the better figure: another busy process during either
    // probe would otherwise understate it.
    eprintln!("measuring the FMA peak again...");
    for again in fma::measure(&o.threads, o.quick) {
        if let Some(p) = peaks
            .iter_mut()
            .find(|p| p.isa == again.isa && p.dtype == again.dtype && p.threads == again.threads)
        {
            p.gflops = p.gflops.max(again.gflops);
        }
    }

    if let Err(e) = std::fs::create_dir_all(&o.out_dir) {
        eprintln!("cannot create {}: {e}", o.out_dir.display());
        std::process::exit(1);
    }
    let png = o.out_dir.join("report.png");
    let chart_note = if !o.png {
        String::new()
    } else {
        match find_font(&o) {
            None => {
                let note = "No chart: no TrueType font found (pass `--font FILE.ttf` or set \
                            `LINGRAD_REPORT_FONT`).";
                eprintln!("{note}");
                format!("{note}\n")
            }
            Some((font_path, bytes)) => {
                let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                match plotters::style::register_font(
                    "sans-serif",
                    plotters::style::FontStyle::Normal,
                    bytes,
                ) {
                    Err(_) => {
                        let note =
                            format!("No chart: {} is not a usable font.", font_path.display());
                        eprintln!("{note}");
                        format!("{note}\n")
                    }
                    Ok(()) => match draw_chart(&png, &o, &cells, &peaks) {
                        Ok(()) => {
                            eprintln!("wrote {}", png.display());
                            "![GFLOP/s per shape](report.png)\n".to_owned()
                        }
                        Err(e) => {
                            eprintln!("no chart: {e}");
                            format!("No chart: {e}\n")
                        }
                    },
                }
            }
        }
    };
    let md = markdown(&o, &cells, &peaks, &mismatches, &chart_note);
    print!("{md}");
    let md_path = o.out_dir.join("report.md");
    match std::fs::write(&md_path, &md) {
        Ok(()) => eprintln!("wrote {}", md_path.display()),
        Err(e) => {
            eprintln!("cannot write {}: {e}", md_path.display());
            std::process::exit(1);
        }
    }
    if !mismatches.is_empty() {
        std::process::exit(1);
    }
}
