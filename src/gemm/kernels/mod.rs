//! Micro-kernels, one file per instruction set.

pub(crate) mod scalar;
