"""Scaling engine tests run on the indexer fixtures of the indexer tests (SQLite and a fresh PostgreSQL
database) and on the real Prometheus of the Prometheus rule tests."""

from tests.integration.indexer.conftest import db_url, indexer  # noqa: F401 - fixtures, used by name
from tests.integration.test_prometheus_rule import prometheus_url  # noqa: F401 - fixture, used by name
