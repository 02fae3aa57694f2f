"""What a worker process imports: each one is a fresh interpreter (spawned), so every module it loads but never
uses is paid again at every start and restart of every worker."""

from __future__ import annotations

import subprocess
import sys

WORKER_MODULES = ["telescale.service", "telescale.processing.worker", "telescale.alarming.process",
                  "telescale.scaling.process"]


def test_workers_do_not_import_the_migration_tool() -> None:
    """Alembic is for `upgrade` alone (the main process migrates before it starts any worker).  One interpreter
    for all the workers' modules: none of them imports it if their union does not."""
    code = f"import sys, {', '.join(WORKER_MODULES)}; print('alembic' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "False", "a worker's modules import alembic"
