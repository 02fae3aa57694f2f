"""Every shell example of README.md runs against a live `telescale serve` and prints what README shows.

The blocks run in README order in one bash session (rules in `tests/readme.py`), with README's
`localhost:8041` pointed at a server this test starts on a free port (as `make run` would, on a fresh
data dir) and any other port README uses mapped to a free one.  A few commands cannot run inside the
suite — `make` targets (the suite is one of them), the `pipx` install of gnocchiclient (the test puts the
cached gnocchiclient venv of `tests/e2e/gnocchi_cli.py` on PATH instead), benchmarks that run for minutes
and the command that drops a benchmark's database — so they are checked differently: the make target
exists (`make -n`), the requirement is the one the suite installs, the benchmark module accepts every
flag README gives it.  Every operation of the server's OpenAPI description must be called by at least one
example, so a new API cannot land without one.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests import readme, server
from tests.conftest import service_unavailable
from tests.e2e import gnocchi_cli

ROOT = readme.README.parent
SCRIPT_TIMEOUT = 600.0
PRELUDE = r"""
set -o pipefail
curl() { if [ "$CURL_FAIL" = 1 ]; then command curl -sS --fail-with-body "$@"; else command curl -sS "$@"; fi; }
wait_ready() {
  for _ in $(seq 300); do command curl -sf "$1/healthcheck" >/dev/null && return 0; sleep 0.1; done
  echo "no server answered at $1" >&2; return 1
}
"""


def _check_make(command: str) -> None:
    words = [w for w in shlex.split(command, comments=True) if "=" not in w]
    targets = words[words.index("make") + 1:]
    for target in targets:
        proc = subprocess.run(["make", "-n", target], cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, f"README runs `make {target}`, which the Makefile lacks: {proc.stderr}"


def _check_pipx(command: str) -> None:
    assert gnocchi_cli.REQUIREMENT in command, (
        f"README installs {command!r}; the suite tests {gnocchi_cli.REQUIREMENT!r}")


def _check_bench(command: str) -> None:
    words = shlex.split(command, comments=True)
    at = words.index("-m")
    module, rest = words[at + 1], words[at + 2:]
    subcommand = rest[:1] if rest and not rest[0].startswith("-") else []
    proc = subprocess.run([sys.executable, "-m", module, *subcommand, "--help"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, f"`python -m {module} --help` failed: {proc.stderr}"
    for flag in (w.split("=")[0] for w in words if w.startswith("--")):
        assert flag in proc.stdout, f"README passes {flag} to {module}, whose --help does not list it"


def _check_psql(command: str) -> None:
    assert "telescale_scale" in command, "the only psql command README may show drops the benchmark database"


# Commands that are shown but not run inside the suite, and how each is checked instead.
NOT_RUN: list[tuple[re.Pattern[str], Callable[[str], None]]] = [
    (re.compile(r"^(\w+=\S+\s+)*make\b"), _check_make),
    (re.compile(r"^pipx install\b"), _check_pipx),
    (re.compile(r"-m bench\."), _check_bench),
    (re.compile(r"^psql\b"), _check_psql),
]


def _not_run(command: readme.Command) -> Callable[[str], None] | None:
    for pattern, check in NOT_RUN:
        if pattern.search(command.text):
            return check
    return None


def _port_map(commands: list[readme.Command], main_port: int) -> dict[str, str]:
    ports = {p for c in commands for p in re.findall(r"(?:localhost:|--port |/dev/udp/localhost/)(\d{4,5})\b", c.text)}
    mapping = {p: str(server.free_port()) for p in ports}
    mapping["8041"] = str(main_port)
    return mapping


def _localise(text: str, ports: dict[str, str]) -> str:
    text = re.sub(r"localhost:(\d{4,5})\b", lambda m: f"127.0.0.1:{ports[m.group(1)]}", text)
    text = re.sub(r"/dev/udp/localhost/(\d{4,5})\b", lambda m: f"/dev/udp/127.0.0.1/{ports[m.group(1)]}", text)
    return re.sub(r"--port (\d{4,5})\b", lambda m: f"--port {ports[m.group(1)]}", text)


def _script(commands: list[readme.Command], ports: dict[str, str], out: Path) -> str:
    parts = [PRELUDE]
    for i, c in enumerate(commands):
        text = _localise(c.text, ports)
        parts.append(f"CURL_FAIL={0 if c.shows_output else 1}")
        parts.append(f"{{ {text}\n}} >{out}/{i} 2>&1; echo $? >{out}/{i}.rc")
        if not c.shows_output:
            parts.append(f'[ "$(cat {out}/{i}.rc)" = 0 ] || exit 0')
        serve = re.match(r"telescale (?:serve|api)\b.*--port (\d+).*&\s*(#.*)?$", text)
        if serve:
            parts.append(f"wait_ready http://127.0.0.1:{serve.group(1)} >>{out}/{i} 2>&1")
    return "\n".join(parts) + "\n"


@pytest.fixture(scope="module")
def gnocchi_bin() -> Path:
    try:
        return gnocchi_cli.ensure_installed().parent
    except gnocchi_cli.InstallError as e:
        service_unavailable(f"cannot install {gnocchi_cli.REQUIREMENT}: {e}")


def test_every_readme_example_runs_and_prints_what_readme_shows(tmp_path: Path, gnocchi_bin: Path) -> None:
    commands = [c for b in readme.runnable(readme.README.read_text()) for c in b.commands]
    assert len(commands) > 20, "README lost its examples"
    shown = [c for c in commands if _not_run(c) is None]
    for c in commands:
        check = _not_run(c)
        if check is not None:
            check(c.text)
    work = tmp_path / "work"
    out = tmp_path / "out"
    work.mkdir()
    out.mkdir()
    with server.running(work / "data", [server.SCALER]) as main:
        ports = _port_map(shown, main.port)
        script = tmp_path / "readme.sh"
        script.write_text(_script(shown, ports, out))
        env = gnocchi_cli.clean_environment({"PATH": os.pathsep.join(
            [str(Path(sys.executable).parent), str(gnocchi_bin), os.environ.get("PATH", "")])})
        env.pop("TELESCALE_CONFIG", None)
        spec = httpx.get(main.url + "/openapi.json", timeout=30).json()
        proc = subprocess.Popen(["bash", str(script)], cwd=work, env=env, start_new_session=True,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            log, _ = proc.communicate(timeout=SCRIPT_TIMEOUT)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # servers README starts in the background
    failures = []
    for i, c in enumerate(shown):
        rc_file = out / f"{i}.rc"
        if not rc_file.exists():
            failures.append(f"README line {c.line}: not reached (an earlier command failed)")
            break
        printed = (out / str(i)).read_text()
        if c.shows_output:
            if not readme.output_matches(c.expected, printed):
                failures.append(f"README line {c.line}: `{c.text}`\n  README shows:\n    "
                                + "\n    ".join(c.expected) + f"\n  it printed:\n    {printed.strip()[:3000]}")
        elif rc_file.read_text().strip() != "0":
            failures.append(f"README line {c.line}: `{c.text}` exited with {rc_file.read_text().strip()}:\n"
                            f"    {printed.strip()[:3000]}")
    calls = set().union(*(readme.curl_requests(c.text) for c in shown))
    for path, operations in spec["paths"].items():
        for method in operations:
            if not readme.operation_called(path, method, calls):
                failures.append(f"no README example calls {method.upper()} {path}: every API gets one")
    assert not failures, "\n\n".join(failures) + (f"\n\nscript output:\n{log[-2000:]}" if log.strip() else "")


def test_every_readme_settings_file_loads(tmp_path: Path) -> None:
    """README's TOML examples are settings files `telescale --config` accepts as they are."""
    from telescale import config

    files = [b for b in readme.blocks(readme.README.read_text()) if b.language == "toml"]
    assert files, "README lost its settings file example"
    for block in files:
        path = tmp_path / f"line{block.line}.toml"
        path.write_text(block.body + "\n")
        try:
            config.load(path, environ={})
        except config.ConfigError as e:
            pytest.fail(f"README line {block.line}: {e}")
