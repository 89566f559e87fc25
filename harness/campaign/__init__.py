"""Benchmark campaigns: a matrix of benchmarks, testbeds and policies, run, resumed and compared."""
