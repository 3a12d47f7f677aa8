//! `lingrad::Linear<f32>` through sequences of up to 16 steps: `forward`, `backward` with and
//! without `dx`, `zero_grad`, an SGD step through `params_mut` / `value_and_grad_mut`, and
//! rebuilding the layer with `Param::new` / `Linear::from_params`; any step may be given an
//! operand of the wrong shape.
//!
//! An f64 shadow of the layer (weights, biases and the gradients accumulated since the last
//! `zero_grad`) follows every step, each element with the distance the layer's f32 value may
//! have drifted from it: the tolerance of each sum (growing with its length, as in the other
//! targets) added up over the steps that fed it. Inputs are finite and below 256 in magnitude.
//!
//! Oracle: no panic; `Linear::new` on sizes that no buffer can hold returns
//! `ShapeError::Overflow` (and a layer with a huge input width but no outputs works on empty
//! batches); a fresh layer has zero gradients and values within `±1/√in_features`, the same for
//! the same seed; after every accepted step the layer matches the shadow, `y` and `dx` match an
//! f64 reference computed from the layer's current weights, gaps of the output buffers are
//! untouched, and only the SGD step changes the parameter values; a step with a wrong shape
//! returns `Err` and leaves the layer's values and gradients and every output buffer
//! bit-for-bit unchanged.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use lingrad::{Linear, MatMut, MatRef, Param, ShapeError};
use lingrad_fuzz::{
    assert_gaps_unchanged, assert_unchanged, dim, parallelism, perturb, Layout, Operand, Sum,
    ValueStream, Values,
};

/// Steps run per input; the rest are ignored.
const MAX_STEPS: usize = 16;
/// Layer widths are `0..=MAX_FEATURES`, or one of [`HUGE`].
const MAX_FEATURES: u8 = 24;
/// Widths whose buffers would exceed `isize::MAX` bytes whatever the other width, unless it is 0.
/// (Sizes the allocator would merely refuse are left out: a fuzzer treats a huge allocation
/// request as a crash.)
const HUGE: [usize; 4] = [usize::MAX / 2, usize::MAX / 2 + 1, 1 << 62, usize::MAX];
/// Input values are below this in magnitude.
const BOUND: f32 = 256.0;

#[derive(Arbitrary, Debug)]
struct Input {
    in_features: u8,
    out_features: u8,
    seed: u64,
    values: Values,
    steps: Vec<Step>,
}

/// One dimension of one of a step's operands (taken modulo their count) made wrong.
#[derive(Arbitrary, Debug, Clone, Copy)]
struct Wrong {
    operand: u8,
    cols: bool,
    by: i8,
}

#[derive(Arbitrary, Debug)]
enum Step {
    /// `y = x·W + b`; `y` starts as NaN when `nan_y`, which must not be read.
    Forward {
        batch: u16,
        x: Layout,
        y: Layout,
        nan_y: bool,
        wrong: Option<Wrong>,
        parallel: bool,
    },
    /// Accumulates `dW += xᵀ·dy`, `db += Σ_rows dy` and writes `dx = dy·Wᵀ` when `dx` is given.
    Backward {
        batch: u16,
        x: Layout,
        dy: Layout,
        dx: Option<Layout>,
        nan_dx: bool,
        wrong: Option<Wrong>,
        parallel: bool,
    },
    ZeroGrad,
    /// `value -= 2^-lr_shift · grad` for both parameters.
    Sgd {
        lr_shift: u8,
    },
    /// Rebuilds the layer from its own values, with a bias of `perturb(out, bias_len)` elements.
    Rebuild {
        bias_len: Option<i8>,
    },
}

fuzz_target!(|input: Input| run(&input));

fn features(raw: u8) -> usize {
    match raw.checked_sub(u8::MAX - HUGE.len() as u8 + 1) {
        Some(k) => HUGE[usize::from(k)],
        None => usize::from(raw % (MAX_FEATURES + 1)),
    }
}

