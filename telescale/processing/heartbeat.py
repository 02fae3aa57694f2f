"""Heartbeat files: each processing worker says it is alive, and what it did, in one small JSON file.

A file per worker under ``<data>/processing/`` is rewritten every second or so (temporary file, then
rename, so a reader never sees half of one); a file older than ``max_age`` belongs to a dead worker.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

LOG = logging.getLogger(__name__)


def publish(path: Path, data: dict[str, Any]) -> None:
    """Replace the heartbeat at ``path`` with ``data`` atomically (and thereby renew its age)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(json.dumps(data).encode())
    os.replace(tmp, path)


def alive(directory: Path, max_age: float) -> dict[str, dict[str, Any]]:
    """The statistics of every worker whose heartbeat is younger than ``max_age`` seconds, by name."""
    now = time.time()
    try:
        entries = [e for e in os.scandir(directory) if not e.name.startswith(".")]
    except FileNotFoundError:
        return {}
    found: dict[str, dict[str, Any]] = {}
    for entry in sorted(entries, key=lambda e: e.name):
        try:
            if now - entry.stat().st_mtime >= max_age:
                continue
            data = json.loads(Path(entry.path).read_bytes() or b"{}")
        except FileNotFoundError:  # the worker stopped and removed it meanwhile
            continue
        except ValueError:
            LOG.warning("heartbeat %s is not JSON; ignoring its statistics", entry.path)
            data = {}
        found[entry.name] = data if isinstance(data, dict) else {}
    return found
