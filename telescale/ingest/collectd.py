"""collectd's `write_http` plugin with `Format "JSON"`: value lists to named series.

A body is a list of value lists ``{values, dstypes, dsnames, time, interval, host, plugin, plugin_instance,
type, type_instance}``.  Each ``host`` is one resource of type ``collectd`` (original id: the host name,
attribute ``host``); each data source of a value list is one metric named
``<plugin>[-<plugin_instance>].<type>[-<type_instance>][.<dsname>]`` — the data source name is left out when
it is collectd's single ``value`` — e.g. ``cpu-0.cpu-idle``, ``memory.memory-used``, ``load.load.shortterm``.
Values are stored as collectd sends them: ``gauge`` as is, ``derive`` and ``counter`` as their running
totals (read rates with a ``rate:*`` aggregation), ``absolute`` as the count since the previous read.
A ``null`` value (collectd's NaN: no reading) is skipped.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from telescale.api.ids import MAX_ORIGINAL_ID
from telescale.ingest import resource_types
from telescale.ingest.names import MAX_NAME
from telescale.ingest.series import SeriesBatch
from telescale.timeutil import NS

DSTYPES = frozenset({"gauge", "derive", "counter", "absolute"})
_TEXT_KEYS = ("host", "plugin", "plugin_instance", "type", "type_instance")
_LIST_KEYS = ("values", "dstypes", "dsnames")
MAX_TIME = np.iinfo(np.int64).max / NS


class CollectdError(ValueError):
    """A body that is not collectd's JSON, with what is wrong and where."""


def _part(name: str, instance: str) -> str:
    return f"{name}-{instance}" if instance else name


def metric_name(entry: dict[str, Any], dsname: str) -> str:
    """``plugin[-plugin_instance].type[-type_instance][.dsname]`` (``/`` becomes ``_``)."""
    name = f"{_part(entry['plugin'], entry['plugin_instance'])}.{_part(entry['type'], entry['type_instance'])}"
    return (name if dsname == "value" else f"{name}.{dsname}").replace("/", "_")


def _check(entry: Any, where: str) -> None:
    """Raise :class:`CollectdError` naming the first thing wrong with one value list."""
    if not isinstance(entry, dict):
        raise CollectdError(f"{where}: expected an object (a collectd value list)")
    for key in ("time", *_TEXT_KEYS, *_LIST_KEYS):
        if key not in entry and key not in ("plugin_instance", "type_instance"):
            raise CollectdError(f"{where}: missing key {key!r}")
    for key in _TEXT_KEYS:
        if not isinstance(entry.get(key, ""), str) or "\x00" in entry.get(key, ""):
            raise CollectdError(f"{where}.{key}: expected a string")
    for key in ("host", "plugin", "type"):
        if not entry[key]:
            raise CollectdError(f"{where}.{key}: must not be empty")
    if len(entry["host"]) > MAX_ORIGINAL_ID:
        raise CollectdError(f"{where}.host: longer than {MAX_ORIGINAL_ID} characters")
    time = entry["time"]
    if isinstance(time, bool) or not isinstance(time, int | float) or not 0 < time < MAX_TIME:
        raise CollectdError(f"{where}.time: expected seconds since the epoch, got {time!r}")
    lists = [entry[k] for k in _LIST_KEYS]
    if not all(isinstance(v, list) for v in lists) or len({len(v) for v in lists}) != 1:
        raise CollectdError(f"{where}: values, dstypes and dsnames must be lists of the same length")
    for i, (value, dstype, dsname) in enumerate(zip(*lists, strict=True)):
        if dstype not in DSTYPES:
            raise CollectdError(f"{where}.dstypes[{i}]: {dstype!r} is not one of {', '.join(sorted(DSTYPES))}")
        if not isinstance(dsname, str) or not dsname or "\x00" in dsname:
            raise CollectdError(f"{where}.dsnames[{i}]: expected a non-empty string")
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise CollectdError(f"{where}.values[{i}]: expected a number or null, got {value!r}")


def _nanoseconds(seconds: list[float]) -> np.ndarray:
    """Epoch seconds to int64 ns, rounded to the microsecond: float64 holds a µs epoch exactly, not a ns one."""
    return np.round(np.array(seconds, dtype=np.float64) * 1e6).astype(np.int64) * 1000


def to_series(body: Any) -> list[SeriesBatch]:
    """One :class:`SeriesBatch` per (host, metric) of a `write_http` JSON body; :class:`CollectdError` if bad."""
    if not isinstance(body, list):
        raise CollectdError("expected a list of collectd value lists")
    series: dict[tuple[str, str], tuple[list[float], list[float]]] = {}
    for n, entry in enumerate(body):
        where = f"[{n}]"
        _check(entry, where)
        entry = {"plugin_instance": "", "type_instance": "", **entry}
        host = entry["host"].replace("/", "_")
        for value, dsname in zip(entry["values"], entry["dsnames"], strict=True):
            if value is None:
                continue
            name = metric_name(entry, dsname)
            if len(name) > MAX_NAME:
                raise CollectdError(f"{where}: metric name {name[:60]}… is longer than {MAX_NAME} characters")
            times, values = series.setdefault((host, name), ([], []))
            times.append(entry["time"])
            values.append(value)
    return [SeriesBatch(resource_types.COLLECTD, host, name,
                        _nanoseconds(times),
                        np.array(values, dtype=np.float64), {"host": host})
            for (host, name), (times, values) in series.items()]