fn run(input: &Input) {
    let (in_f, out_f) = (features(input.in_features), features(input.out_features));
    let huge = |n: usize| n > usize::from(MAX_FEATURES);
    let accepted = !huge(out_f) && (!huge(in_f) || out_f == 0);
    let layer = match Linear::<f32>::new(in_f, out_f, input.seed) {
        Ok(layer) => {
            assert!(accepted, "Linear::new({in_f}, {out_f}) must be rejected");
            layer
        }
        Err(e) => {
            let _ = e.to_string();
            assert!(!accepted, "Linear::new({in_f}, {out_f}) failed: {e}");
            assert!(
                matches!(e, ShapeError::Overflow { .. }),
                "Linear::new({in_f}, {out_f}): {e:?}"
            );
            return;
        }
    };
    check_fresh(&layer, in_f, out_f, input.seed);
    if huge(in_f) {
        empty_batches(layer, parallelism(input.seed & 1 == 1));
        return;
    }

    let mut values = ValueStream::new(input.values.bounded(BOUND));
    let mut model = Model::new(layer);
    for step in input.steps.iter().take(MAX_STEPS) {
        let values_before = value_bits(&model.layer);
        let all_before = layer_bits(&model.layer);
        match model.step(step, &mut values) {
            Outcome::Done => model.check(step),
            Outcome::Rejected => {
                assert_unchanged("the layer", &all_before, &layer_bits(&model.layer));
            }
            Outcome::Skipped => {}
        }
        assert!(
            matches!(step, Step::Sgd { .. }) || values_before == value_bits(&model.layer),
            "{step:?} changed the parameter values"
        );
    }
}

/// Checks a layer just built by `Linear::new`.
fn check_fresh(layer: &Linear<f32>, in_f: usize, out_f: usize, seed: u64) {
    assert_eq!((layer.in_features(), layer.out_features()), (in_f, out_f));
    check_accessors(layer);
    let bound = 1.0 / (in_f.max(1) as f64).sqrt() * (1.0 + 2.0 * f64::from(f32::EPSILON));
    for p in [layer.weight(), layer.bias()] {
        assert!(
            p.grad_slice().iter().all(|&g| g.to_bits() == 0),
            "a new layer's gradients must be +0"
        );
        for &v in p.value_slice() {
            assert!(
                f64::from(v).abs() <= bound,
                "Linear::new({in_f}, {out_f}, {seed}): initial value {v:e} outside ±{bound:e}"
            );
        }
    }
    let again = Linear::<f32>::new(in_f, out_f, seed).expect("accepted once");
    assert!(
        layer_bits(layer) == layer_bits(&again),
        "Linear::new({in_f}, {out_f}, {seed}) is not deterministic"
    );
}

/// Shapes and views of both parameters agree with the layer and with the slices.
fn check_accessors(layer: &Linear<f32>) {
    let (in_f, out_f) = (layer.in_features(), layer.out_features());
    for (p, shape) in [(layer.weight(), (in_f, out_f)), (layer.bias(), (1, out_f))] {
        assert_eq!((p.rows(), p.cols()), shape);
        for (view, slice) in [(p.value(), p.value_slice()), (p.grad(), p.grad_slice())] {
            assert_eq!(view.shape(), shape);
            assert_eq!(slice.len(), shape.0 * shape.1);
            // By element, not by row: a `huge × 0` weight has no elements but many rows.
            for (k, v) in slice.iter().enumerate() {
                let (i, j) = (k / shape.1, k % shape.1);
                assert_eq!(view.get(i, j).map(|e| e.to_bits()), Some(v.to_bits()));
            }
        }
    }
}

/// A layer `huge × 0`: only empty batches have views, and they must work.
fn empty_batches(mut layer: Linear<f32>, par: lingrad::Parallelism) {
    let in_f = layer.in_features();
    let (Ok(x), Ok(dy)) = (
        MatRef::<f32>::new(&[], 0, in_f),
        MatRef::<f32>::new(&[], 0, 0),
    ) else {
        return;
    };
    let mut y: [f32; 0] = [];
    let mut dx: [f32; 0] = [];
    let y_view = MatMut::new(&mut y, 0, 0).expect("empty view");
    layer.forward(x, y_view, par).expect("empty batch");
    let wide = MatMut::new(&mut y, 0, 1).expect("empty view");
    let _ = layer.forward(x, wide, par).expect_err("y too wide");
    layer.backward(x, dy, None, par).expect("empty batch");
    if let Ok(dx_view) = MatMut::new(&mut dx, 0, in_f) {
        layer
            .backward(x, dy, Some(dx_view), par)
            .expect("empty batch");
    }
    let narrow = MatRef::<f32>::new(&[], 0, in_f - 1).expect("empty view");
    let _ = layer
        .backward(narrow, dy, None, par)
        .expect_err("x too narrow");
    layer.zero_grad();
    for p in layer.params_mut() {
        let (value, grad) = p.value_and_grad_mut();
        assert!(value.is_empty() && grad.is_empty());
    }
}

