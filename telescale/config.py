"""One typed settings object, loaded from a TOML file, then `TELESCALE_SECTION__KEY` variables, then `--set`.

Every setting has a default that runs the embedded shape (SQLite + files under ./data) with nothing else
installed; README lists them all.  Values from the environment and `--set` are read as TOML values when
they parse as one (`8042`, `true`, `["http://a"]`) and as plain strings otherwise.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ENV_PREFIX = "TELESCALE_"


class ConfigError(ValueError):
    """A setting that does not exist or does not have the right type."""


@dataclass
class ApiSettings:
    host: str = "0.0.0.0"
    port: int = 8041
    workers: int = 2
    max_limit: int = 1000
    auth_mode: str = "basic"
    policy_file: str = ""
    cors_allowed_origins: list[str] = field(default_factory=list)
    max_body_size: int = 64 * 1024 * 1024
    enable_proxy_headers_parsing: bool = True
    refresh_timeout: float = 10.0
    read_cache_mb: int = 256  # decoded splits kept by each process's read path (0 = off)
    access_log: bool = False  # one log line per request (always on when logging.level is DEBUG)
    root_document: str = "gnocchi"  # what GET / answers: Gnocchi's version document, or Aodh's ("aodh")


@dataclass
class IndexerSettings:
    url: str = ""
    create_default_archive_policies: bool = True


@dataclass
class StorageSettings:
    """Aggregated splits and raw tails: ``file`` (under ``data_dir``), ``s3`` (any S3 API) or ``redis``."""

    driver: str = "file"
    data_dir: str = "./data"  # also holds the file incoming driver, locks, heartbeats and the SQLite indexer
    redis_url: str = ""  # driver "redis": redis://[:password@]host:port/db
    redis_prefix: str = "telescale"  # driver "redis": every key starts with it (deployments sharing one Redis)
    s3_endpoint_url: str = ""  # driver "s3": http(s)://host:port of Ceph RGW, MinIO …; "" = AWS for the region
    s3_region_name: str = ""  # "" = boto3's default (AWS_DEFAULT_REGION, ~/.aws/config)
    s3_access_key_id: str = ""  # "" = boto3's credential chain (environment, ~/.aws, instance profile)
    s3_secret_access_key: str = ""
    s3_bucket_prefix: str = "telescale"  # bucket "<prefix>-aggregates" (created when missing)
    s3_max_pool_connections: int = 50  # HTTP connections per process


@dataclass
class IncomingSettings:
    """New measures waiting for metricd, in ``sacks`` shards: ``file`` (under ``storage.data_dir``) or ``redis``."""

    driver: str = "file"
    sacks: int = 4
    redis_url: str = ""  # driver "redis": redis://[:password@]host:port/db (see README for persistence)
    redis_prefix: str = "telescale"  # driver "redis": every key starts with it (deployments sharing one Redis)


def _default_processing_workers() -> int:
    """One processing worker per CPU, at most 4: after a burst of writes, the API is idle and every core can
    help drain the backlog (the reference machine has 2)."""
    return max(1, min(os.cpu_count() or 1, 4))


@dataclass
class ProcessingSettings:
    workers: int = field(default_factory=_default_processing_workers)
    delay: float = 0.05
    quiet: float = 0.05  # a sack is processed once no write reached it for this long (seconds); 0: at once
    max_wait: float = 1.0  # ... or once its oldest pending write waited this long (seconds)
    janitor_interval: float = 30.0


@dataclass
class JanitorSettings:
    """The janitor's optional jobs (it runs every ``processing.janitor_interval`` seconds)."""

    resource_end_after: float = 0.0  # seconds without measures after which a resource gets ended_at; 0: never
    history_retention: float = 0.0  # seconds a past resource revision is kept after its revision_end; 0: forever
    batch_size: int = 1000  # most deleted metrics, resource metrics checked and history rows handled per pass


@dataclass
class CoordinationSettings:
    """Who shares work with whom (tooz): sacks, alarms, scaling groups and polling are spread over the members."""

    url: str = ""  # a tooz backend URL (redis://…, etcd3+http://…, zookeeper://…); "" = this host only
    heartbeat_timeout: int = 10  # seconds after its last heartbeat that a silent member's work moves to the others


