"""The agent's one YAML file (`telescale agent --config agent.yaml`), read into typed settings.

Every key is checked as it is read: a wrong type, a bad value or an unknown key stops the agent with a
message naming the key and its line (``agent.yaml (line 12): sources.prometheus[0].interval: must be > 0``).
`EXAMPLE` is the commented default file that ``--print-example-config`` prints (and the tests load).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from telescale.metering.notifications import NotificationSettings
from telescale.metering.transformers import build as build_transformer
from telescale.metering.yamlread import ConfigError, Reader, load

__all__ = ["EXAMPLE", "AgentConfig", "ConfigError", "load_file", "parse"]

AUTH_MODES = ("basic", "noauth", "keystone")
HOST_GROUPS = ("cpu", "memory", "swap", "disk", "network", "load")


@dataclass(frozen=True)
class Auth:
    """How the agent authenticates to the API (the API's `api.auth_mode` decides which applies)."""

    mode: str = "basic"
    user: str = "admin"  # basic: the user name (Gnocchi's basic mode ignores the password)
    password: str = ""
    user_id: str | None = None  # noauth: X-User-Id / X-Project-Id / X-Roles, trusted as sent
    project_id: str | None = None
    roles: str = "admin"
    token: str | None = None  # keystone: a fixed token, or credentials for a session that renews it
    keystone: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Api:
    url: str = "http://127.0.0.1:8041"
    auth: Auth = field(default_factory=Auth)
    timeout: float = 30.0


@dataclass(frozen=True)
class HostSource:
    enabled: bool = True
    interval: float = 10.0
    groups: tuple[str, ...] = HOST_GROUPS


@dataclass(frozen=True)
class ProcessMatch:
    """Processes whose name equals ``name`` or whose command line contains ``cmdline``: one `host_process`
    resource ``<host>:<label>`` summing them (so the series survives restarts of the processes)."""

    label: str
    name: str | None = None
    cmdline: str | None = None


@dataclass(frozen=True)
class ProcessSource:
    interval: float = 10.0
    match: tuple[ProcessMatch, ...] = ()


@dataclass(frozen=True)
class ScrapeTarget:
    url: str
    job: str
    instance: str
    interval: float = 15.0
    timeout: float = 5.0
    labels: Mapping[str, str] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """The resource id (``job@instance``, as remote_write maps it) and the ownership key."""
        return f"{self.job}@{self.instance}"


@dataclass(frozen=True)
class OpenStackSource:
    enabled: bool = False
    interval: float = 300.0
    cloud: str | None = None  # a clouds.yaml entry; else `auth`
    auth: Mapping[str, Any] = field(default_factory=dict)
    region_name: str | None = None
    all_projects: bool = True


@dataclass(frozen=True)
class Sources:
    host: HostSource = field(default_factory=HostSource)
    process: ProcessSource = field(default_factory=ProcessSource)
    prometheus: tuple[ScrapeTarget, ...] = ()
    openstack: OpenStackSource = field(default_factory=OpenStackSource)


@dataclass(frozen=True)
class Pipeline:
    """Samples whose name matches one of ``meters`` (shell globs) go through ``transformers`` in order."""

    name: str
    meters: tuple[str, ...] = ("*",)
    transformers: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True)
class Publisher:
    batch_size: int = 5000
    flush_interval: float = 5.0
    buffer_dir: Path = Path("/var/lib/telescale-agent")
    max_buffer_mb: float = 512.0
    archive_policy: str | None = None  # None: the API's archive policy rules choose
    max_backoff: float = 60.0


@dataclass(frozen=True)
class AgentConfig:
    api: Api = field(default_factory=Api)
    host: str = field(default_factory=socket.gethostname)
    sources: Sources = field(default_factory=Sources)
    notifications: NotificationSettings | None = None  # the AMQP listener's section (absent: no listener)
    pipelines: tuple[Pipeline, ...] = ()
    publisher: Publisher = field(default_factory=Publisher)
    coordination_url: str | None = None


def load_file(path: str | os.PathLike[str]) -> AgentConfig:
    try:
        text = Path(path).read_text()
    except OSError as e:
        raise ConfigError(f"cannot read the agent configuration {path}: {e.strerror}") from None
    return parse(text, str(path))


