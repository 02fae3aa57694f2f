"""The `gnocchi` command of gnocchiclient 7.2 from PyPI, in its own virtualenv (see tests/e2e/pypi_cli.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tests.e2e.pypi_cli import Cli, InstallError, PypiClient, Result, clean_environment

CLIENT = PypiClient("gnocchiclient>=7.2,<7.3", "gnocchi", "gnocchiclient-7.2")
REQUIREMENT = CLIENT.requirement
ensure_installed = CLIENT.ensure_installed

__all__ = ["CLIENT", "REQUIREMENT", "Gnocchi", "InstallError", "Result", "clean_environment", "ensure_installed"]


@dataclass
class Gnocchi(Cli):
    """`gnocchi --os-auth-type gnocchi-basic --user USER --endpoint URL …` as subprocesses (or, with
    `noauth` set to (user id, project id, roles), the `gnocchi-noauth` plugin)."""

    executable: Path
    endpoint: str
    user: str = "admin"
    env: dict[str, str] = field(default_factory=dict)
    noauth: tuple[str, str, str] | None = None

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
