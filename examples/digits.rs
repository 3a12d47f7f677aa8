//! Trains a small neural network to recognise handwritten digits, end to end on `lingrad`.
//!
//! ```sh
//! cargo run --release --example digits
//! ```
//!
//! The data is the bundled `examples/data/digits.csv.gz`: 1,797 8×8 grey-scale images of the
//! digits 0–9 from the UCI "Optical Recognition of Handwritten Digits" data set (E. Alpaydin,
//! C. Kaynak, 1998, CC BY 4.0; see `examples/data/README.md`). Pixels (0..=16) are scaled to
//! [0, 1], the samples are shuffled with a fixed seed and split 80/20 into a training set and a
//! held-out set.
//!
//! The network is `64 → 128 → 10`: two [`lingrad::Linear`] layers with a ReLU between them,
//! trained with softmax cross-entropy and Adam on mini-batches of 32. The layers' forward and
//! backward passes (`y = x·W + b`; `dW = xᵀ·dy`, `db = Σ_rows dy`, `dx = dy·Wᵀ`) run on
//! `lingrad`; the activation, the loss and the optimiser are the few lines of plain Rust below.
//!
//! Each epoch prints the mean training loss, the accuracy on the training and held-out sets, and
//! the time elapsed. Everything is seeded, so every run prints the same numbers (up to the
//! times). The program exits with status 1 if the held-out accuracy after the last epoch is
//! below [`TARGET_ACCURACY`] or training took longer than [`TIME_LIMIT`].

use std::error::Error;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use flate2::read::GzDecoder;
use lingrad::{Linear, MatMut, MatRef, Parallelism, Param};

/// Pixels per image (8×8).
const FEATURES: usize = 64;
/// Digits 0–9.
const CLASSES: usize = 10;
/// Width of the hidden layer.
const HIDDEN: usize = 128;
/// Samples per optimiser step.
const BATCH: usize = 32;
/// Passes over the training set.
const EPOCHS: usize = 30;
/// Fraction of the samples used for training; the rest is held out.
const TRAIN_FRACTION: f64 = 0.8;
/// Adam's step size.
const LEARNING_RATE: f32 = 2e-3;
/// Seed for the shuffles and the initial weights.
const SEED: u64 = 0x5EED_D161;
/// Held-out accuracy the trained network must reach.
const TARGET_ACCURACY: f64 = 0.95;
/// Time the whole run (loading, training, evaluation) may take.
const TIME_LIMIT: Duration = Duration::from_secs(30);

/// The threads the layers may use; the batches here are small enough that one is plenty.
const PAR: Parallelism = Parallelism::Sequential;

type Result<T> = std::result::Result<T, Box<dyn Error>>;

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Trains and evaluates the network; `Ok(false)` when it misses the accuracy or time target.
fn run() -> Result<bool> {
    let start = Instant::now();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data/digits.csv.gz");
    let data = Dataset::load(&path)?;
    let (train, test) = data.split(TRAIN_FRACTION, SEED);
    println!(
        "{} samples from {}: {} for training, {} held out; engine: {}",
        data.len(),
        path.display(),
        train.len(),
        test.len(),
        lingrad::isa(),
    );

    let mut net = Mlp::new(SEED)?;
    let mut adam = Adam::new(&mut net, LEARNING_RATE);
    let mut rng = SplitMix64::new(SEED ^ 0xA5A5);
    let mut order: Vec<usize> = (0..train.len()).collect();
    let mut batch = Batch::new(BATCH);

    println!("epoch      loss  train acc  held-out acc   elapsed");
    let mut test_acc = 0.0;
    for epoch in 1..=EPOCHS {
        rng.shuffle(&mut order);
        let mut loss_sum = 0.0;
        for chunk in order.chunks(BATCH) {
            batch.gather(&train, chunk);
            net.zero_grad();
            loss_sum += net.train_step(&batch)? * chunk.len() as f64;
            adam.step(&mut net);
        }
        let loss = loss_sum / train.len() as f64;
        let train_acc = net.accuracy(&train)?;
        test_acc = net.accuracy(&test)?;
        println!(
            "{epoch:>5} {loss:>9.4} {:>9.2}% {:>12.2}% {:>8.2}s",
            100.0 * train_acc,
            100.0 * test_acc,
            start.elapsed().as_secs_f64(),
        );
    }

    let elapsed = start.elapsed();
    let accurate = test_acc >= TARGET_ACCURACY;
    let in_time = elapsed <= TIME_LIMIT;
    if accurate && in_time {
        println!(
            "ok: {:.2}% held-out accuracy in {:.2}s",
            100.0 * test_acc,
            elapsed.as_secs_f64()
        );
    } else {
        eprintln!(
            "FAILED: held-out accuracy {:.2}% (target {:.0}%), time {:.2}s (limit {}s)",
            100.0 * test_acc,
            100.0 * TARGET_ACCURACY,
            elapsed.as_secs_f64(),
            TIME_LIMIT.as_secs(),
        );
    }
    Ok(accurate && in_time)
}

