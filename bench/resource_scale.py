"""Resource search and listing with a million resources of one type, on the real PostgreSQL.

``python -m bench.resource_scale load --url postgresql://postgres@127.0.0.1:5432/telescale_scale --count 1000000``
creates the database (``--recreate`` drops it first), the schema through the same Alembic migrations as
``telescale upgrade``, a resource type ``bench_server`` with 10 attributes, then COPYs the resources in.

``python -m bench.resource_scale run --url postgresql://...`` starts ``telescale serve`` on that database
(or measures ``--api http://127.0.0.1:PORT``, a server already pointed at it) and prints one JSON line per
figure: p50/p99 of

* ``search_eq``: ``POST /v1/search/resource/bench_server?limit=100`` with ``{"=": {"host": ...}}``, a
  different host every request, each host holding exactly 100 resources (target p50 ≤ 50 ms);
* ``list_first``: ``GET /v1/resource/bench_server?limit=100``, the first page (target p50 ≤ 20 ms);
* ``list_marker``: the same with ``marker=`` the last id of a page deep in the listing (spread over the
  whole table);

each through HTTP (``"via": "http"``) and by calling the indexer in this process (``"via": "indexer"``,
the SQL plus building the records, without HTTP and JSON), plus one ``explain`` line per query saying
which indexes PostgreSQL used (``EXPLAIN ANALYZE`` of the exact SQL the indexer sent).

Why the data looks the way it does: ``host`` is spread over the whole table (resource ``i`` is on host
``i % hosts``) so a search cannot be served by reading one corner of an index; ``revision_start`` grows
with ``i`` so the default order (``revision_start, started_at, id``) is the load order, and a marker page
can be picked at any depth.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import functools
import io
import json
import logging
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from bench import common, servers

LOG = logging.getLogger("bench.resource_scale")
TYPE = "bench_server"
CREATOR = "admin"
PAGE = 100
T0 = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
ORDER = "revision_start, started_at, id"
TARGETS_MS = {"search_eq": 50.0, "list_first": 20.0}

#: The 10 attributes, as the API stores a type's definition (defaults filled in).
ATTRIBUTES: dict[str, dict[str, Any]] = {
    "host": {"type": "string", "required": True, "min_length": 0, "max_length": 255},
    "display_name": {"type": "string", "required": True, "min_length": 0, "max_length": 255},
    "flavor_name": {"type": "string", "required": False, "min_length": 0, "max_length": 255},
    "image_ref": {"type": "uuid", "required": False},
    "vcpus": {"type": "number", "required": False, "min": None, "max": None},
    "memory_mb": {"type": "number", "required": False, "min": None, "max": None},
    "availability_zone": {"type": "string", "required": False, "min_length": 0, "max_length": 255},
    "state": {"type": "string", "required": False, "min_length": 0, "max_length": 255},
    "launched_at": {"type": "datetime", "required": False},
    "server_group": {"type": "string", "required": False, "min_length": 0, "max_length": 255},
}
FLAVORS = [("m1.tiny", 1, 512), ("m1.small", 1, 2048), ("m1.medium", 2, 4096), ("m1.large", 4, 8192),
           ("m1.xlarge", 8, 16384), ("c1.2xlarge", 16, 32768)]  # fmt: skip
ZONES = ["az1", "az2", "az3", "nova"]
STATES = ["active"] * 18 + ["shutoff", "error"]


def libpq_url(url: str) -> str:
    """A SQLAlchemy URL (``postgresql+psycopg://``) as the plain libpq URI psycopg wants."""
    parts = urlsplit(url)
    if not parts.scheme.startswith("postgres"):
        raise SystemExit(f"{url!r}: this bench needs a postgresql:// URL")
    return urlunsplit(("postgresql", parts.netloc, parts.path, parts.query, parts.fragment))


def host_name(n: int) -> str:
    return f"compute-{n:05d}"


def hosts_for(count: int) -> int:
    """How many hosts ``count`` resources are spread over: exactly :data:`PAGE` resources each."""
    return max(1, count // PAGE)


# --- load ---------------------------------------------------------------------------------------------


def _rows(count: int, seed: int) -> Iterator[str]:
    """COPY text lines of the ``resource`` table (no value needs escaping: ASCII, no tab or backslash)."""
    rng = random.Random(seed)
    images = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(50)]
    groups = [f"group-{g:03d}" for g in range(200)]
    hosts = hosts_for(count)
    for i in range(count):
        rid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        started = T0 + dt.timedelta(seconds=30 * i)
        revised = started + dt.timedelta(seconds=rng.randrange(1, 30))
        flavor, vcpus, memory = FLAVORS[i % len(FLAVORS)]
        attributes = {
            "host": host_name(i % hosts),
            "display_name": f"vm-{i:07d}",
            "flavor_name": flavor,
            "image_ref": images[i % len(images)],
            "vcpus": vcpus,
            "memory_mb": memory,
            "availability_zone": ZONES[i % len(ZONES)],
            "state": STATES[i % len(STATES)],
            "launched_at": (started + dt.timedelta(seconds=5)).strftime("%Y-%m-%dT%H:%M:%S.%f") + "+00:00",
        }
        if i % 3 == 0:  # a third of the resources have no server group (the key is absent, as stored)
            attributes["server_group"] = groups[i % len(groups)]
        project = f"project-{i % 500:03d}"
        ended = "\\N" if i % 10 else (started + dt.timedelta(days=1)).isoformat()
        yield "\t".join(
            (
                rid,
                TYPE,
                rid,
                f"{CREATOR}:{project}",
                f"user-{i % 2000:04d}",
                project,
                started.isoformat(),
                ended,
                revised.isoformat(),
                json.dumps(attributes, separators=(",", ":")),
            )
        ) + "\n"


def _create_database(url: str, recreate: bool) -> None:
    import psycopg

    parts = urlsplit(libpq_url(url))
    dbname = parts.path.lstrip("/")
    if not dbname or not dbname.replace("_", "").isalnum():
        raise SystemExit(f"{url!r}: give a database name of letters, digits and _")
    admin = urlunsplit((parts.scheme, parts.netloc, "/postgres", parts.query, ""))
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone()
        if exists and recreate:
            LOG.info("dropping database %s", dbname)
            conn.execute(f'DROP DATABASE "{dbname}" WITH (FORCE)')
            exists = None
        if not exists:
            conn.execute(f'CREATE DATABASE "{dbname}"')


def load(url: str, count: int, recreate: bool, seed: int = 42) -> dict[str, Any]:
    """Create the schema with the migrations, the type, and ``count`` resources (COPY, indexes built after)."""
    import psycopg

    from telescale.indexer import Indexer

    _create_database(url, recreate)
    indexer = Indexer(url)
    try:
        indexer.upgrade()
        if TYPE in indexer.list_resource_types():
            raise SystemExit(f"{TYPE} already exists in {url}: use --recreate to load again")
        indexer.create_resource_type(TYPE, ATTRIBUTES)
    finally:
        indexer.dispose()
    t0 = time.monotonic()
    with psycopg.connect(libpq_url(url)) as conn:
        # Bulk load: drop the table's plain indexes, COPY, then rebuild each from the definition the
        # migrations created (pg_indexes), which is much faster than maintaining them row by row.
        indexes = conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'resource' AND indexname NOT IN "
            "(SELECT conname FROM pg_constraint WHERE conrelid = 'resource'::regclass)"
        ).fetchall()
        for name, _ in indexes:
            conn.execute(f'DROP INDEX "{name}"')
        columns = "id, type, original_resource_id, creator, user_id, project_id, started_at, ended_at, "
        columns += "revision_start, attributes"
        with conn.cursor().copy(f"COPY resource ({columns}) FROM STDIN") as copy:
            buffer = io.StringIO()
            for n, line in enumerate(_rows(count, seed), 1):
                buffer.write(line)
                if n % 20_000 == 0:
                    copy.write(buffer.getvalue())
                    buffer = io.StringIO()
                    if n % 200_000 == 0:
                        LOG.info("copied %d resources", n)
            copy.write(buffer.getvalue())
        copied = time.monotonic()
        conn.execute("SET maintenance_work_mem = '512MB'")
        for _, definition in indexes:
            LOG.info("%s", definition)
            conn.execute(definition)
        conn.commit()
        indexed = time.monotonic()
        conn.autocommit = True
        conn.execute("VACUUM (ANALYZE) resource")
        size = conn.execute("SELECT pg_size_pretty(pg_total_relation_size('resource'))").fetchone()[0]
    return {
        "bench": "resource_scale_load",
        "resources": count,
        "copy_s": round(copied - t0, 1),
        "index_s": round(indexed - copied, 1),
        "vacuum_analyze_s": round(time.monotonic() - indexed, 1),
        "table_and_indexes": size,
    }


