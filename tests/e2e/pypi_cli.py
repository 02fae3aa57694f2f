"""An OpenStack command-line client from PyPI, in a virtualenv of its own, driven as a user drives it.

Each client (gnocchiclient, aodhclient …) gets one virtualenv, built on first use under tests/e2e/.cache/
(gitignored) and reused afterwards: a stamp file written after a successful install marks it complete,
and a lock keeps two test processes from building it at once.  It is kept apart from Telescale's .venv
on purpose: the clients bring cliff, cmd2, rich, keystoneauth1, stevedore, debtcollector …, whose
versions must never decide (or be decided by) the ones Telescale or another client's test runs with; a
user installs a CLI the same way (`pipx install gnocchiclient`, or a venv of its own).
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CACHE = Path(__file__).parent / ".cache"
INSTALL_TIMEOUT = 600.0
COMMAND_TIMEOUT = 60.0
CREDENTIAL_PREFIXES = ("OS_", "GNOCCHI_", "AODH_")


class InstallError(RuntimeError):
    """A client could not be installed (no index reachable, build failure …)."""


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


@dataclass(frozen=True)
class PypiClient:
    """One pinned client release: ``requirement`` (and ``also``) installed into ``CACHE/venv_name``, run as
    ``command``."""

    requirement: str  # e.g. "gnocchiclient>=7.2,<7.3"
    command: str  # the console script it installs, e.g. "gnocchi"
    venv_name: str  # e.g. "gnocchiclient-7.2"
    also: tuple[str, ...] = ()  # installed beside it (e.g. the host program of its plugin commands)

    @property
    def requirements(self) -> list[str]:
        return [self.requirement, *self.also]

    @property
    def venv(self) -> Path:
        return CACHE / self.venv_name

    @property
    def executable(self) -> Path:
        return self.venv / "bin" / self.command

    def _complete(self) -> bool:
        """A stamp for this requirement, and an interpreter that still exists."""
        stamp = self.venv / ".installed"
        return (stamp.exists() and stamp.read_text().split() == self.requirements and self.executable.exists()
                and (self.venv / "bin" / "python").exists())

    def ensure_installed(self) -> Path:
        """Path of ``command``, installing the requirements into the cached venv when needed."""
        if self._complete():
            return self.executable
        with _locked(CACHE / f"{self.venv_name}.lock"):
            if self._complete():
                return self.executable
            shutil.rmtree(self.venv, ignore_errors=True)
            _run([sys.executable, "-m", "venv", str(self.venv)])
            _run([str(self.venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
                  "--disable-pip-version-check", *self.requirements])
            if not self.executable.exists():
                raise InstallError(f"{self.requirement} installed no {self.executable}")
            (self.venv / ".installed").write_text("\n".join(self.requirements) + "\n")
        return self.executable


def clean_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The test runner's environment without any OpenStack/Gnocchi/Aodh credentials it may hold, in UTC."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith((*CREDENTIAL_PREFIXES, "PYTHON", "VIRTUAL_ENV"))}
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
        assert self.returncode == 0, f"{' '.join(self.args)} failed ({self.returncode}): {self.stderr}"
        return json.loads(self.stdout)


class Cli:
    """Runs one client's command as subprocesses; subclasses say how it authenticates.

    Subclasses are dataclasses with at least ``executable`` (the command) and ``env`` (extra variables)."""

    executable: Path
    env: dict[str, str]

    @property
    def python(self) -> Path:
        return self.executable.parent / "python"

    def auth_options(self) -> list[str]:
        """Options placed before the sub-command when ``auth`` is requested."""
        return []

    def auth_environment(self) -> dict[str, str]:
        """Variables set when ``auth`` is requested (the `OS_*`/`AODH_*` way of authenticating)."""
        return {}

    def run(self, *args: str, stdin: str | None = None, auth: bool = True) -> Result:
        cmd = [str(self.executable), *(self.auth_options() if auth else []), *args]
        env = {**(self.auth_environment() if auth else {}), **self.env}
        proc = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=COMMAND_TIMEOUT,
                              env=clean_environment(env))
        return Result(list(args), proc.returncode, proc.stdout, proc.stderr)

    def ok(self, *args: str, stdin: str | None = None) -> str:
        """Run a command that must succeed; return its standard output."""
        result = self.run(*args, stdin=stdin)
        assert result.returncode == 0, (f"{self.executable.name} {' '.join(args)} failed ({result.returncode}):\n"
                                        f"{result.stdout}\n{result.stderr}")
        return result.stdout

    def json(self, *args: str, stdin: str | None = None) -> Any:
        """Run a command with `-f json` and return the parsed output."""
        return json.loads(self.ok(*args, "-f", "json", stdin=stdin))

    def fails(self, *args: str) -> str:
        """Run a command that must fail the way the CLI fails on an API error; return its message."""
        result = self.run(*args)
        assert result.returncode != 0, f"{self.executable.name} {' '.join(args)} succeeded: {result.stdout}"
        assert "Traceback" not in result.stderr, result.stderr
        return result.stderr.strip()
