//! Quantizers: compact codes of vectors that bound or estimate their distances.

pub mod sq8;
