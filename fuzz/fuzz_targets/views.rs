//! `MatRef` / `MatMut` constructors on any slice length, shape and strides.
//!
//! Oracle: no panic. A `MatRef` is accepted exactly when its last element fits in the slice; a
//! `MatMut` exactly when, in addition, one stride spans the other dimension's whole extent (the
//! documented disjointness rule). For an accepted view every in-range `get` is `Some` and returns
//! the element at `i * row_stride + j * col_stride` (the buffer holds each element's own index),
//! every out-of-range `get` is `None`, the transpose agrees, and no two elements of a `MatMut`
//! share an address.
#![no_main]

use std::collections::HashSet;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use lingrad::{MatMut, MatRef, ShapeError};

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Dim {
    Small(u8),
    Any(usize),
}

impl Dim {
    fn get(self) -> usize {
        match self {
            Dim::Small(v) => usize::from(v % 24),
            Dim::Any(v) => v,
        }
    }
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Constructor {
    RefNew,
    RefStrided,
    MutNew,
    MutStrided,
}

#[derive(Arbitrary, Debug)]
struct Input {
    len: u16,
    rows: Dim,
    cols: Dim,
    row_stride: Dim,
    col_stride: Dim,
    constructor: Constructor,
    /// Extra positions to probe, in range or not.
    probes: Vec<(usize, usize)>,
}

/// Elements a view needs, in exact arithmetic.
fn required(rows: usize, cols: usize, rs: usize, cs: usize) -> u128 {
    if rows == 0 || cols == 0 {
        0
    } else {
        // Each product is below 2^128 but their sum may not be: saturate.
        ((rows as u128 - 1) * rs as u128)
            .saturating_add((cols as u128 - 1) * cs as u128)
            .saturating_add(1)
    }
}

/// The documented rule for `MatMut` strides. An empty view has no elements to share memory.
fn disjoint(rows: usize, cols: usize, rs: usize, cs: usize) -> bool {
    if rows == 0 || cols == 0 {
        return true;
    }
    if rows == 1 || cols == 1 {
        return (rows <= 1 || rs != 0) && (cols <= 1 || cs != 0);
    }
    rs != 0
        && cs != 0
        && (cs as u128 >= rs as u128 * rows as u128 || rs as u128 >= cs as u128 * cols as u128)
}

/// The positions to check: all of them for small views, else the corners and the probes.
fn positions(rows: usize, cols: usize, probes: &[(usize, usize)]) -> Vec<(usize, usize)> {
    if rows == 0 || cols == 0 {
        return Vec::new();
    }
    if rows.saturating_mul(cols) <= 4096 {
        return (0..rows)
            .flat_map(|i| (0..cols).map(move |j| (i, j)))
            .collect();
    }
    let mut out = vec![(0, 0), (rows - 1, 0), (0, cols - 1), (rows - 1, cols - 1)];
    out.extend(probes.iter().map(|&(i, j)| (i % rows, j % cols)));
    out
}

fn out_of_range(rows: usize, cols: usize, probes: &[(usize, usize)]) -> Vec<(usize, usize)> {
    let mut out = vec![(rows, 0), (0, cols), (rows, cols), (usize::MAX, usize::MAX)];
    out.extend(
        probes
            .iter()
            .copied()
            .filter(|&(i, j)| i >= rows || j >= cols),
    );
    out
}

fn check_ref(view: MatRef<'_, u64>, data_len: usize, probes: &[(usize, usize)]) {
    let (rows, cols, rs, cs) = (
        view.rows(),
        view.cols(),
        view.row_stride(),
        view.col_stride(),
    );
    let t = view.t();
    assert_eq!(t.shape(), (cols, rows));
    assert_eq!((t.row_stride(), t.col_stride()), (cs, rs));
    for (i, j) in positions(rows, cols, probes) {
        let v = *view.get(i, j).expect("in-range get must be Some");
        let offset = i as u128 * rs as u128 + j as u128 * cs as u128;
        assert!(
            offset < data_len as u128,
            "({i}, {j}) lies outside the slice"
        );
        assert_eq!(u128::from(v), offset, "({i}, {j}) is not at its offset");
        assert_eq!(
            t.get(j, i),
            Some(&v),
            "the transpose disagrees at ({i}, {j})"
        );
    }
    for (i, j) in out_of_range(rows, cols, probes) {
        assert!(
            view.get(i, j).is_none(),
            "out-of-range get({i}, {j}) must be None"
        );
        assert!(t.get(j, i).is_none());
    }
}

fn check_mut(mut view: MatMut<'_, u64>, data_len: usize, probes: &[(usize, usize)]) {
    check_ref(view.as_ref(), data_len, probes);
    let (rows, cols) = view.shape();
    let all = positions(rows, cols, probes);
    if rows.saturating_mul(cols) <= 4096 {
        let mut seen = HashSet::new();
        for &(i, j) in &all {
            let v = *view.get(i, j).expect("in range");
            assert!(seen.insert(v), "two elements of a MatMut share offset {v}");
        }
    }
    // Write through `get_mut` and read the write back.
    if let Some(&(i, j)) = all.last() {
        let mut r = view.reborrow();
        *r.get_mut(i, j).expect("in range") = u64::MAX;
        assert_eq!(view.get(i, j), Some(&u64::MAX));
    }
    for (i, j) in out_of_range(rows, cols, probes) {
        assert!(view.get_mut(i, j).is_none());
    }
}

fuzz_target!(|input: Input| {
    let len = usize::from(input.len % 4097);
    let mut data: Vec<u64> = (0..len as u64).collect();
    let (rows, cols) = (input.rows.get(), input.cols.get());
    let (rs, cs) = match input.constructor {
        Constructor::RefNew | Constructor::MutNew => (cols, 1),
        _ => (input.row_stride.get(), input.col_stride.get()),
    };
    let fits = required(rows, cols, rs, cs) <= len as u128;
    let result: Result<(), ShapeError> = match input.constructor {
        Constructor::RefNew => MatRef::new(&data, rows, cols).map(|v| {
            assert_eq!((v.row_stride(), v.col_stride()), (cols, 1));
            check_ref(v, len, &input.probes)
        }),
        Constructor::RefStrided => {
            MatRef::strided(&data, rows, cols, rs, cs).map(|v| check_ref(v, len, &input.probes))
        }
        Constructor::MutNew => MatMut::new(&mut data, rows, cols).map(|v| {
            assert_eq!((v.row_stride(), v.col_stride()), (cols, 1));
            check_mut(v, len, &input.probes)
        }),
        Constructor::MutStrided => {
            MatMut::strided(&mut data, rows, cols, rs, cs).map(|v| check_mut(v, len, &input.probes))
        }
    };
    let expected_ok = match input.constructor {
        Constructor::RefNew | Constructor::RefStrided => fits,
        Constructor::MutNew | Constructor::MutStrided => fits && disjoint(rows, cols, rs, cs),
    };
    match result {
        Ok(()) => assert!(expected_ok, "accepted {rows}x{cols} ({rs}, {cs}) in {len}"),
        Err(e) => {
            assert!(
                !expected_ok,
                "rejected {rows}x{cols} ({rs}, {cs}) in {len}: {e}"
            );
            assert!(!e.to_string().is_empty());
            let aliasing = matches!(e, ShapeError::AliasingStrides { .. });
            assert_eq!(
                aliasing, fits,
                "wrong error for {rows}x{cols} ({rs}, {cs}): {e}"
            );
        }
    }
});