/// Images (row-major, `len × FEATURES`, scaled to [0, 1]) and their labels.
struct Dataset {
    pixels: Vec<f32>,
    labels: Vec<usize>,
}

impl Dataset {
    /// Reads the gzip-compressed CSV: 64 pixels 0..=16 and a label 0..=9 per line.
    fn load(path: &Path) -> Result<Self> {
        let file = std::fs::File::open(path)
            .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        let mut data = Dataset {
            pixels: Vec::new(),
            labels: Vec::new(),
        };
        for (n, line) in BufReader::new(GzDecoder::new(file)).lines().enumerate() {
            let line = line?;
            if line.trim().is_empty() {
                continue;
            }
            let bad = |what: &str| format!("{}:{}: {what}", path.display(), n + 1);
            let values = line
                .split(',')
                .map(|v| v.trim().parse::<u8>())
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|e| bad(&e.to_string()))?;
            if values.len() != FEATURES + 1 {
                return Err(bad(&format!(
                    "{} fields, expected {}",
                    values.len(),
                    FEATURES + 1
                ))
                .into());
            }
            let (pixels, label) = values.split_at(FEATURES);
            if pixels.iter().any(|&p| p > 16) || label[0] as usize >= CLASSES {
                return Err(bad("pixel above 16 or label above 9").into());
            }
            data.pixels
                .extend(pixels.iter().map(|&p| f32::from(p) / 16.0));
            data.labels.push(label[0] as usize);
        }
        if data.is_empty() {
            return Err(format!("{}: no samples", path.display()).into());
        }
        Ok(data)
    }

    fn len(&self) -> usize {
        self.labels.len()
    }

    fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The pixels of sample `i`.
    fn image(&self, i: usize) -> &[f32] {
        &self.pixels[i * FEATURES..(i + 1) * FEATURES]
    }

    /// A seeded shuffle, then the first `fraction` of the samples and the rest.
    fn split(&self, fraction: f64, seed: u64) -> (Dataset, Dataset) {
        let mut order: Vec<usize> = (0..self.len()).collect();
        SplitMix64::new(seed).shuffle(&mut order);
        let cut = (self.len() as f64 * fraction).round() as usize;
        let subset = |idx: &[usize]| Dataset {
            pixels: idx.iter().flat_map(|&i| self.image(i)).copied().collect(),
            labels: idx.iter().map(|&i| self.labels[i]).collect(),
        };
        (subset(&order[..cut]), subset(&order[cut..]))
    }
}

/// One mini-batch, copied out of a [`Dataset`] into contiguous buffers.
struct Batch {
    pixels: Vec<f32>,
    labels: Vec<usize>,
}

impl Batch {
    fn new(capacity: usize) -> Self {
        Batch {
            pixels: Vec::with_capacity(capacity * FEATURES),
            labels: Vec::with_capacity(capacity),
        }
    }

    /// Replaces the contents with the samples `idx` of `data`.
    fn gather(&mut self, data: &Dataset, idx: &[usize]) {
        self.pixels.clear();
        self.labels.clear();
        for &i in idx {
            self.pixels.extend_from_slice(data.image(i));
            self.labels.push(data.labels[i]);
        }
    }
}

/// `64 → HIDDEN → 10` with a ReLU in between; outputs are logits.
struct Mlp {
    hidden: Linear<f32>,
    output: Linear<f32>,
}

impl Mlp {
    fn new(seed: u64) -> Result<Self> {
        Ok(Mlp {
            hidden: Linear::new(FEATURES, HIDDEN, seed)?,
            output: Linear::new(HIDDEN, CLASSES, seed.wrapping_add(1))?,
        })
    }

    fn zero_grad(&mut self) {
        self.hidden.zero_grad();
        self.output.zero_grad();
    }

    /// Logits for `n` images; also returns the hidden activations the backward pass needs.
    fn forward(&self, pixels: &[f32], n: usize) -> Result<(Vec<f32>, Vec<f32>)> {
        let mut h = vec![0.0; n * HIDDEN];
        self.hidden.forward(
            MatRef::new(pixels, n, FEATURES)?,
            MatMut::new(&mut h, n, HIDDEN)?,
            PAR,
        )?;
        relu(&mut h);
        let mut logits = vec![0.0; n * CLASSES];
        self.output.forward(
            MatRef::new(&h, n, HIDDEN)?,
            MatMut::new(&mut logits, n, CLASSES)?,
            PAR,
        )?;
        Ok((h, logits))
    }

