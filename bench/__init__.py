"""Benchmarks: they print numbers and write reports; tests never assert wall-clock times."""
