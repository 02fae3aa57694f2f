from tests.unit.processing.proc_helpers import env  # noqa: F401