@dataclass
class AlarmingSettings:
    """The alarm evaluator and its notifiers (Aodh's v2 API is served by the API workers)."""

    evaluators: int = 1  # evaluator processes started by `serve` (0: none)
    evaluation_interval: float = 10.0  # seconds between two evaluations of an alarm without its own interval
    additional_ingestion_lag: float = 0.0  # seconds added to each threshold rule's look-back window (as Aodh)
    prometheus_url: str = ""  # where `prometheus` rules send their PromQL ("" = such rules are refused)
    notifier_timeout: float = 10.0  # seconds one webhook request may take
    notifier_max_attempts: int = 8  # deliveries tried per notification (connection errors and 5xx are retried)
    notifier_backoff: float = 1.0  # seconds before the first retry, doubled each time (with jitter)
    webhook_allowed_networks: list[str] = field(default_factory=list)  # CIDRs webhooks may reach despite the
    # default refusal of loopback, link-local and cloud metadata addresses


@dataclass
class ScalingSettings:
    """The scalers: they evaluate scaling policies and carry out the actions decisions queue."""

    scalers: int = 1  # scaler processes started by `serve` (0: none; signals are still decided and logged)
    healing_interval: float = 10.0  # seconds between two health checks of a group's members (autohealing)
    action_lease: float = 30.0  # seconds an action stays with a scaler that stopped renewing it (then taken over)


@dataclass
class StatsdSettings:
    """The statsd listener (UDP): `telescale statsd`, or a child of `serve` when enabled."""

    enabled: bool = False  # `serve` starts the listener too (statsd, like Gnocchi's, is otherwise its own daemon)
    host: str = "127.0.0.1"  # address to listen on ("0.0.0.0" for every host: statsd has no authentication)
    port: int = 8125
    flush_interval: float = 10.0  # seconds: one point per metric per interval
    resource_id: str = "statsd"  # the generic resource its metrics belong to (any id, mapped as the API maps ids)
    archive_policy_name: str = ""  # the policy of new metrics ("": the archive policy rule matching each name)
    creator: str = "admin"  # the user recorded as creator of that resource and its metrics


@dataclass
class IngestSettings:
    """The ingest protocols other than Gnocchi's JSON (Prometheus remote_write, InfluxDB line protocol …)."""

    series_cache_ttl: float = 60.0  # seconds a process remembers a series' metric (0: look it up on every write)
    prometheus_metric_names: str = "gnocchi"  # "gnocchi": __name__ only; "labels": every label kept in the name


@dataclass
class LoggingSettings:
    level: str = "INFO"


@dataclass
class Settings:
    api: ApiSettings = field(default_factory=ApiSettings)
    indexer: IndexerSettings = field(default_factory=IndexerSettings)
    storage: StorageSettings = field(default_factory=StorageSettings)
    incoming: IncomingSettings = field(default_factory=IncomingSettings)
    processing: ProcessingSettings = field(default_factory=ProcessingSettings)
    janitor: JanitorSettings = field(default_factory=JanitorSettings)
    coordination: CoordinationSettings = field(default_factory=CoordinationSettings)
    alarming: AlarmingSettings = field(default_factory=AlarmingSettings)
    scaling: ScalingSettings = field(default_factory=ScalingSettings)
    statsd: StatsdSettings = field(default_factory=StatsdSettings)
    logging: LoggingSettings = field(default_factory=LoggingSettings)
    ingest: IngestSettings = field(default_factory=IngestSettings)
    #: Passed as-is to keystonemiddleware's auth_token when api.auth_mode = "keystone" (auth_url, …).
    keystone_authtoken: dict[str, Any] = field(default_factory=dict)
    #: The service user that swaps an alarm's Keystone trust for a token (auth_url, username, password, …).
    service_credentials: dict[str, Any] = field(default_factory=dict)

    @property
    def data_path(self) -> Path:
        return Path(self.storage.data_dir).resolve()

    @property
    def indexer_url(self) -> str:
        """The configured indexer, or a SQLite file inside the data directory."""
        return self.indexer.url or f"sqlite:///{self.data_path / 'indexer.sqlite'}"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _coerce(value: Any, annotation: Any, where: str) -> Any:
    """Check or convert one value to the annotated type, naming the setting in errors."""
    origin = typing.get_origin(annotation)
    if origin is list:
        (item_type,) = typing.get_args(annotation)
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        return [_coerce(v, item_type, where) for v in value]
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return None if value is None else _coerce(value, args[0], where)
    if annotation is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "yes", "1", "false", "no", "0"):
            return value.lower() in ("true", "yes", "1")
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        try:
            return int(value)
        except ValueError:
            raise ConfigError(f"{where}: expected an integer, got {value!r}") from None
    if annotation is float:
        if isinstance(value, bool):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: expected a number, got {value!r}") from None
    if annotation is str:
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            return str(value)
        raise ConfigError(f"{where}: expected a string, got {value!r}")
    return value


