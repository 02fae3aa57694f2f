"""Exposition text → samples: names, kinds, timestamps, labels, values that cannot be stored."""

from __future__ import annotations

from telescale.metering.config import ScrapeTarget
from telescale.metering.scrape import parse

TARGET = ScrapeTarget(url="http://127.0.0.1:9100/metrics", job="node", instance="127.0.0.1:9100", labels={"dc": "eu"})
TEXT = """\
# TYPE node_cpu_seconds_total counter
node_cpu_seconds_total{cpu="0",mode="idle"} 12.5 1700000000123
node_cpu_seconds_total{cpu="0",mode="user"} 3
# TYPE node_load1 gauge
node_load1 0.25
# TYPE req histogram
req_bucket{le="0.5"} 2
req_bucket{le="+Inf"} 3
req_sum 1.5
req_count 3
req_created 1700000000
# TYPE lat summary
lat{quantile="0.9"} NaN
lat_sum 4
lat_count 2
# TYPE odd untyped
odd{job="other",path="/a"} 1
"""


def test_families_map_to_series_kinds_and_the_target_resource() -> None:
    samples, skipped = parse(TEXT, TARGET, now=1800000000.0)
    by_name = {s.name: s for s in samples}
    assert skipped == 1  # the NaN quantile
    assert set(by_name) == {
        'node_cpu_seconds_total{cpu="0",dc="eu",mode="idle"}', 'node_cpu_seconds_total{cpu="0",dc="eu",mode="user"}',
        'node_load1{dc="eu"}', 'req_bucket{dc="eu",le="0.5"}', 'req_bucket{dc="eu",le="+Inf"}', 'req_sum{dc="eu"}',
        'req_count{dc="eu"}', 'lat_sum{dc="eu"}', 'lat_count{dc="eu"}',
        'odd{dc="eu",exported_job="other",path="%2Fa"}'}
    idle = by_name['node_cpu_seconds_total{cpu="0",dc="eu",mode="idle"}']
    assert (idle.kind, idle.value, idle.timestamp) == ("cumulative", 12.5, 1700000000.123)
    assert by_name['node_load1{dc="eu"}'].kind == "gauge" and by_name['node_load1{dc="eu"}'].timestamp == 1800000000.0
    assert {by_name[n].kind for n in by_name if n.startswith(("req_", "lat_"))} == {"cumulative"}
    assert {(s.resource_id, s.resource_type) for s in samples} == {("node@127.0.0.1:9100", "prometheus")}
    assert dict(idle.attributes) == {"job": "node", "instance": "127.0.0.1:9100"}


def test_a_series_without_labels_is_named_by_its_metric_alone() -> None:
    target = ScrapeTarget(url="http://x:1/metrics", job="j", instance="x:1")
    samples, _ = parse("up_time 5\n", target, now=1.0)
    assert [s.name for s in samples] == ["up_time"]
