//! Channel benchmarks (placeholder; being written).

fn main() {}
