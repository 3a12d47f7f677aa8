//! After warm-up, the routines allocate nothing: packing buffers are reused per thread.
//!
//! A counting global allocator wraps the system one; each routine runs once to warm the
//! buffers, then repeatedly while the count must stay at zero. Parallel calls go through
//! rayon, whose job queues may allocate a block now and then; they are checked to allocate far
//! less than once per call. The `fallback` engine (matrixmultiply) allocates its own packing
//! buffers on every call and is skipped.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use lingrad::{linear, matmul, Accum, Isa, MatMut, MatRef, Parallelism};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every method forwards to the system allocator unchanged; the counter is a relaxed
// atomic with no effect on the allocation itself.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded; `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded with the caller's arguments.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn data(n: usize, seed: u32) -> Vec<f32> {
    (0..n)
        .map(|i| {
            ((i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed) >> 8) as f32 / 16_777_216.0
                - 0.5
        })
        .collect()
}

/// Runs every routine on one shape.
struct Case {
    batch: usize,
    inf: usize,
    outf: usize,
    x: Vec<f32>,
    w: Vec<f32>,
    b: Vec<f32>,
    dy: Vec<f32>,
    y: Vec<f32>,
    dx: Vec<f32>,
    dw: Vec<f32>,
    db: Vec<f32>,
}

impl Case {
    fn new(batch: usize, inf: usize, outf: usize) -> Self {
        Self {
            batch,
            inf,
            outf,
            x: data(batch * inf, 1),
            w: data(inf * outf, 2),
            b: data(outf, 3),
            dy: data(batch * outf, 4),
            y: vec![0.0; batch * outf],
            dx: vec![0.0; batch * inf],
            dw: vec![0.0; inf * outf],
            db: vec![0.0; outf],
        }
    }

    fn run(&mut self, par: Parallelism) {
        let (m, k, n) = (self.batch, self.inf, self.outf);
        let x = MatRef::new(&self.x, m, k).unwrap();
        let w = MatRef::new(&self.w, k, n).unwrap();
        let dy = MatRef::new(&self.dy, m, n).unwrap();
        linear::forward(
            x,
            w,
            Some(&self.b),
            MatMut::new(&mut self.y, m, n).unwrap(),
            par,
        )
        .unwrap();
        let y = MatMut::new(&mut self.y, m, n).unwrap();
        matmul(x, w, y, Accum::Add, par).unwrap();
        let dw = MatMut::new(&mut self.dw, k, n).unwrap();
        linear::grad_weight(x, dy, dw, Some(&mut self.db), Accum::Add, par).unwrap();
        let dx = MatMut::new(&mut self.dx, m, k).unwrap();
        linear::grad_input(dy, w, dx, Accum::Overwrite, par).unwrap();
        linear::grad_bias(dy, &mut self.db, Accum::Add).unwrap();
        let grads = linear::Grads::new()
            .dx(MatMut::new(&mut self.dx, m, k).unwrap(), Accum::Add)
            .dw(MatMut::new(&mut self.dw, k, n).unwrap(), Accum::Overwrite)
            .db(&mut self.db, Accum::Add);
        linear::backward(x, w, dy, grads, par).unwrap();
    }
}

const SHAPES: [(usize, usize, usize); 5] = [
    (1, 300, 200),
    (32, 64, 64),
    (20, 300, 170),
    (130, 257, 129),
    (300, 520, 70),
];

fn engine_allocates() -> bool {
    lingrad::isa() == Isa::Fallback
}

/// One test function, so no other test of this binary allocates while the count runs.
#[test]
fn no_allocation_per_call_after_warm_up() {
    sequential_calls_allocate_nothing();
    parallel_calls_allocate_almost_nothing();
}

fn sequential_calls_allocate_nothing() {
    if engine_allocates() {
        eprintln!("skipped: the fallback engine allocates per call");
        return;
    }
    for (batch, inf, outf) in SHAPES {
        let mut case = Case::new(batch, inf, outf);
        case.run(Parallelism::Sequential);
        let before = ALLOCATIONS.load(Ordering::SeqCst);
        for _ in 0..3 {
            case.run(Parallelism::Sequential);
        }
        let allocated = ALLOCATIONS.load(Ordering::SeqCst) - before;
        assert_eq!(
            allocated, 0,
            "{batch}x{inf}x{outf}: {allocated} allocations"
        );
    }
}

fn parallel_calls_allocate_almost_nothing() {
    if engine_allocates() {
        eprintln!("skipped: the fallback engine allocates per call");
        return;
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    pool.install(|| {
        for (batch, inf, outf) in SHAPES {
            let mut case = Case::new(batch, inf, outf);
            case.run(Parallelism::Current);
            let before = ALLOCATIONS.load(Ordering::SeqCst);
            let calls = 20;
            for _ in 0..calls {
                case.run(Parallelism::Current);
            }
            let allocated = ALLOCATIONS.load(Ordering::SeqCst) - before;
            eprintln!(
                "{batch}x{inf}x{outf}: {allocated} allocations in {} parallel calls",
                calls * 6
            );
            // Six routine calls per run.
            assert!(
                allocated * 10 <= calls * 6,
                "{batch}x{inf}x{outf}: {allocated} allocations in {} calls",
                calls * 6
            );
        }
    });
}
