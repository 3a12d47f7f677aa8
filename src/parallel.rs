//! How a call may use threads, and the small amount of machinery that hands disjoint work to
//! rayon.

/// Whether a call may use more than the calling thread.
///
/// Results are bitwise identical whichever is chosen and however many threads the pool has:
/// work is split only along output tiles, never along a reduction whose order would change.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Parallelism {
    /// Run on the calling thread only.
    Sequential,
    /// Run on the rayon pool the caller is currently in (the global pool outside any
    /// `ThreadPool::install`). No pool is created per call. Without the `rayon` feature this is
    /// the same as `Sequential`.
    #[default]
    Current,
}

impl Parallelism {
    /// The number of threads a call may use.
    pub(crate) fn threads(self) -> usize {
        match self {
            Parallelism::Sequential => 1,
            #[cfg(feature = "rayon")]
            Parallelism::Current => rayon::current_num_threads().max(1),
            #[cfg(not(feature = "rayon"))]
            Parallelism::Current => 1,
        }
    }
}

/// Runs `f(i)` for every `i` in `0..n`, on the current rayon pool when `threads > 1`.
///
/// `f` must touch only state that is disjoint between different `i`.
pub(crate) fn for_each_index(threads: usize, n: usize, f: impl Fn(usize) + Sync + Send) {
    #[cfg(feature = "rayon")]
    if threads > 1 && n > 1 {
        use rayon::prelude::*;
        (0..n).into_par_iter().for_each(f);
        return;
    }
    let _ = threads;
    (0..n).for_each(f);
}

/// Runs `a` and `b`, side by side on the current rayon pool when `threads > 1`.
pub(crate) fn join(threads: usize, a: impl FnOnce() + Send, b: impl FnOnce() + Send) {
    #[cfg(feature = "rayon")]
    if threads > 1 {
        rayon::join(a, b);
        return;
    }
    let _ = threads;
    a();
    b();
}

/// A value holding raw pointers (packed panels, a C block) that may cross threads.
///
/// Invariant, upheld by every user: the memory behind the pointers outlives the parallel
/// region, and the region's tasks only read shared data through them or write pairwise
/// disjoint elements. Read the value with [`Disjoint::get`] so closures capture the wrapper,
/// not its non-`Send` field.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Disjoint<T>(T);

impl<T: Copy> Disjoint<T> {
    /// Wraps `value`; see the type's invariant.
    pub(crate) fn new(value: T) -> Self {
        Self(value)
    }
    /// The wrapped value.
    #[inline]
    pub(crate) fn get(&self) -> T {
        self.0
    }
}

// SAFETY: see the type's invariant: tasks share read-only data or write disjoint elements.
unsafe impl<T> Send for Disjoint<T> {}
// SAFETY: as above; shared access only copies the pointer values out.
unsafe impl<T> Sync for Disjoint<T> {}
