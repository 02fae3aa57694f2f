"""The statsd listener's writes, against a real SQLite indexer and file incoming: the resource and metrics it
creates, the policy they get, and what it counts instead of crashing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from telescale.api.ids import resource_uuid
from telescale.config import StatsdSettings
from telescale.incoming.file import FileIncoming
from telescale.indexer import Indexer
from telescale.ingest.statsd_server import StatsdServer


@pytest.fixture
def drivers(tmp_path: Path) -> Iterator[tuple[Indexer, FileIncoming]]:
    indexer = Indexer(f"sqlite:///{tmp_path / 'indexer.sqlite'}")
    indexer.upgrade(create_default_archive_policies=True)
    incoming = FileIncoming(tmp_path / "incoming", sacks=2)
    yield indexer, incoming
    indexer.dispose()
    incoming.close()


def test_a_flush_creates_the_resource_and_metrics_then_writes_one_point_each(drivers) -> None:
    indexer, incoming = drivers
    statsd = StatsdServer(StatsdSettings(resource_id="app-1", creator="ops"), indexer, incoming)
    statsd.receive(b"hits:1|c\nhits:2|c\ntemp:3|g")
    statsd.flush()
    resource = indexer.get_resource("generic", resource_uuid("app-1", "ops"))
    assert resource is not None and resource.original_resource_id == "app-1" and resource.creator == "ops"
    assert sorted(resource.metrics) == ["hits", "temp"]
    assert incoming.backlog_per_metric() == {resource.metrics["hits"]: 1, resource.metrics["temp"]: 1}
    assert indexer.get_metric(resource.metrics["hits"]).archive_policy.name == "low"  # the default rule
    statsd.receive(b"hits:5|c")
    statsd.flush()
    assert incoming.backlog_per_metric()[resource.metrics["hits"]] == 2
    assert (statsd.stats.lines, statsd.stats.flushes, statsd.stats.measures_written) == (4, 2, 3)


def test_the_configured_policy_wins_and_a_metric_no_policy_covers_is_counted_not_fatal(drivers) -> None:
    indexer, incoming = drivers
    statsd = StatsdServer(StatsdSettings(archive_policy_name="medium"), indexer, incoming)
    statsd.receive(b"a:1|c")
    statsd.flush()
    (metric,) = indexer.get_resource("generic", resource_uuid("statsd", "admin")).metrics.values()
    assert indexer.get_metric(metric).archive_policy.name == "medium"
    indexer.delete_archive_policy_rule("default")
    ruled = StatsdServer(StatsdSettings(), indexer, incoming)
    ruled.receive(b"a:1|c\nb:1|c")
    ruled.flush()
    assert (ruled.stats.measures_written, ruled.stats.measures_dropped) == (1, 1)


def test_malformed_lines_and_datagrams_are_counted_and_the_rest_kept(drivers) -> None:
    statsd = StatsdServer(StatsdSettings(), *drivers)
    statsd.receive(b"ok:1|c\n\nnope\nbad:1|x\n")
    statsd.receive(b"\xff\xfe")
    assert (statsd.stats.lines, statsd.stats.malformed) == (3, 3)
    assert statsd.aggregator.flush() == {"ok": 1.0}
