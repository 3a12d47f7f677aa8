//! Linear-layer throughput on the named shapes M×K×N (x: M×K, W: K×N), f32 and f64: lingrad's
//! `linear::*` routines against the same operations built on `matrixmultiply` 0.3 and the
//! `gemm` crate 0.19.
//!
//! Throughput is `Throughput::Elements(2·m·k·n)` per GEMM in the operation (one for forward,
//! dW and dx; two for a backward pass, whose db adds only m·n), so criterion's "Gelem/s" is
//! GFLOP/s.
//!
//! Groups (`OP_{f32,f64}`):
//! - `forward`: `y = x·W + b`; peers fill y with the bias and accumulate (β = 1).
//! - `grad_weight`: `dW = xᵀ·dy`; peers read xᵀ through swapped strides.
//! - `grad_weight_bias`: dW and `db = Σ_rows dy`; lingrad in one `grad_weight` call (`-1t`)
//!   and as `grad_weight` + `grad_bias` (`-separate-1t`); `gemm` plus a plain column-sum loop.
//! - `grad_input`: `dx = dy·Wᵀ`; peers read Wᵀ through swapped strides.
//! - `backward`: db, dW and dx; lingrad in one `linear::backward` call and as three separate
//!   calls (`-separate-1t`); `gemm` as column sums + two GEMMs.
//! - `small_forward`, `small_grad_input`: forward and dx on small shapes (one example, a few
//!   rows, 32×64×64, a product at the serial threshold), where per-call costs show; criterion
//!   prints the time per call. The `-2t` rows check that `Parallelism::Current` is never slower
//!   than `Sequential` there.
//!
//! The last two groups compare against `gemm` only, the faster peer here: a peer's dW + db or
//! backward costs exactly its grad_weight and grad_input rows, and every extra row of the
//! large shapes adds about half a minute to a full run on a 2-core machine.
//!
//! Rows: `lingrad-ENGINE-1t` (`Parallelism::Sequential`; ENGINE is `lingrad::isa()`, which
//! `LINGRAD_ISA` can lower), `matrixmultiply-1t`, `gemm-1t` (`Parallelism::None`), and the
//! two-thread rows `lingrad-ENGINE-2t` (`Parallelism::Current` in a 2-thread rayon pool) and
//! `gemm-2t` (`Parallelism::Rayon(2)` in that pool).
//!
//! ```text
//! cargo bench --bench linear                              # everything
//! cargo bench --bench linear -- '^backward_f32/'          # one group (a regex on the id)
//! cargo bench --bench linear -- 4096x1024x1024            # one shape
//! LINGRAD_ISA=portable cargo bench --bench linear         # lingrad on another engine
//! ```

mod common;

use common::workloads::{
    self, column_sums, lingrad_par, Data, Engine, Float, Op, Shape, SHAPES, SMALL_SHAPES,
};
use common::{bench, group, pool, row, set_shape, THREADS};
use criterion::{criterion_group, criterion_main, Criterion};
use lingrad::{linear, Accum, MatMut, MatRef, Parallelism};
use rayon::ThreadPool;

/// forward, grad_weight, grad_input on `shapes`: every engine, 1 and `THREADS` threads.
fn single_op<T: Float>(c: &mut Criterion, pool: &ThreadPool, name: &str, op: Op, shapes: &[Shape]) {
    let mut g = group(c, &format!("{name}_{}", T::NAME));
    for &shape in shapes {
        let mut data = Data::<T>::new(shape);
        set_shape(&mut g, shape, 1);
        for threads in [1, THREADS] {
            for engine in Engine::ALL {
                if !engine.supports_threads(threads) {
                    continue;
                }
                let p = (threads > 1).then_some(pool);
                bench(&mut g, &row(&engine.label(), threads), shape, p, || {
                    workloads::run(engine, op, threads, &mut data)
                });
            }
        }
    }
    g.finish();
}

/// dW and db from lingrad's views of `d`, in one call or as two.
fn lingrad_dw_db<T: Float>(d: &mut Data<T>, fused: bool, par: Parallelism) {
    let workloads::Shape { m, k, n } = d.shape;
    let x = MatRef::new(&d.x, m, k).expect("x");
    let dy = MatRef::new(&d.dy, m, n).expect("dy");
    let dw = MatMut::new(&mut d.dw, k, n).expect("dw");
    let over = Accum::Overwrite;
    if fused {
        linear::grad_weight(x, dy, dw, Some(&mut d.db), over, par).expect("shapes");
    } else {
        linear::grad_weight(x, dy, dw, None, over, par).expect("shapes");
        linear::grad_bias(dy, &mut d.db, over).expect("shapes");
    }
}