def parse(text: str, source: str = "<config>") -> AgentConfig:
    top = Reader(load(text, source), "", source)
    host = top.string("host", socket.gethostname())
    config = AgentConfig(
        api=_api(top.mapping("api")),
        host=host,
        sources=_sources(top.mapping("sources")),
        notifications=_notifications(top, host),
        pipelines=tuple(_pipeline(r, i) for i, r in enumerate(top.items("pipelines"))),
        publisher=_publisher(top.mapping("publisher")),
        coordination_url=top.string("coordination_url"),
    )
    top.done()
    return config


def _api(r: Reader) -> Api:
    url = r.string("url", Api.url)
    if not url.startswith(("http://", "https://")):
        raise r.error("url", f"expected an http:// or https:// URL, got {url!r}")
    api = Api(url=url.rstrip("/"), auth=_auth(r.mapping("auth")), timeout=r.number("timeout", Api.timeout))
    r.done()
    return api


def _auth(r: Reader) -> Auth:
    mode = r.string("mode", "basic")
    if mode not in AUTH_MODES:
        raise r.error("mode", f"expected one of {', '.join(AUTH_MODES)}, got {mode!r}")
    auth = Auth(mode=mode, user=r.string("user", "admin"), password=r.string("password", ""),
                user_id=r.string("user_id"), project_id=r.string("project_id"), roles=r.string("roles", "admin"),
                token=r.string("token"), keystone=r.labels("keystone"))
    if mode == "noauth" and not auth.user_id:
        raise r.error("user_id", "required when mode is noauth (sent as X-User-Id)")
    if mode == "keystone" and not (auth.token or auth.keystone.get("auth_url")):
        raise r.error("keystone", "mode keystone needs a token or keystone credentials with an auth_url")
    r.done()
    return auth


def _sources(r: Reader) -> Sources:
    host = r.mapping("host")
    groups = tuple(host.strings("groups", list(HOST_GROUPS)))
    if bad := [g for g in groups if g not in HOST_GROUPS]:
        raise host.error("groups", f"unknown group {bad[0]!r} (known: {', '.join(HOST_GROUPS)})")
    host_source = HostSource(enabled=host.boolean("enabled", True), interval=host.number("interval", 10.0),
                             groups=groups)
    host.done()
    process = r.mapping("process")
    process_source = ProcessSource(interval=process.number("interval", 10.0),
                                   match=tuple(_process_match(m) for m in process.items("match")))
    process.done()
    sources = Sources(host=host_source, process=process_source,
                      prometheus=tuple(_target(t) for t in r.items("prometheus")),
                      openstack=_openstack(r.mapping("openstack")))
    r.done()
    return sources


def _process_match(r: Reader) -> ProcessMatch:
    name, cmdline = r.string("name"), r.string("cmdline")
    if not name and not cmdline:
        raise r.error("name", "give a process name or a cmdline substring to match")
    match = ProcessMatch(label=r.string("label", name or cmdline), name=name, cmdline=cmdline)
    r.done()
    return match


def _target(r: Reader) -> ScrapeTarget:
    url = r.string("url")
    if not url or not url.startswith(("http://", "https://")):
        raise r.error("url", f"expected the exporter's http(s) URL (…/metrics), got {url!r}")
    hostport = url.split("://", 1)[1].split("/", 1)[0]
    target = ScrapeTarget(url=url, job=r.string("job", "agent"), instance=r.string("instance", hostport),
                          interval=r.number("interval", 15.0), timeout=r.number("timeout", 5.0),
                          labels=r.labels("labels"))
    r.done()
    return target


def _openstack(r: Reader) -> OpenStackSource:
    auth = r.raw("auth") or {}
    if not isinstance(auth, Mapping):
        raise r.error("auth", "expected a mapping of openstacksdk auth settings (auth_url, username, …)")
    source = OpenStackSource(enabled=r.boolean("enabled", False), interval=r.number("interval", 300.0),
                             cloud=r.string("cloud"), auth=dict(auth), region_name=r.string("region_name"),
                             all_projects=r.boolean("all_projects", True))
    if source.enabled and not (source.cloud or source.auth):
        raise r.error("enabled", "the openstack source needs `cloud` (a clouds.yaml entry) or `auth`")
    r.done()
    return source


