"""collectd's write_http JSON to series: names, values, timestamps, and the errors that name the field."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from telescale.ingest.collectd import CollectdError, to_series

LOAD = {"values": [0.5, 0.25, None], "dstypes": ["gauge", "gauge", "gauge"],
        "dsnames": ["shortterm", "midterm", "longterm"], "time": 1795435200.25, "interval": 10.0, "host": "web-1",
        "plugin": "load", "plugin_instance": "", "type": "load", "type_instance": ""}
CPU = {"values": [123456789012], "dstypes": ["derive"], "dsnames": ["value"], "time": 1795435200, "interval": 10,
       "host": "web-1", "plugin": "cpu", "plugin_instance": "0", "type": "cpu", "type_instance": "idle"}


def test_value_lists_become_one_series_per_host_and_metric() -> None:
    later = {**CPU, "time": 1795435210, "values": [123456789112]}
    other = {**CPU, "host": "db/1"}
    batches = to_series([LOAD, CPU, later, other])
    got = {(b.resource_id, b.metric): (b.timestamps.tolist(), b.values.tolist()) for b in batches}
    assert got == {
        ("web-1", "load.load.shortterm"): ([1795435200_250000000], [0.5]),
        ("web-1", "load.load.midterm"): ([1795435200_250000000], [0.25]),
        ("web-1", "cpu-0.cpu-idle"): ([1795435200_000000000, 1795435210_000000000], [123456789012.0, 123456789112.0]),
        ("db_1", "cpu-0.cpu-idle"): ([1795435200_000000000], [123456789012.0])}
    assert {b.resource_type for b in batches} == {"collectd"}
    assert batches[0].attributes == {"host": "web-1"}


def test_instances_may_be_missing_and_an_empty_body_is_no_series() -> None:
    entry = {k: v for k, v in CPU.items() if k not in ("plugin_instance", "type_instance")}
    assert [b.metric for b in to_series([entry])] == ["cpu.cpu"]
    assert to_series([]) == []


def _broken(change: dict[str, Any], drop: str | None = None) -> dict[str, Any]:
    entry = copy.deepcopy(CPU) | change
    if drop:
        del entry[drop]
    return entry


@pytest.mark.parametrize(("body", "says"), [
    ({"values": []}, "expected a list of collectd value lists"),
    ([1], "[0]: expected an object"),
    ([CPU, _broken({}, drop="dsnames")], "[1]: missing key 'dsnames'"),
    ([_broken({}, drop="time")], "[0]: missing key 'time'"),
    ([_broken({"host": ""})], "[0].host: must not be empty"),
    ([_broken({"host": 3})], "[0].host: expected a string"),
    ([_broken({"host": "h" * 300})], "[0].host: longer than 289"),
    ([_broken({"time": "now"})], "[0].time: expected seconds since the epoch"),
    ([_broken({"time": -1})], "[0].time: expected seconds since the epoch"),
    ([_broken({"values": [1, 2]})], "must be lists of the same length"),
    ([_broken({"dstypes": ["rate"]})], "[0].dstypes[0]: 'rate' is not one of absolute, counter, derive, gauge"),
    ([_broken({"dsnames": [""]})], "[0].dsnames[0]: expected a non-empty string"),
    ([_broken({"values": ["1"]})], "[0].values[0]: expected a number or null"),
    ([_broken({"values": [True]})], "[0].values[0]: expected a number or null"),
    ([_broken({"type_instance": "x" * 300})], "longer than 255"),
])
def test_bad_bodies_name_the_value_list_and_field(body: Any, says: str) -> None:
    with pytest.raises(CollectdError) as e:
        to_series(body)
    assert says in str(e.value)