/// db, dW and dx from lingrad's views of `d`, in one `backward` call or as three.
fn lingrad_backward<T: Float>(d: &mut Data<T>, fused: bool, par: Parallelism) {
    let workloads::Shape { m, k, n } = d.shape;
    let x = MatRef::new(&d.x, m, k).expect("x");
    let w = MatRef::new(&d.w, k, n).expect("w");
    let dy = MatRef::new(&d.dy, m, n).expect("dy");
    let dx = MatMut::new(&mut d.dx, m, k).expect("dx");
    let dw = MatMut::new(&mut d.dw, k, n).expect("dw");
    let over = Accum::Overwrite;
    if fused {
        let grads = linear::Grads::new()
            .dx(dx, over)
            .dw(dw, over)
            .db(&mut d.db, over);
        linear::backward(x, w, dy, grads, par).expect("shapes");
    } else {
        linear::grad_bias(dy, &mut d.db, over).expect("shapes");
        linear::grad_weight(x, dy, dw, None, over, par).expect("shapes");
        linear::grad_input(dy, w, dx, over, par).expect("shapes");
    }
}

/// A peer's dW + db: its GEMM and a column-sum loop.
fn peer_dw_db<T: Float>(engine: Engine, threads: usize, d: &mut Data<T>) {
    column_sums(&d.dy, d.shape.n, &mut d.db);
    workloads::run(engine, Op::GradWeight, threads, d);
}

fn grad_weight_bias<T: Float>(c: &mut Criterion) {
    let lingrad = Engine::Lingrad.label();
    let mut g = group(c, &format!("grad_weight_bias_{}", T::NAME));
    for shape in SHAPES {
        let mut d = Data::<T>::new(shape);
        set_shape(&mut g, shape, 1);
        let seq = Parallelism::Sequential;
        bench(&mut g, &row(&lingrad, 1), shape, None, || {
            lingrad_dw_db(&mut d, true, seq)
        });
        let separate = format!("{lingrad}-separate");
        bench(&mut g, &row(&separate, 1), shape, None, || {
            lingrad_dw_db(&mut d, false, seq)
        });
        let gemm = Engine::Gemm;
        bench(&mut g, &row(&gemm.label(), 1), shape, None, || {
            peer_dw_db(gemm, 1, &mut d)
        });
    }
    g.finish();
}

fn backward<T: Float>(c: &mut Criterion, pool: &ThreadPool) {
    let lingrad = Engine::Lingrad.label();
    let separate = format!("{lingrad}-separate");
    let mut g = group(c, &format!("backward_{}", T::NAME));
    for shape in SHAPES {
        let mut d = Data::<T>::new(shape);
        set_shape(&mut g, shape, 2);
        for threads in [1, THREADS] {
            let p = (threads > 1).then_some(pool);
            let par = lingrad_par(threads);
            bench(&mut g, &row(&lingrad, threads), shape, p, || {
                lingrad_backward(&mut d, true, par)
            });
            if threads == 1 {
                bench(&mut g, &row(&separate, threads), shape, p, || {
                    lingrad_backward(&mut d, false, par)
                });
            }
            let gemm = Engine::Gemm;
            bench(&mut g, &row(&gemm.label(), threads), shape, p, || {
                peer_dw_db(gemm, threads, &mut d);
                workloads::run(gemm, Op::GradInput, threads, &mut d);
            });
        }
    }
    g.finish();
}

fn benches(c: &mut Criterion) {
    let pool = pool();
    for_type::<f32>(c, &pool);
    for_type::<f64>(c, &pool);
}

fn for_type<T: Float>(c: &mut Criterion, pool: &ThreadPool) {
    single_op::<T>(c, pool, "forward", Op::Forward, &SHAPES);
    single_op::<T>(c, pool, "grad_weight", Op::GradWeight, &SHAPES);
    grad_weight_bias::<T>(c);
    single_op::<T>(c, pool, "grad_input", Op::GradInput, &SHAPES);
    backward::<T>(c, pool);
    single_op::<T>(c, pool, "small_forward", Op::Forward, &SMALL_SHAPES);
    single_op::<T>(c, pool, "small_grad_input", Op::GradInput, &SMALL_SHAPES);
}

criterion_group!(linear_benches, benches);
criterion_main!(linear_benches);