def _notifications(top: Reader, agent_name: str) -> NotificationSettings | None:
    value = top.raw("notifications")
    if value is None:
        return None
    try:
        return NotificationSettings.from_mapping(value, agent_name=agent_name)
    except ValueError as e:  # its messages start with the key: "notifications.<key>: …"
        raise ConfigError(f"{top.where('notifications')}{str(e).removeprefix('notifications')}") from None


def _pipeline(r: Reader, index: int) -> Pipeline:
    transformers = r.raw("transformers") or []
    if not isinstance(transformers, list) or not all(isinstance(t, Mapping) for t in transformers):
        raise r.error("transformers", "expected a list of transformer mappings ({name: rate_of_change, …})")
    pipeline = Pipeline(name=r.string("name", f"pipeline-{index}"), meters=tuple(r.strings("meters", ["*"])),
                        transformers=tuple(dict(t) for t in transformers))
    for i, transformer in enumerate(pipeline.transformers):
        try:  # built once here only to check it: a bad transformer stops the agent before it starts
            build_transformer(transformer)
        except ValueError as e:
            raise r.error(f"transformers[{i}]", str(e)) from None
    r.done()
    return pipeline


def _publisher(r: Reader) -> Publisher:
    batch_size = r.number("batch_size", Publisher.batch_size)
    if batch_size != int(batch_size):
        raise r.error("batch_size", f"expected a whole number, got {batch_size!r}")
    publisher = Publisher(batch_size=int(batch_size), flush_interval=r.number("flush_interval", 5.0),
                          buffer_dir=Path(r.string("buffer_dir", str(Publisher.buffer_dir))),
                          max_buffer_mb=r.number("max_buffer_mb", 512.0), archive_policy=r.string("archive_policy"),
                          max_backoff=r.number("max_backoff", 60.0))
    r.done()
    return publisher


EXAMPLE = """\
# telescale agent configuration (YAML). Every key is optional; these are the defaults unless marked.
api:
  url: http://127.0.0.1:8041        # the Telescale (or Gnocchi-compatible) API
  timeout: 30                       # seconds per request
  auth:
    mode: basic                     # basic | noauth | keystone (must match the API's api.auth_mode)
    user: admin                     # basic: the user name
    # noauth:   user_id: …, project_id: …, roles: admin
    # keystone: token: …   or   keystone: {auth_url: …, username: …, password: …, project_name: …,
    #                                      user_domain_name: Default, project_domain_name: Default}
# host: myhost                      # the name of this host's resource (default: the hostname)
sources:
  host:                             # psutil: this host as a resource of type `host`
    enabled: true
    interval: 10                    # seconds
    groups: [cpu, memory, swap, disk, network, load]
  process:                          # matched processes, summed per match, as `host_process` resources
    interval: 10
    match: []                       # e.g. [{name: postgres}, {cmdline: "telescale serve", label: telescale}]
  prometheus: []                    # exporters to scrape, e.g.
    # - url: http://127.0.0.1:9100/metrics
    #   job: node                   # resource `node@127.0.0.1:9100` of type `prometheus`
    #   interval: 15
    #   timeout: 5
    #   labels: {}                  # extra labels, kept as the series' attributes
  openstack:                        # Nova servers as `instance` resources (openstacksdk); one agent per region
    enabled: false
    interval: 300
    all_projects: true              # every project's servers (the credentials need the admin role)
    # region_name: RegionOne
    # cloud: mycloud                # an entry of clouds.yaml, or:
    # auth: {auth_url: …, username: …, password: …, project_name: …}
notifications: null                 # OpenStack notifications over AMQP (see the notifications section)
pipelines: []                       # per-series transformers, e.g.
  # - name: cpu
  #   meters: ["cpu"]
  #   transformers: [{name: rate_of_change, …}]
  # samples matching no pipeline are published unchanged
publisher:
  batch_size: 5000                  # samples per request at most
  flush_interval: 5                 # seconds between batches
  buffer_dir: /var/lib/telescale-agent   # batches wait here while the API is away
  max_buffer_mb: 512                # beyond this the oldest buffered batches are dropped (logged)
  archive_policy: null              # null: the API's archive policy rules choose per metric
  max_backoff: 60                   # seconds between retries at most
coordination_url: null              # e.g. redis://127.0.0.1:6379 to share sources between agents
"""