    /// Forward and backward over one batch; accumulates the gradients of the mean
    /// cross-entropy into the layers and returns that mean.
    fn train_step(&mut self, batch: &Batch) -> Result<f64> {
        let n = batch.labels.len();
        let (h, logits) = self.forward(&batch.pixels, n)?;
        let mut dlogits = logits;
        let loss = softmax_cross_entropy(&mut dlogits, &batch.labels);

        let mut dh = vec![0.0; n * HIDDEN];
        self.output.backward(
            MatRef::new(&h, n, HIDDEN)?,
            MatRef::new(&dlogits, n, CLASSES)?,
            Some(MatMut::new(&mut dh, n, HIDDEN)?),
            PAR,
        )?;
        // ReLU's derivative: pass the gradient where the unit was active. `h` is the ReLU's
        // output, which is positive exactly where its input was.
        for (d, &a) in dh.iter_mut().zip(&h) {
            if a <= 0.0 {
                *d = 0.0;
            }
        }
        // The first layer's input gradient is not needed.
        self.hidden.backward(
            MatRef::new(&batch.pixels, n, FEATURES)?,
            MatRef::new(&dh, n, HIDDEN)?,
            None,
            PAR,
        )?;
        Ok(loss)
    }

    /// The fraction of `data` classified correctly, in one forward pass.
    fn accuracy(&self, data: &Dataset) -> Result<f64> {
        let (_, logits) = self.forward(&data.pixels, data.len())?;
        let correct = logits
            .chunks_exact(CLASSES)
            .zip(&data.labels)
            .filter(|(row, &label)| argmax(row) == label)
            .count();
        Ok(correct as f64 / data.len() as f64)
    }

    /// The four parameters, in a fixed order.
    fn params_mut(&mut self) -> impl Iterator<Item = &mut Param<f32>> {
        let [w1, b1] = self.hidden.params_mut();
        let [w2, b2] = self.output.params_mut();
        [w1, b1, w2, b2].into_iter()
    }
}

fn relu(v: &mut [f32]) {
    for x in v {
        *x = x.max(0.0);
    }
}

fn argmax(row: &[f32]) -> usize {
    row.iter()
        .enumerate()
        .fold((0, f32::NEG_INFINITY), |best, (i, &v)| {
            if v > best.1 {
                (i, v)
            } else {
                best
            }
        })
        .0
}

/// Mean softmax cross-entropy of `logits` (`labels.len() × CLASSES`) against `labels`.
///
/// Overwrites `logits` with the loss's gradient, `(softmax − one_hot) / batch`.
fn softmax_cross_entropy(logits: &mut [f32], labels: &[usize]) -> f64 {
    let scale = 1.0 / labels.len() as f32;
    let mut loss = 0.0;
    for (row, &label) in logits.chunks_exact_mut(CLASSES).zip(labels) {
        // Subtracting the maximum keeps exp() in range.
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut sum = 0.0;
        for v in row.iter_mut() {
            *v = (*v - max).exp();
            sum += *v;
        }
        loss -= f64::from((row[label] / sum).ln());
        for (j, v) in row.iter_mut().enumerate() {
            let target = if j == label { 1.0 } else { 0.0 };
            *v = (*v / sum - target) * scale;
        }
    }
    loss / labels.len() as f64
}

/// Adam (Kingma & Ba, 2015) with the usual β₁ = 0.9, β₂ = 0.999, ε = 10⁻⁸.
struct Adam {
    lr: f32,
    t: i32,
    /// First and second moment estimates, one pair per parameter.
    moments: Vec<(Vec<f32>, Vec<f32>)>,
}

impl Adam {
    const BETA1: f32 = 0.9;
    const BETA2: f32 = 0.999;
    const EPS: f32 = 1e-8;

    fn new(net: &mut Mlp, lr: f32) -> Self {
        let moments = net
            .params_mut()
            .map(|p| {
                let n = p.value_slice().len();
                (vec![0.0; n], vec![0.0; n])
            })
            .collect();
        Adam { lr, t: 0, moments }
    }

    /// One update of every parameter from its current gradient.
    fn step(&mut self, net: &mut Mlp) {
        self.t += 1;
        let c1 = 1.0 - Self::BETA1.powi(self.t);
        let c2 = 1.0 - Self::BETA2.powi(self.t);
        for (param, (m, v)) in net.params_mut().zip(&mut self.moments) {
            let (value, grad) = param.value_and_grad_mut();
            for (((w, &g), m), v) in value.iter_mut().zip(grad).zip(m).zip(v) {
                *m = Self::BETA1 * *m + (1.0 - Self::BETA1) * g;
                *v = Self::BETA2 * *v + (1.0 - Self::BETA2) * g * g;
                *w -= self.lr * (*m / c1) / ((*v / c2).sqrt() + Self::EPS);
            }
        }
    }
}

/// SplitMix64 (Steele, Lea & Flood, 2014): a small, fast, seedable generator, so the shuffles
/// are the same on every machine.
struct SplitMix64(u64);

impl SplitMix64 {
    fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform index in `0..n` (`n > 0`), by Lemire's multiply-shift (bias < n / 2⁶⁴).
    fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }

    /// Fisher–Yates shuffle.
    fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            v.swap(i, self.below(i + 1));
        }
    }
}
