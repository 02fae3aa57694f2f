"""A demo member for the ``process`` driver: a small HTTP worker that reports its own load to Telescale.

``python -m telescale.scaling.demo_member --port 8100`` serves ``GET /work`` (each call costs ``--cost``
seconds of work) and, every second, posts how many calls it served in that second as the measure
``load`` of its own resource (type ``--resource-type``, id = its member id, with ``server_group`` =
its group's name), creating the resource on start. Telescale's ``process`` driver passes the member id,
group name and API URL in ``TELESCALE_*`` variables, so the command needs nothing else. The README's
scaling walk-through and the end-to-end test scale groups of these.
"""

from __future__ import annotations

import argparse
import datetime
import logging
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

LOG = logging.getLogger("telescale.demo_member")


class Counter:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.count = 0

    def add(self) -> None:
        with self.lock:
            self.count += 1

    def take(self) -> int:
        with self.lock:
            n, self.count = self.count, 0
            return n


def _handler(counter: Counter, cost: float) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            if self.path.split("?")[0] not in ("/work", "/"):
                self.send_error(404)
                return
            time.sleep(cost)
            counter.add()
            body = b"done\n"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


def _register(client: httpx.Client, args: argparse.Namespace) -> None:
    """Create this member's resource (once; a restart finds it there)."""
    body = {"id": args.member_id, "server_group": args.group, "metrics": {
        "load": {"archive_policy_name": args.archive_policy}}}
    answer = client.post(f"/v1/resource/{args.resource_type}", json=body)
    if answer.status_code not in (201, 409):
        raise SystemExit(f"cannot create resource {args.member_id}: {answer.status_code} {answer.text}")


def _report(client: httpx.Client, args: argparse.Namespace, counter: Counter, stop: threading.Event) -> None:
    """Report every interval; give up (and exit) once Telescale has been unreachable for ``--orphan-after``
    seconds, or once the resource is gone: a demo member should not outlive its demo."""
    path = f"/v1/resource/{args.resource_type}/{args.member_id}/metric/load/measures"
    last_ok = time.monotonic()
    while not stop.wait(args.interval):
        served = counter.take()
        now = datetime.datetime.now(datetime.UTC).isoformat()
        try:
            answer = client.post(path, json=[{"timestamp": now, "value": served / args.interval}])
        except httpx.HTTPError as e:
            LOG.warning("cannot report to %s: %s", args.url, e)
        else:
            if answer.status_code == 202:
                last_ok = time.monotonic()
            elif answer.status_code == 404:
                LOG.warning("resource %s is gone; stopping", args.member_id)
                return
            else:
                LOG.warning("report refused: %s %s", answer.status_code, answer.text)
        if time.monotonic() - last_ok > args.orphan_after:
            LOG.warning("no answer from %s for %.0f s; stopping", args.url, args.orphan_after)
            return


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m telescale.scaling.demo_member", description=__doc__.split("\n\n")[0])
    p.add_argument("--port", type=int, default=int(os.environ.get("TELESCALE_MEMBER_PORT", "0")),
                   help="port to serve on (default: $TELESCALE_MEMBER_PORT)")
    p.add_argument("--url", default=os.environ.get("TELESCALE_URL", "http://127.0.0.1:8041"),
                   help="Telescale's API (default: $TELESCALE_URL)")
    p.add_argument("--member-id", default=os.environ.get("TELESCALE_MEMBER_ID"), help="default: $TELESCALE_MEMBER_ID")
    p.add_argument("--group", default=os.environ.get("TELESCALE_GROUP_NAME", "demo"),
                   help="server_group attribute (default: $TELESCALE_GROUP_NAME)")
    p.add_argument("--resource-type", default="instance", help="type of the member's resource (default instance)")
    p.add_argument("--archive-policy", default="medium", help="archive policy of the load metric (default medium)")
    p.add_argument("--user", default="admin", help="basic auth user (default admin)")
    p.add_argument("--cost", type=float, default=0.01, help="seconds of work per request (default 0.01)")
    p.add_argument("--interval", type=float, default=1.0, help="seconds between two reports (default 1)")
    p.add_argument("--orphan-after", type=float, default=60.0,
                   help="stop after this many seconds without reaching Telescale (default 60)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s demo member: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per report
    if not args.member_id:
        raise SystemExit("--member-id (or TELESCALE_MEMBER_ID) is required")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    counter = Counter()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), _handler(counter, args.cost))
    with httpx.Client(base_url=args.url, auth=(args.user, ""), timeout=10) as client:
        _register(client, args)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        LOG.info("member %s of %s serving on 127.0.0.1:%d", args.member_id, args.group, server.server_address[1])
        _report(client, args, counter, stop)
    server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