/// The bits of the parameter values.
fn value_bits(layer: &Linear<f32>) -> Vec<u64> {
    let (w, b) = (layer.weight(), layer.bias());
    bits(w.value_slice().iter().chain(b.value_slice()))
}

/// The bits of the parameter values and gradients.
fn layer_bits(layer: &Linear<f32>) -> Vec<u64> {
    let (w, b) = (layer.weight(), layer.bias());
    let grads = w.grad_slice().iter().chain(b.grad_slice());
    let mut all = value_bits(layer);
    all.extend(bits(grads));
    all
}

fn bits<'a>(v: impl Iterator<Item = &'a f32>) -> Vec<u64> {
    v.map(|e| u64::from(e.to_bits())).collect()
}

/// An f64 value and how far the layer's f32 value may be from it.
#[derive(Clone, Copy, Debug, Default)]
struct Tracked {
    value: f64,
    slack: f64,
}

impl Tracked {
    /// Becomes `sum`, which the layer computed in f32 from `terms` terms, some of which were
    /// already `carried` away from their shadow.
    fn set(&mut self, mut sum: Sum, terms: usize, carried: f64) {
        sum.magnitude += carried;
        *self = Tracked {
            value: sum.value,
            slack: carried + sum.tolerance::<f32>(terms),
        };
    }
}

/// The layer and its f64 shadow: `w` and `gw` row-major `in × out`, `b` and `gb` of `out`.
struct Model {
    layer: Linear<f32>,
    w: Vec<Tracked>,
    b: Vec<Tracked>,
    gw: Vec<Tracked>,
    gb: Vec<Tracked>,
}

enum Outcome {
    /// The step ran and was accepted.
    Done,
    /// The step had a wrong shape and was rejected.
    Rejected,
    /// A view constructor refused an operand's layout; nothing ran.
    Skipped,
}

/// `(rows, cols)` of a step's operands, with `wrong` applied.
fn shapes<const N: usize>(
    mut shapes: [(usize, usize); N],
    wrong: Option<Wrong>,
) -> [(usize, usize); N] {
    if let Some(w) = wrong {
        let s = &mut shapes[usize::from(w.operand) % N];
        if w.cols {
            s.1 = perturb(s.1, Some(w.by));
        } else {
            s.0 = perturb(s.0, Some(w.by));
        }
    }
    shapes
}

impl Model {
    fn new(layer: Linear<f32>) -> Self {
        let exact = |s: &[f32]| {
            s.iter()
                .map(|&v| Tracked {
                    value: f64::from(v),
                    slack: 0.0,
                })
                .collect::<Vec<_>>()
        };
        let model = Self {
            w: exact(layer.weight().value_slice()),
            b: exact(layer.bias().value_slice()),
            gw: exact(layer.weight().grad_slice()),
            gb: exact(layer.bias().grad_slice()),
            layer,
        };
        model.check(&Step::ZeroGrad);
        model
    }

    fn in_f(&self) -> usize {
        self.layer.in_features()
    }

    fn out_f(&self) -> usize {
        self.layer.out_features()
    }

    /// Asserts that the layer matches the shadow after `step`.
    fn check(&self, step: &Step) {
        check_accessors(&self.layer);
        let (w, b) = (self.layer.weight(), self.layer.bias());
        for (what, got, want) in [
            ("weight", w.value_slice(), &self.w),
            ("bias", b.value_slice(), &self.b),
            ("weight gradient", w.grad_slice(), &self.gw),
            ("bias gradient", b.grad_slice(), &self.gb),
        ] {
            assert_eq!(got.len(), want.len(), "{what} length");
            for (k, (&got, want)) in got.iter().zip(want).enumerate() {
                assert!(
                    (f64::from(got) - want.value).abs() <= want.slack,
                    "after {step:?}: {what}[{k}] is {got:e}, shadow {:e} ± {:e}",
                    want.value,
                    want.slack
                );
            }
        }
    }