# --- run ----------------------------------------------------------------------------------------------


def _loaded_count(url: str) -> int:
    import psycopg

    with psycopg.connect(libpq_url(url)) as conn:
        row = conn.execute("SELECT count(*) FROM resource WHERE type = %s", (TYPE,)).fetchone()
    if not row or not row[0]:
        raise common.BenchError(f"no {TYPE} resources in {url}: run `python -m bench.resource_scale load` first")
    return int(row[0])


def _markers(url: str, count: int, n: int) -> list[str]:
    """Ids ending pages spread over the whole listing (the marker of the page after each)."""
    import psycopg

    with psycopg.connect(libpq_url(url)) as conn:
        # One pass over the (type, revision_start, started_at, id) index, every step-th row.
        step = max(PAGE, (count // (n + 1)) // PAGE * PAGE)
        rows = conn.execute(
            f"SELECT id FROM (SELECT id, row_number() OVER (ORDER BY {ORDER}) AS k FROM resource "
            f"WHERE type = %s) AS listing WHERE k %% %s = 0 LIMIT %s",
            (TYPE, step, n),
        ).fetchall()
    return [str(r[0]) for r in rows]


def _cpu_seconds(pid: int) -> float:
    """CPU time (user + system) used so far by ``pid`` and its children (the API worker processes)."""
    import psutil

    total = 0.0
    try:
        root = psutil.Process(pid)
        for proc in (root, *root.children(recursive=True)):
            with contextlib.suppress(psutil.NoSuchProcess):
                cpu = proc.cpu_times()
                total += cpu.user + cpu.system
    except psutil.NoSuchProcess:
        pass
    return total


def _timed(
    n: int, call: Callable[[int], int], expect_rows: int, cpu: Callable[[], float] | None
) -> dict[str, float]:
    """p50/p99/mean of ``n`` calls and, given ``cpu`` (seconds used so far by whatever does the work),
    ``cpu_ms``: CPU time per call.

    Wall-clock latency on a shared 2-core machine measures the other users as much as the code; CPU time
    per request does not, so it says what the latency would be on an idle core."""
    call(0)  # warm-up (connection, caches)
    samples = []
    cpu0 = cpu() if cpu else 0.0
    for i in range(n):
        t = time.perf_counter()
        rows = call(i)
        samples.append(time.perf_counter() - t)
        if rows != expect_rows:
            raise common.BenchError(f"request {i} returned {rows} rows, expected {expect_rows}")
    figures = common.percentiles_ms(samples)
    if cpu:
        figures["cpu_ms"] = round((cpu() - cpu0) * 1000 / n, 3)
    return figures


def _host(i: int, hosts: int) -> str:
    return host_name((i * 7919 + 13) % hosts)  # a different host each request, all over the table


def _http(api: str, n: int, hosts: int, markers: Sequence[str], pid: int | None) -> list[dict[str, Any]]:
    """The figures through the HTTP API; ``cpu_ms`` only for a server this bench started (``pid``)."""
    out = []
    with common.client(api) as c:

        def search(i: int) -> int:
            body = {"=": {"host": _host(i, hosts)}}
            resp = common.expect(c.post(f"/v1/search/resource/{TYPE}", params={"limit": PAGE}, json=body), 200)
            return len(resp.json())

        def first(_i: int) -> int:
            return len(common.expect(c.get(f"/v1/resource/{TYPE}", params={"limit": PAGE}), 200).json())

        def marker(i: int) -> int:
            params = {"limit": PAGE, "marker": markers[i % len(markers)]}
            return len(common.expect(c.get(f"/v1/resource/{TYPE}", params=params), 200).json())

        for figure, call in (("search_eq", search), ("list_first", first), ("list_marker", marker)):
            cpu = functools.partial(_cpu_seconds, pid) if pid is not None else None
            out.append({"figure": figure, "via": "http", "n": n, "rows": PAGE, **_timed(n, call, PAGE, cpu)})
    return out


@contextlib.contextmanager
def _capture_sql(engine: Any) -> Iterator[list[tuple[str, Any]]]:
    """Statements an engine sends, with their parameters (to EXPLAIN exactly what the indexer ran)."""
    import sqlalchemy as sa

    seen: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        seen.append((statement, parameters))

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)


def _plan_indexes(plan: dict[str, Any]) -> list[str]:
    """Scan nodes of a JSON plan, e.g. ``Bitmap Index Scan on ix_resource_attributes``."""
    found = []
    if "Index Name" in plan:
        found.append(f"{plan['Node Type']} on {plan['Index Name']}")
    elif plan.get("Node Type") == "Seq Scan":
        found.append(f"Seq Scan on {plan.get('Relation Name')}")
    for child in plan.get("Plans", []):
        found.extend(_plan_indexes(child))
    return found


def _indexer(url: str, n: int, hosts: int, markers: Sequence[str]) -> list[dict[str, Any]]:
    from telescale.indexer import Indexer
    from telescale.indexer.search import parse_json_filter

    sorts = ["revision_start:asc", "started_at:asc"]  # the API's default
    indexer = Indexer(url)
    out: list[dict[str, Any]] = []
    try:
        calls: dict[str, Callable[[int], int]] = {
            "search_eq": lambda i: len(
                indexer.list_resources(
                    TYPE, filter_node=parse_json_filter({"=": {"host": _host(i, hosts)}}), sorts=sorts, limit=PAGE
                )
            ),
            "list_first": lambda i: len(indexer.list_resources(TYPE, sorts=sorts, limit=PAGE)),
            "list_marker": lambda i: len(
                indexer.list_resources(TYPE, sorts=sorts, limit=PAGE, marker=markers[i % len(markers)])
            ),
        }
        for figure, call in calls.items():
            figures = _timed(n, call, PAGE, time.process_time)
            out.append({"figure": figure, "via": "indexer", "n": n, "rows": PAGE, **figures})
        engine = indexer._engine
        for figure, call in calls.items():
            with _capture_sql(engine) as seen:
                call(1)
            # The page query is the one that reads `resource` with a LIMIT (the marker lookup comes before
            # it, the metrics of the page after it).
            statement, parameters = next((s, p) for s, p in seen if "LIMIT" in s and "FROM resource" in s)
            with engine.connect() as conn:
                plan = conn.exec_driver_sql("EXPLAIN (ANALYZE, FORMAT JSON) " + statement, parameters).scalar()
            top = plan[0]
            out.append(
                {
                    "figure": figure,
                    "via": "explain",
                    "scans": _plan_indexes(top["Plan"]),
                    "execution_ms": round(top["Execution Time"], 3),
                    "planning_ms": round(top["Planning Time"], 3),
                }
            )
    finally:
        indexer.dispose()
    return out


@contextlib.contextmanager
def serve(url: str, start_timeout_s: float = 60.0) -> Iterator[tuple[str, int]]:
    """``telescale serve`` on a free port with ``indexer.url`` = the loaded database (no processing
    workers: nothing to process); yields its URL and pid; stopped and its temporary data dir removed after."""
    tmp = tempfile.mkdtemp(prefix="telescale-bench-scale-")
    port = servers._free_port()
    api = f"http://{common.LOOPBACK}:{port}"
    log_path = os.path.join(tmp, "server.log")
    argv = [servers._telescale_bin(), "serve", "--port", str(port), "--data-dir", os.path.join(tmp, "data"),
            "--set", f"indexer.url={url}", "--set", "processing.workers=0"]  # fmt: skip
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + start_timeout_s
        while not servers._up(api, "/healthcheck", auth=False):
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = Path(log_path).read_text(errors="replace")[-1500:]
                raise common.BenchError(f"telescale did not serve /healthcheck on {api}: {tail}")
            time.sleep(0.2)
        yield api, proc.pid
    finally:
        servers._stop(proc)
        shutil.rmtree(tmp, ignore_errors=True)


def run(url: str, n: int = 200, api: str | None = None) -> list[dict[str, Any]]:
    """Every figure, as JSON-ready dicts (``bench``: ``resource_scale``)."""
    count = _loaded_count(url)
    hosts = hosts_for(count)
    markers = _markers(url, count, 50)
    head = {"bench": "resource_scale", "type": TYPE, "resources": count}
    with contextlib.ExitStack() as stack:
        pid = None
        if api:
            api = common.check_loopback(api)
        else:
            api, pid = stack.enter_context(serve(url))
        lines = _http(api, n, hosts, markers, pid)
    lines += _indexer(url, n, hosts, markers)
    out = []
    for line in lines:
        target = TARGETS_MS.get(line["figure"]) if line["via"] != "explain" else None
        out.append({**head, **line, **({"target_p50_ms": target} if target else {})})
    return out


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.resource_scale", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    ld = sub.add_parser("load", help="create the database and load the resources")
    ld.add_argument("--url", required=True, help="postgresql://user@127.0.0.1:5432/DBNAME")
    ld.add_argument("--count", type=int, default=1_000_000)
    ld.add_argument("--recreate", action="store_true", help="drop the database first")
    rn = sub.add_parser("run", help="measure (the database must be loaded)")
    rn.add_argument("--url", required=True)
    rn.add_argument("--n", type=int, default=200, help="requests per figure")
    rn.add_argument("--api", help="a running server on that database (default: start telescale serve)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    for noisy in ("httpx", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    lines = [load(args.url, args.count, args.recreate)] if args.command == "load" else run(args.url, args.n, args.api)
    for line in lines:
        sys.stdout.write(json.dumps(line) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
