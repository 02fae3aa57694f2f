from tests.integration.processing.janitor_env import sql_drivers  # noqa: F401