    fn step(&mut self, step: &Step, values: &mut ValueStream) -> Outcome {
        match *step {
            Step::Forward {
                batch,
                x,
                y,
                nan_y,
                wrong,
                parallel,
            } => {
                let batch = dim(batch, 48);
                let [xs, ys] = shapes([(batch, self.in_f()), (batch, self.out_f())], wrong);
                self.forward(xs, ys, x, y, nan_y, parallel, values)
            }
            Step::Backward {
                batch,
                x,
                dy,
                dx,
                nan_dx,
                wrong,
                parallel,
            } => {
                let batch = dim(batch, 48);
                let (in_f, out_f) = (self.in_f(), self.out_f());
                let [xs, dys, dxs] = shapes([(batch, in_f), (batch, out_f), (batch, in_f)], wrong);
                let dx = dx.map(|layout| (dxs, layout));
                self.backward(xs, dys, x, dy, dx, nan_dx, parallel, values)
            }
            Step::ZeroGrad => {
                self.layer.zero_grad();
                self.gw.fill(Tracked::default());
                self.gb.fill(Tracked::default());
                Outcome::Done
            }
            Step::Sgd { lr_shift } => {
                let lr = 0.5f32.powi(i32::from(lr_shift % 8));
                for p in self.layer.params_mut() {
                    let (value, grad) = p.value_and_grad_mut();
                    for (v, g) in value.iter_mut().zip(grad) {
                        *v -= lr * *g;
                    }
                }
                let lr = f64::from(lr);
                for (v, g) in self
                    .w
                    .iter_mut()
                    .chain(&mut self.b)
                    .zip(self.gw.iter().chain(&self.gb))
                {
                    let mut s = Sum::new();
                    s.add(&[v.value]);
                    s.add(&[-lr, g.value]);
                    v.set(s, 2, v.slack + lr * g.slack);
                }
                Outcome::Done
            }
            Step::Rebuild { bias_len } => self.rebuild(bias_len),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn forward(
        &mut self,
        xs: (usize, usize),
        ys: (usize, usize),
        x_layout: Layout,
        y_layout: Layout,
        nan_y: bool,
        parallel: bool,
        values: &mut ValueStream,
    ) -> Outcome {
        let nan = f32::NAN;
        let x = Operand::<f32>::new(xs.0, xs.1, x_layout, values, nan);
        let mut y = Operand::<f32>::new(ys.0, ys.1, y_layout, values, nan);
        if nan_y {
            y.data.fill(nan);
        }
        let y_bits = y.bits();
        let (Some(x_view), Some(y_view)) = (x.view(), y.view_mut()) else {
            return Outcome::Skipped;
        };
        let result = self.layer.forward(x_view, y_view, parallelism(parallel));
        let (in_f, out_f) = (self.in_f(), self.out_f());
        if xs.1 != in_f || ys != (xs.0, out_f) {
            let _ = result
                .expect_err("mismatched shapes must be rejected")
                .to_string();
            assert_unchanged("y", &y_bits, &y.bits());
            return Outcome::Rejected;
        }
        result.expect("consistent shapes must be accepted");
        assert_gaps_unchanged("y", &y, &y_bits);
        let (w, b) = (
            self.layer.weight().value_slice(),
            self.layer.bias().value_slice(),
        );
        for i in 0..xs.0 {
            for j in 0..out_f {
                let mut s = Sum::new();
                s.add(&[b[j]]);
                for p in 0..in_f {
                    s.add(&[x.at(i, p), w[p * out_f + j]]);
                }
                s.assert_matches(y.at(i, j), in_f + 1, &|| format!("y[{i}, {j}]"));
            }
        }
        Outcome::Done
    }

    #[allow(clippy::too_many_arguments)]
    fn backward(
        &mut self,
        xs: (usize, usize),
        dys: (usize, usize),
        x_layout: Layout,
        dy_layout: Layout,
        dx: Option<((usize, usize), Layout)>,
        nan_dx: bool,
        parallel: bool,
        values: &mut ValueStream,
    ) -> Outcome {
        let nan = f32::NAN;
        let x = Operand::<f32>::new(xs.0, xs.1, x_layout, values, nan);
        let dy = Operand::<f32>::new(dys.0, dys.1, dy_layout, values, nan);
        let mut dx = dx.map(|(s, layout)| {
            let mut op = Operand::<f32>::new(s.0, s.1, layout, values, nan);
            if nan_dx {
                op.data.fill(nan);
            }
            op
        });
        let dx_bits = dx.as_ref().map(Operand::bits);
        let (Some(x_view), Some(dy_view)) = (x.view(), dy.view()) else {
            return Outcome::Skipped;
        };
        let dx_view = match dx.as_mut() {
            Some(op) => match op.view_mut() {
                Some(v) => Some(v),
                None => return Outcome::Skipped,
            },
            None => None,
        };
        let result = self
            .layer
            .backward(x_view, dy_view, dx_view, parallelism(parallel));
        let (in_f, out_f) = (self.in_f(), self.out_f());
        let batch = xs.0;
        let valid = xs.1 == in_f
            && dys == (batch, out_f)
            && dx
                .as_ref()
                .is_none_or(|d| (d.rows(), d.cols()) == (batch, in_f));
        if !valid {
            let _ = result
                .expect_err("mismatched shapes must be rejected")
                .to_string();
            if let (Some(d), Some(b)) = (&dx, &dx_bits) {
                assert_unchanged("dx", b, &d.bits());
            }
            return Outcome::Rejected;
        }
        result.expect("consistent shapes must be accepted");

        if let (Some(d), Some(b)) = (&dx, &dx_bits) {
            assert_gaps_unchanged("dx", d, b);
            let w = self.layer.weight().value_slice();
            for i in 0..batch {
                for p in 0..in_f {
                    let mut s = Sum::new();
                    for j in 0..out_f {
                        s.add(&[dy.at(i, j), w[p * out_f + j]]);
                    }
                    s.assert_matches(d.at(i, p), out_f, &|| format!("dx[{i}, {p}]"));
                }
            }
        }
        for p in 0..in_f {
            for j in 0..out_f {
                let g = &mut self.gw[p * out_f + j];
                let mut s = Sum::new();
                s.add(&[g.value]);
                for i in 0..batch {
                    s.add(&[x.at(i, p), dy.at(i, j)]);
                }
                g.set(s, batch + 1, g.slack);
            }
        }
        for (j, g) in self.gb.iter_mut().enumerate() {
            let mut s = Sum::new();
            s.add(&[g.value]);
            for i in 0..batch {
                s.add(&[dy.at(i, j)]);
            }
            g.set(s, batch + 1, g.slack);
        }
        Outcome::Done
    }

    /// `Linear::from_params` on copies of the values, the bias resized to `perturb(out,
    /// bias_len)`: accepted (with zero gradients) exactly when the bias still fits.
    fn rebuild(&mut self, bias_len: Option<i8>) -> Outcome {
        let (in_f, out_f) = (self.in_f(), self.out_f());
        let len = perturb(out_f, bias_len);
        let mut b = self.layer.bias().value_slice().to_vec();
        b.resize(len, 0.0);
        let err = Param::new(b.clone(), 1, len + 1).expect_err("value of the wrong length");
        assert!(matches!(err, ShapeError::LenMismatch { .. }), "{err:?}");
        let bias = Param::new(b, 1, len).expect("value of the right length");
        let w = self.layer.weight().value_slice().to_vec();
        let weight = Param::new(w, in_f, out_f).expect("value of the right length");
        match Linear::from_params(weight, bias) {
            Ok(layer) => {
                assert_eq!(len, out_f, "a bias of {len} elements for {out_f} outputs");
                self.layer = layer;
                self.gw.fill(Tracked::default());
                self.gb.fill(Tracked::default());
                Outcome::Done
            }
            Err(e) => {
                assert_ne!(len, out_f, "Linear::from_params: {e}");
                assert!(matches!(e, ShapeError::DimMismatch { .. }), "{e:?}");
                Outcome::Rejected
            }
        }
    }
}
