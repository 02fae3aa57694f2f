"""``python -m bench.run [--url [NAME=]URL ...] [--with-gnocchi] [--only NAME[,NAME]] [--quick] [--resource-db URL]``.

Prints one JSON line per figure, then one per Telescale/Gnocchi ratio when both targets ran. With
``--resource-db`` (or ``$TELESCALE_BENCH_RESOURCE_DB``), also the opt-in ``resource_scale`` section: resource
search and listing on a PostgreSQL database loaded by ``python -m bench.resource_scale load``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import urllib.parse
from collections.abc import Callable

import httpx

from bench import (
    aggregates,
    aggregates_grouped,
    bytes_per_point,
    common,
    create,
    ingest,
    latency,
    resource_scale,
    servers,
)

LOG = logging.getLogger("bench")
BENCHES = ("ingest", "bytes", "latency", "create", "aggregates", "aggregates_grouped")  # bytes right after ingest
OPT_IN = ("resource_scale",)  # needs a loaded database (--resource-db); runs last, on its own server
FULL = {
    "metrics": 100,
    "points": 10_000,
    "batch": 100,
    "threads": 4,
    "gets": 200,
    "creates": 2000,
    "agg_metrics": 1000,
    "agg_queries": 30,
    "grouped_resources": 10_000,
    "grouped_groups": 100,
    "grouped_queries": 20,
    "timeout_s": 1800.0,
}
QUICK = {
    "metrics": 20,
    "points": 1_000,
    "batch": 100,
    "threads": 4,
    "gets": 50,
    "creates": 200,
    "agg_metrics": 100,
    "agg_queries": 10,
    "grouped_resources": 500,
    "grouped_groups": 10,
    "grouped_queries": 5,
    "timeout_s": 300.0,
}
# (bench, figure key, higher is better) compared across targets.
RATIO_KEYS = (
    ("ingest", "measures_per_s", True),
    ("ingest", "post_measures_per_s", True),
    ("get_measures", "p50_ms", False),
    ("get_measures", "p99_ms", False),
    ("metric_create", "metrics_per_s", True),
    ("bytes_per_point", "bytes_per_point", False),
    ("aggregates", "p50_ms", False),
    ("aggregates", "p99_ms", False),
    ("aggregates_grouped", "p50_ms", False),
    ("aggregates_grouped", "p99_ms", False),
)


def emit(line: dict) -> None:
    sys.stdout.write(json.dumps(line) + "\n")
    sys.stdout.flush()


def _target(spec: str, storage_dirs: dict[str, str], index: int) -> common.Target:
    name, _, url = spec.rpartition("=") if "=" in spec.split("://")[0] else ("", "", spec)
    url = common.check_loopback(url)
    port = urllib.parse.urlsplit(url).port
    anchor_dir = servers.anchor_storage_dir(port)
    if not name:
        name = "gnocchi" if os.path.isdir(anchor_dir) else ("telescale" if index == 0 else f"target{index}")
    storage = storage_dirs.get(name) or (anchor_dir if os.path.isdir(anchor_dir) else None)
    return common.Target(name, url, storage_dir=storage)


def run_target(target: common.Target, only: set[str], p: dict) -> list[dict]:
    """Every selected bench against one target; a failing bench prints its error and the rest go on."""
    head = {"target": target.name, "url": target.url}
    jobs = []
    if "ingest" in only:
        jobs += [
            (
                "ingest",
                lambda m=m: [
                    ingest.run(target, m, p["metrics"], p["points"], p["batch"], p["threads"], p["timeout_s"])
                ],
            )
            for m in ingest.MODES
        ]
    if "bytes" in only:
        jobs.append(("bytes_per_point", lambda: [bytes_per_point.run(target, p["timeout_s"])]))
    if "latency" in only:
        jobs.append(("get_measures", lambda: latency.run(target, p["gets"], p["timeout_s"])))
    if "create" in only:
        jobs.append(("metric_create", lambda: [create.run(target, p["creates"], p["threads"], p["timeout_s"])]))
    if "aggregates" in only:
        jobs.append(
            ("aggregates", lambda: [aggregates.run(target, p["agg_metrics"], p["agg_queries"], p["timeout_s"])])
        )
    if "aggregates_grouped" in only:
        jobs.append(("aggregates_grouped", lambda: [aggregates_grouped.run(
            target, p["grouped_resources"], p["grouped_groups"], p["grouped_queries"], 2 * p["timeout_s"])]))
    out = []
    for bench, job in jobs:
        LOG.info("%s: %s", target.name, bench)
        try:
            figures = job()
        except (common.BenchError, httpx.HTTPError) as e:
            figures = [{"error": f"{type(e).__name__}: {e}"}]
        for f in figures:
            line = {"bench": bench, **head, **({"policy": target.policy} if target.policy else {}), **f}
            emit(line)
            out.append(line)
    return out


def ratios(lines: list[dict]) -> list[dict]:
    by = {(ln["target"], ln["bench"], ln.get("mode") or ln.get("variant")): ln for ln in lines if "error" not in ln}
    out = []
    for (target, bench, sub), tel in by.items():
        gno = by.get(("gnocchi", bench, sub))
        if target != "telescale" or gno is None:
            continue
        for b, key, higher in RATIO_KEYS:
            if b != bench or not tel.get(key) or not gno.get(key):
                continue
            r = tel[key] / gno[key]
            out.append(
                {
                    "bench": "ratio",
                    "figure": bench,
                    "mode": sub,
                    "key": key,
                    "telescale": tel[key],
                    "gnocchi": gno[key],
                    "telescale_over_gnocchi": round(r, 4),
                    "higher_is_better": higher,
                    "telescale_advantage": round(r if higher else 1 / r, 4),
                }
            )
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    ap.add_argument(
        "--url",
        action="append",
        default=[],
        metavar="[NAME=]URL",
        help="measure this server (repeatable); default: start a Telescale server",
    )
    ap.add_argument("--with-gnocchi", action="store_true", help="also measure the real Gnocchi anchor")
    ap.add_argument("--gnocchi-port", type=int, default=servers.GNOCCHI_PORT)
    ap.add_argument("--keep-gnocchi", action="store_true", help="leave an anchor this run started running")
    ap.add_argument(
        "--storage-dir",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="storage directory of a --url target, for bytes per point",
    )
    ap.add_argument("--only", help=f"comma list of {', '.join(BENCHES + OPT_IN)} (default: all that can run)")
    ap.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    ap.add_argument(
        "--resource-db",
        default=os.environ.get("TELESCALE_BENCH_RESOURCE_DB"),
        metavar="URL",
        help="PostgreSQL database loaded by `python -m bench.resource_scale load`: adds the resource_scale "
        "section (default: $TELESCALE_BENCH_RESOURCE_DB)",
    )
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    default_only = ",".join(BENCHES + (OPT_IN if args.resource_db else ()))
    only = {x.strip() for x in (args.only or default_only).split(",") if x.strip()}
    if not only or only - set(BENCHES + OPT_IN):
        ap.error(f"--only takes {', '.join(BENCHES + OPT_IN)}")
    if "resource_scale" in only and not args.resource_db:
        ap.error("resource_scale needs --resource-db URL (load it with python -m bench.resource_scale load)")
    p = QUICK if args.quick else FULL
    storage_dirs = dict(s.split("=", 1) for s in args.storage_dir)
    lines: list[dict] = []
    # One target at a time: a server the bench started is stopped before the next one is measured.
    plan = [lambda t=_target(s, storage_dirs, i): contextlib.nullcontext(t) for i, s in enumerate(args.url)]
    if not args.url and only & set(BENCHES):
        plan.append(servers.telescale)
    if args.with_gnocchi:
        plan.append(lambda: servers.gnocchi(args.gnocchi_port, args.keep_gnocchi))
    for make in plan:
        with contextlib.ExitStack() as stack:
            try:
                target = stack.enter_context(make())
            except common.BenchError as e:
                lines.append({"bench": "setup", "error": str(e)})
                emit(lines[-1])
                continue
            lines += run_target(target, only, p)
        if target.name == "telescale" and "bytes" in only and (c := bytes_per_point.codec()) is not None:
            lines.append({"bench": "codec_bytes_per_point", "target": "telescale", **c})
            emit(lines[-1])
    if "resource_scale" in only:
        try:
            scale = resource_scale.run(args.resource_db, n=50 if args.quick else 200)
        except (common.BenchError, httpx.HTTPError) as e:
            scale = [{"bench": "resource_scale", "error": f"{type(e).__name__}: {e}"}]
        for line in scale:
            emit(line)
        lines += scale
    for r in ratios(lines):
        emit(r)
    return 1 if any("error" in ln for ln in lines) else 0


if __name__ == "__main__":
    sys.exit(main())


def measure_targets(bench: str, urls: list[str], run: Callable[[common.Target], dict],
                    ratio_lines: Callable[[list[dict]], list[dict]] | None = None) -> int:
    """The standalone entry point of a bench module: ``run`` against each ``[NAME=]URL``, one JSON line
    each (errors included), then the ratio lines; exit status 1 when any target failed."""
    lines = []
    for i, spec in enumerate(urls):
        target = _target(spec, {}, i)
        try:
            line = {"bench": bench, "target": target.name, "url": target.url, **run(target)}
        except (common.BenchError, httpx.HTTPError) as e:
            line = {"bench": bench, "target": target.name, "error": f"{type(e).__name__}: {e}"}
        print(json.dumps(line), flush=True)
        lines.append(line)
    for r in (ratio_lines or ratios)(lines):
        print(json.dumps(r), flush=True)
    return 1 if any("error" in ln for ln in lines) else 0

