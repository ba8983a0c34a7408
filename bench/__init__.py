"""Benchmarks (run by hand, not in CI)."""
