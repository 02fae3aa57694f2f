"""Several Indexer instances (threads, processes) sharing one database, as api + metricd do."""

from __future__ import annotations

import subprocess
import sys
import threading
import uuid

from telescale.indexer import Indexer, NamedMetricAlreadyExists

WRITER = """
import sys, uuid
from telescale.indexer import Indexer
idx = Indexer(sys.argv[1])
idx.upgrade()
for i in range(int(sys.argv[2])):
    idx.create_metric(uuid.uuid4(), sys.argv[3], "low", name=f"m{i}")
    idx.list_metrics(filters={"creator": sys.argv[3]})
idx.dispose()
"""


def test_two_instances_interleaved(indexer: Indexer, db_url: str) -> None:
    other = Indexer(db_url)
    try:
        rid = uuid.uuid4()
        indexer.create_resource("generic", rid, "r", "foo")
        metric = other.create_metric(uuid.uuid4(), "foo", "low", name="cpu", resource_id=rid)
        assert indexer.get_resource("generic", rid).metrics == {"cpu": metric.id}
        indexer.delete_metric(metric.id)
        assert other.get_metric(metric.id) is None
        assert other.list_deleted_metric_ids() == [metric.id]
    finally:
        other.dispose()


def test_concurrent_writers_threads(indexer: Indexer, db_url: str) -> None:
    """Writers in parallel on separate engines: no 'database is locked', no lost write, and the
    unique name per resource holds under the race."""
    rid = uuid.uuid4()
    indexer.create_resource("generic", rid, "r", "foo")
    instances = [Indexer(db_url) for _ in range(4)]
    errors: list[BaseException] = []
    name_clashes: list[int] = []
    barrier = threading.Barrier(len(instances))

    def work(n: int, idx: Indexer) -> None:
        try:
            barrier.wait()
            for i in range(15):
                idx.create_metric(uuid.uuid4(), f"user{n}", "low", name=f"w{n}-{i}")
                idx.list_metrics(filters={"creator": f"user{n}"}, sorts=["name:desc"], limit=5)
            try:
                idx.create_metric(uuid.uuid4(), f"user{n}", "low", name="shared", resource_id=rid)
            except NamedMetricAlreadyExists:
                name_clashes.append(n)
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=work, args=(n, idx)) for n, idx in enumerate(instances)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    try:
        assert errors == []
        assert len(indexer.list_metrics(filters={"resource_id": None})) == 4 * 15
        assert len(name_clashes) == len(instances) - 1
        assert list(indexer.get_resource("generic", rid).metrics) == ["shared"]
    finally:
        for idx in instances:
            idx.dispose()


def test_concurrent_writer_processes(db_url: str) -> None:
    """Two processes upgrading and writing the same fresh database at once."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, db_url, "10", f"proc{n}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(2)
    ]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    idx = Indexer(db_url)
    try:
        assert len(idx.list_metrics()) == 20
        assert len(idx.list_archive_policies()) == 4
        assert len(idx.list_archive_policy_rules()) == 1
    finally:
        idx.dispose()
