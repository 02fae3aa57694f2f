"""The `aodh` command of aodhclient 3.12 from PyPI, in its own virtualenv (see tests/e2e/pypi_cli.py),
authenticated with its `aodh-noauth` plugin as a user does from the shell.

How 3.12 takes the noauth identity (checked against the real Aodh 23): `OS_AUTH_TYPE=aodh-noauth` and
`AODH_USER_ID`, `AODH_PROJECT_ID`, `AODH_ROLES` from the environment; the endpoint only from
`--aodh-endpoint URL` (the plugin reads its environment default from `AODH_AODH_ENDPOINT`, so the
`AODH_ENDPOINT` that the shell's own option reads is ignored once `aodh-noauth` is chosen).

aodhclient 3.12's quota commands (`alarm quota show|set`) are registered for the OpenStack client only,
not for `aodh`; the same venv therefore holds python-openstackclient, and :class:`OpenStack` runs them
as `openstack --os-auth-type aodh-noauth --os-user-id … --os-aodh-endpoint URL alarm quota …`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from tests.e2e.pypi_cli import Cli, InstallError, PypiClient

CLIENT = PypiClient("aodhclient==3.12.0", "aodh", "aodhclient-3.12", also=("python-openstackclient>=10.5,<11",))
REQUEST_ID = re.compile(r" \(Request-ID: req-[0-9a-f-]+\)$")

__all__ = ["CLIENT", "Aodh", "InstallError", "OpenStack"]


@dataclass
class Aodh(Cli):
    """`aodh …` as one noauth caller: user ``user_id`` of project ``project_id`` with ``roles``."""

    executable: Path
    endpoint: str
    user_id: str
    project_id: str
    roles: str = "admin"
    env: dict[str, str] = field(default_factory=dict)

    def as_caller(self, user_id: str, project_id: str, roles: str) -> Aodh:
        return Aodh(self.executable, self.endpoint, user_id, project_id, roles, self.env)

    def auth_options(self) -> list[str]:
        return ["--aodh-endpoint", self.endpoint]

    def auth_environment(self) -> dict[str, str]:
        return {"OS_AUTH_TYPE": "aodh-noauth", "AODH_USER_ID": self.user_id, "AODH_PROJECT_ID": self.project_id,
                "AODH_ROLES": self.roles}

    def error(self, *args: str) -> str:
        """The message of a command that must fail on an API error, without the request id Aodh adds."""
        return REQUEST_ID.sub("", self.fails(*args).splitlines()[-1])

    def openstack(self) -> OpenStack:
        """The same caller through `openstack` (for the commands only the OpenStack client has)."""
        return OpenStack(self.executable.parent / "openstack", self.endpoint, self.user_id, self.project_id,
                         self.roles, self.env)


@dataclass
class OpenStack(Aodh):
    """`openstack --os-auth-type aodh-noauth … alarm …` (aodhclient's OpenStack client plugin)."""

    def auth_options(self) -> list[str]:
        return ["--os-auth-type", "aodh-noauth", "--os-user-id", self.user_id, "--os-project-id", self.project_id,
                "--os-roles", self.roles, "--os-aodh-endpoint", self.endpoint]

    def auth_environment(self) -> dict[str, str]:
        return {}
