"""Benchmark of unpod-etl against the fake API and a throwaway PostgreSQL.

`python -m bench [--workload small|large] [--page-size N] [--workers 1,2,4] [--check]`
(see docs/benchmark.md).
"""