def _parse_scalar(text: str) -> Any:
    """Read a command-line or environment value as TOML when it is one, else keep the string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def _apply(settings: Settings, section: str, key: str, value: Any) -> None:
    hints = typing.get_type_hints(Settings)
    if section not in hints:
        raise ConfigError(f"unknown configuration section {section!r} (known: {', '.join(hints)})")
    group = getattr(settings, section)
    if isinstance(group, dict):  # a free-form section, handed to a library that checks its own options
        group[key] = value
        return
    group_hints = typing.get_type_hints(type(group))
    if key not in group_hints:
        raise ConfigError(f"unknown setting {section}.{key} (known: {', '.join(group_hints)})")
    setattr(group, key, _coerce(value, group_hints[key], f"{section}.{key}"))


#: The smallest value each numeric setting accepts (and the largest, when there is one).
RANGES: dict[str, tuple[float, float | None]] = {
    "api.port": (1, 65535), "api.workers": (1, None), "api.max_limit": (1, None), "api.max_body_size": (1, None),
    "api.refresh_timeout": (0, None), "incoming.sacks": (1, None), "processing.workers": (0, None),
    "processing.delay": (0, None), "api.read_cache_mb": (0, None), "processing.janitor_interval": (0.001, None),
    "processing.quiet": (0, None), "processing.max_wait": (0, None),
    "janitor.resource_end_after": (0, None), "janitor.history_retention": (0, None), "janitor.batch_size": (1, None),
    "alarming.evaluators": (0, None), "scaling.scalers": (0, None), "alarming.evaluation_interval": (1, None),
    "alarming.additional_ingestion_lag": (0, None), "alarming.notifier_timeout": (0.001, None),
    "alarming.notifier_max_attempts": (1, None), "alarming.notifier_backoff": (0, None),
    "coordination.heartbeat_timeout": (1, None), "scaling.healing_interval": (0.1, None),
    "scaling.action_lease": (1, None),
    "statsd.port": (1, 65535), "statsd.flush_interval": (0.1, None), "ingest.series_cache_ttl": (0, None),
}


def check_ranges(settings: Settings) -> None:
    """Refuse values of the right type but out of range (a negative retention, port 0 …), naming them."""
    for name, (low, high) in RANGES.items():
        section, _, key = name.partition(".")
        value = getattr(getattr(settings, section), key)
        if value < low or (high is not None and value > high):
            bound = f"between {low} and {high}" if high is not None else f"at least {low}"
            raise ConfigError(f"{name}: must be {bound}, got {value!r}")


def load(
    path: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Iterable[str] = (),
) -> Settings:
    """Build the settings: defaults < TOML file < environment < `section.key=value` overrides."""
    settings = Settings()
    environ = os.environ if environ is None else environ
    path = path or environ.get(ENV_PREFIX + "CONFIG")
    if path:
        try:
            with open(path, "rb") as f:
                document = tomllib.load(f)
        except FileNotFoundError:
            raise ConfigError(f"configuration file {path} does not exist") from None
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"configuration file {path} is not valid TOML: {e}") from None
        for section, values in document.items():
            if not isinstance(values, dict):
                raise ConfigError(f"{path}: {section!r} must be a [section]")
            for key, value in values.items():
                _apply(settings, section, key, value)
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        section, _, key = name[len(ENV_PREFIX):].lower().partition("__")
        _apply(settings, section, key, _parse_scalar(raw))
    for item in overrides:
        name, sep, raw = item.partition("=")
        section, dot, key = name.strip().partition(".")
        if not sep or not dot:
            raise ConfigError(f"--set expects section.key=value, got {item!r}")
        _apply(settings, section, key, _parse_scalar(raw.strip()))
    check_ranges(settings)
    return settings
