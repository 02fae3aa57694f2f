"""The Redis namespace fixture of the coordination tests, for the agents' ownership tests."""

from tests.integration.test_coordination_redis import redis_namespace  # noqa: F401
