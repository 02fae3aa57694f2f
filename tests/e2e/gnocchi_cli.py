"""The `gnocchi` command of gnocchiclient 7.2 from PyPI, in its own virtualenv, driven as a user drives it.

The virtualenv is built on first use under tests/e2e/.cache/ (gitignored) and reused afterwards: a
stamp file written after a successful install marks it complete, and a lock keeps two test processes
from building it at once.  It is kept apart from Telescale's .venv on purpose: gnocchiclient brings
cliff, cmd2, rich, keystoneauth1, stevedore, debtcollector …, whose versions must never decide (or be
decided by) the ones Telescale or another client's test runs with; a user installs the CLI the same way
(`pipx install gnocchiclient`, or a venv of its own).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REQUIREMENT = "gnocchiclient>=7.2,<7.3"
CACHE = Path(__file__).parent / ".cache"
VENV = CACHE / "gnocchiclient-7.2"
STAMP = VENV / ".installed"
INSTALL_TIMEOUT = 600.0
COMMAND_TIMEOUT = 60.0


class InstallError(RuntimeError):
    """gnocchiclient could not be installed (no index reachable, build failure …)."""


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _run(cmd: Sequence[str]) -> None:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=INSTALL_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise InstallError(f"{' '.join(cmd)}: {e}") from e
    if proc.returncode != 0:
        raise InstallError(f"{' '.join(cmd)} exited with {proc.returncode}:\n{proc.stdout[-2000:]}"
                           f"\n{proc.stderr[-3000:]}")


def ensure_installed() -> Path:
    """Path of the `gnocchi` executable, installing gnocchiclient into the cached venv when needed."""
    gnocchi = VENV / "bin" / "gnocchi"

    def complete() -> bool:  # a stamp for this requirement, and an interpreter that still exists
        return (STAMP.exists() and STAMP.read_text().strip() == REQUIREMENT and gnocchi.exists()
                and (VENV / "bin" / "python").exists())

    if complete():
        return gnocchi
    with _locked(CACHE / "gnocchiclient.lock"):
        if complete():
            return gnocchi
        shutil.rmtree(VENV, ignore_errors=True)
        _run([sys.executable, "-m", "venv", str(VENV)])
        _run([str(VENV / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
              REQUIREMENT])
        if not gnocchi.exists():
            raise InstallError(f"{REQUIREMENT} installed no {gnocchi}")
        STAMP.write_text(REQUIREMENT + "\n")
    return gnocchi


def clean_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The test runner's environment without any OpenStack/Gnocchi credentials it may hold, in UTC."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OS_", "GNOCCHI_", "PYTHON", "VIRTUAL_ENV"))}
    env["TZ"] = "UTC"
    env["CLIFF_MAX_TERM_WIDTH"] = "0"
    env.update(extra or {})
    return env


@dataclass
class Result:
    args: list[str]
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        assert self.returncode == 0, f"gnocchi {' '.join(self.args)} failed ({self.returncode}): {self.stderr}"
        return json.loads(self.stdout)


@dataclass
class Gnocchi:
    """`gnocchi --os-auth-type gnocchi-basic --user USER --endpoint URL …` as subprocesses (or, with
    `noauth` set to (user id, project id, roles), the `gnocchi-noauth` plugin)."""

    executable: Path
    endpoint: str
    user: str = "admin"
    env: dict[str, str] = field(default_factory=dict)
    noauth: tuple[str, str, str] | None = None

    @property
    def python(self) -> Path:
        return self.executable.parent / "python"

    def as_user(self, user: str) -> Gnocchi:
        return Gnocchi(self.executable, self.endpoint, user, self.env)

    def as_noauth(self, user_id: str, project_id: str, roles: str) -> Gnocchi:
        return Gnocchi(self.executable, self.endpoint, env=self.env, noauth=(user_id, project_id, roles))

    def auth_options(self) -> list[str]:
        if self.noauth is None:
            return ["--os-auth-type", "gnocchi-basic", "--user", self.user, "--endpoint", self.endpoint]
        user_id, project_id, roles = self.noauth
        return ["--os-auth-type", "gnocchi-noauth", "--user-id", user_id, "--project-id", project_id,
                "--roles", roles, "--endpoint", self.endpoint]

    def run(self, *args: str, stdin: str | None = None, auth: bool = True) -> Result:
        cmd = [str(self.executable), *(self.auth_options() if auth else []), *args]
        proc = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=COMMAND_TIMEOUT,
                              env=clean_environment(self.env))
        return Result(list(args), proc.returncode, proc.stdout, proc.stderr)

    def ok(self, *args: str, stdin: str | None = None) -> str:
        """Run a command that must succeed; return its standard output."""
        result = self.run(*args, stdin=stdin)
        assert result.returncode == 0, (f"gnocchi {' '.join(args)} failed ({result.returncode}):\n"
                                        f"{result.stdout}\n{result.stderr}")
        return result.stdout

    def json(self, *args: str, stdin: str | None = None) -> Any:
        """Run a command with `-f json` and return the parsed output."""
        return json.loads(self.ok(*args, "-f", "json", stdin=stdin))

    def fails(self, *args: str) -> str:
        """Run a command that must fail the way the CLI fails on an API error; return its message."""
        result = self.run(*args)
        assert result.returncode != 0, f"gnocchi {' '.join(args)} succeeded: {result.stdout}"
        assert "Traceback" not in result.stderr, result.stderr
        return result.stderr.strip()
