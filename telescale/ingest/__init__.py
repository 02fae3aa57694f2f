"""Ingest protocols other than Gnocchi's JSON: each parses a request straight into arrays and writes one incoming batch."""  # noqa: E501
