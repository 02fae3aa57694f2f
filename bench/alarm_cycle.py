"""One evaluator's full cycle over many threshold alarms, in process (the evaluator never uses HTTP either).

``python -m bench.alarm_cycle [--alarms 10000] [--indexer-url postgresql://…] [--cycles 5]``

Builds a real indexer (a temporary SQLite file by default) and file storage, ``--alarms`` resources each
with a metric ``cpu`` (policy ``medium``: 60 s) holding the last 10 minutes, and one enabled
``gnocchi_resources_threshold`` alarm per resource (mean > 50 over 3 periods of 60 s; a third of them
breach). Then times :meth:`telescale.alarming.evaluator.Evaluator.cycle` with every alarm due: the first
cycle (every alarm leaves "insufficient data": one transition and one notification each) and ``--cycles``
steady cycles (nothing changes: one statement records the evaluation time). Aodh evaluates every 60 s;
the target is a steady cycle of 10,000 alarms in ≤ 6 s.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

from telescale.alarming.evaluator import Evaluator
from telescale.config import AlarmingSettings
from telescale.indexer import Alarm, Indexer
from telescale.processing.processor import process_metric_measures
from telescale.query.reader import Query
from telescale.storage.file import FileStorage

LOG = logging.getLogger(__name__)
NS = 1_000_000_000
INTERVAL = 10.0


def populate(indexer: Indexer, storage: FileStorage, n: int, now: int) -> None:
    """``n`` resources with a metric ``cpu`` of 10 minutes and one alarm each."""
    policy = indexer.get_archive_policy("medium")
    ts = np.arange(now - 600 * NS, now, 60 * NS, dtype=np.int64)
    rng = np.random.default_rng(7)
    for i in range(n):
        rid = uuid.uuid4()
        resource = indexer.create_resource("generic", rid, str(rid), "bench", project_id="bench",
                                           metrics={"cpu": {"archive_policy_name": "medium"}})
        level = 80.0 if i % 3 == 0 else 20.0
        process_metric_measures(storage, resource.metrics["cpu"], policy, ts, level + rng.normal(0, 2, len(ts)))
        indexer.create_alarm(Alarm(
            alarm_id=uuid.uuid4(), name=f"cpu-{i}", type="gnocchi_resources_threshold", user_id="bench",
            project_id="bench", alarm_actions=("http://receiver.invalid/hook",),
            rule={"metric": "cpu", "resource_id": str(rid), "resource_type": "generic", "aggregation_method": "mean",
                  "granularity": 60, "evaluation_periods": 3, "threshold": 50.0, "comparison_operator": "gt"}))
        if (i + 1) % 1000 == 0:
            LOG.info("populated %d/%d", i + 1, n)


def run(n: int, cycles: int, indexer_url: str | None) -> list[dict]:
    with tempfile.TemporaryDirectory(prefix="telescale-bench-cycle-") as tmp:
        indexer = Indexer(indexer_url or f"sqlite:///{Path(tmp) / 'indexer.sqlite'}")
        indexer.upgrade()
        storage = FileStorage(Path(tmp) / "storage", read_cache_bytes=256 << 20)
        try:
            now = (time.time_ns() // (60 * NS)) * 60 * NS
            started = time.perf_counter()
            populate(indexer, storage, n, now)
            LOG.info("populated in %.1f s", time.perf_counter() - started)
            evaluator = Evaluator(indexer, Query(indexer, storage), AlarmingSettings(evaluation_interval=INTERVAL))
            first = evaluator.cycle(now + 5 * NS)
            steady = [evaluator.cycle(now + 5 * NS + round((k + 1) * INTERVAL * NS)) for k in range(cycles)]
        finally:
            storage.close()
            indexer.dispose()
    seconds = [c.seconds for c in steady]
    common = {"bench": "alarm_cycle", "alarms": n, "indexer": "postgresql" if indexer_url else "sqlite"}
    return [
        {**common, "cycle": "first", "seconds": round(first.seconds, 3), "evaluated": first.evaluated,
         "transitions": first.transitions},
        {**common, "cycle": "steady", "seconds_median": round(statistics.median(seconds), 3),
         "seconds_max": round(max(seconds), 3), "evaluated": steady[-1].evaluated, "cycles": cycles,
         "alarms_per_s": round(n / statistics.median(seconds))},
    ]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--alarms", type=int, default=10_000)
    ap.add_argument("--cycles", type=int, default=5)
    ap.add_argument("--indexer-url", help="a PostgreSQL database to use instead of a temporary SQLite file")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(message)s")
    logging.getLogger("telescale.alarming.evaluator").setLevel(logging.WARNING)  # one line per transition
    for line in run(args.alarms, args.cycles, args.indexer_url):
        print(json.dumps(line), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
