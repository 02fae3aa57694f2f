"""Fetch Gnocchi's upstream gabbi files (from the gnocchi 4.7.1 wheel on PyPI) at test time.

They are Gnocchi's conformance suite for its REST API; we run them unchanged against our server and do
not commit them.  The wheel is cached under tests/compat/.cache.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

GNOCCHI_VERSION = "4.7.1"
CACHE = Path(__file__).parent / ".cache"
PREFIX = "gnocchi/tests/functional/gabbits/"


def gabbits_dir() -> Path:
    target = CACHE / f"gnocchi-{GNOCCHI_VERSION}" / "gabbits"
    if (target / "base.yaml").exists():
        return target
    CACHE.mkdir(parents=True, exist_ok=True)
    wheels = list(CACHE.glob(f"gnocchi-{GNOCCHI_VERSION}-*.whl"))
    if not wheels:
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--dest", str(CACHE),
                        f"gnocchi=={GNOCCHI_VERSION}"], check=True)
        wheels = list(CACHE.glob(f"gnocchi-{GNOCCHI_VERSION}-*.whl"))
    with zipfile.ZipFile(wheels[0]) as wheel:
        for name in wheel.namelist():
            if name.startswith(PREFIX) and not name.endswith("/") and "/." not in name:
                out = target / name[len(PREFIX):]
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_bytes(wheel.read(name))
    return target
