"""Telescale benchmarks: run against any Gnocchi-compatible URL with ``python -m bench.run``."""
