"""Telescale: measure, store, evaluate and act on metrics in one service."""

__version__ = "0.1.0"
