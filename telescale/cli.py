"""The `telescale` command: serve, upgrade, the scale-out pieces, and a look at the settings."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence

from telescale import LATER, SUMMARY, __version__, config, lifecycle

LOG = logging.getLogger(__name__)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", help="TOML settings file (default: $TELESCALE_CONFIG)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override one setting, e.g. --set api.max_limit=500 (repeatable; the value is "
                             "read as TOML when it parses as TOML, else as a string)")
    parser.add_argument("--data-dir", help="shortcut for --set storage.data_dir=DIR")


def _settings(args: argparse.Namespace) -> config.Settings:
    overrides = list(args.overrides)
    if getattr(args, "data_dir", None):
        overrides.append(f"storage.data_dir={json.dumps(args.data_dir)}")
    if getattr(args, "port", None):
        overrides.append(f"api.port={args.port}")
    return config.load(args.config, overrides=overrides)


def cmd_serve(args: argparse.Namespace) -> int:
    from telescale import service

    service.serve(_settings(args))
    return 0


def cmd_api(args: argparse.Namespace) -> int:
    settings = _settings(args)
    settings.processing.workers = 0
    settings.alarming.evaluators = 0
    settings.scaling.scalers = 0
    settings.statsd.enabled = False
    from telescale import service

    service.serve(settings, command="api")
    return 0


def cmd_metricd(args: argparse.Namespace) -> int:
    from telescale import service

    service.run_workers(_settings(args), service.METRICD)
    return 0


def cmd_evaluator(args: argparse.Namespace) -> int:
    from telescale import service

    settings = _settings(args)
    settings.alarming.evaluators = max(1, settings.alarming.evaluators)
    service.run_workers(settings, service.EVALUATOR)
    return 0


def cmd_scaler(args: argparse.Namespace) -> int:
    from telescale import service

    settings = _settings(args)
    settings.scaling.scalers = max(1, settings.scaling.scalers)
    service.run_workers(settings, service.SCALER)
    return 0


def cmd_statsd(args: argparse.Namespace) -> int:
    from telescale import service

    if args.statsd_port:
        args.overrides.append(f"statsd.port={args.statsd_port}")
    settings = _settings(args)
    settings.statsd.enabled = True
    service.run_workers(settings, service.STATSD)
    return 0


def cmd_upgrade(args: argparse.Namespace) -> int:
    from telescale import service

    settings = _settings(args)
    if args.skip_default_archive_policies:
        settings.indexer.create_default_archive_policies = False
    service.configure_logging(settings)
    service.upgrade(settings)
    LOG.info("indexer schema is up to date")
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    print(json.dumps(_settings(args).to_dict(), indent=2))
    return 0


def cmd_agent(args: argparse.Namespace) -> int:
    from telescale.metering import agent
    from telescale.metering import config as agent_config

    if args.print_example_config:
        print(agent_config.EXAMPLE, end="")
        return 0
    if not args.config:
        print("telescale agent: give --config FILE (see --print-example-config for one)", file=sys.stderr)
        return 2
    try:
        settings = agent_config.load_file(args.config)
    except agent_config.ConfigError as e:
        print(f"telescale agent: configuration error: {e}", file=sys.stderr)
        return 2
    return agent.main(settings, args.log_level)


AGENT_HELP = """\
The metering agent, one per host: polls this host (psutil: cpu, memory, swap, disks, network, load) and the
processes you name, scrapes Prometheus exporters' /metrics, optionally lists an OpenStack cloud's servers,
and publishes everything in batches to the Telescale API over HTTP (resources and metrics are created as
needed). While the API is away, batches wait in an on-disk buffer and are replayed in order.

One YAML file configures it; every key is optional. A minimal one:

  api: {url: http://127.0.0.1:8041, auth: {mode: basic, user: admin}}
  sources:
    prometheus: [{url: http://127.0.0.1:9100/metrics, job: node, interval: 15}]
  publisher: {buffer_dir: /var/lib/telescale-agent}

`telescale agent --print-example-config` prints every key with its default and a comment. A `notifications:`
mapping makes it listen to OpenStack notifications on AMQP (instances, meters, events); `pipelines:` apply
transformers (rate_of_change, delta, unit_conversion, arithmetic, batch); agents given the same
`coordination_url` (redis://…) share the sources, each series produced by one of them.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="telescale",
        description=f"{SUMMARY} It serves on port 8041 unless told otherwise. {LATER}",
    )
    parser.add_argument("--version", action="version", version=f"telescale {__version__}")
    parser.set_defaults(daemon=False)  # daemons (serve, api, metricd …) end without the interpreter's teardown
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    serve = sub.add_parser("serve", help="run everything in one process tree: API + processing workers + alarm "
                                         "evaluators + scalers",
                           description="Run the API, the processing workers, the alarm evaluators and the scalers on "
                                       "the embedded defaults (SQLite + files under ./data) unless configured "
                                       "otherwise.")
    _common(serve)
    serve.add_argument("--port", type=int, help="shortcut for --set api.port=PORT (default 8041)")
    serve.set_defaults(func=cmd_serve, daemon=True)

    api = sub.add_parser("api", help="run only the HTTP API (scale-out: several behind a load balancer)")
    _common(api)
    api.add_argument("--port", type=int, help="shortcut for --set api.port=PORT")
    api.set_defaults(func=cmd_api, daemon=True)

    metricd = sub.add_parser("metricd", help="run only the processing workers (scale-out)")
    _common(metricd)
    metricd.set_defaults(func=cmd_metricd, daemon=True)

    evaluator = sub.add_parser("evaluator", help="run only the alarm evaluators and their notifiers (scale-out: "
                                                 "they share alarms over coordination.url)")
    _common(evaluator)
    evaluator.set_defaults(func=cmd_evaluator, daemon=True)

    scaler = sub.add_parser("scaler", help="run only the scalers: scaling policies, actions, autohealing (scale-out: "
                                           "they share scaling groups over coordination.url)")
    _common(scaler)
    scaler.set_defaults(func=cmd_scaler, daemon=True)

    statsd = sub.add_parser("statsd", help="run only the statsd listener: UDP datagrams in, one point per metric "
                                           "and flush interval into incoming (settings [statsd])",
                            description="Listen for statsd lines (name:value|c|g|ms|s[|@rate][|#tag:v,...]) on "
                                        "statsd.host:statsd.port (UDP, default 127.0.0.1:8125) and write every "
                                        "statsd.flush_interval seconds (default 10) one point per metric to the "
                                        "generic resource statsd.resource_id (default \"statsd\"). `serve` runs it "
                                        "too when statsd.enabled is true.")
    _common(statsd)
    statsd.add_argument("--port", dest="statsd_port", type=int, help="shortcut for --set statsd.port=PORT (UDP)")
    statsd.set_defaults(func=cmd_statsd)

    upgrade = sub.add_parser("upgrade", help="create or migrate the indexer schema and the default policies")
    _common(upgrade)
    upgrade.add_argument("--skip-default-archive-policies", action="store_true",
                         help="do not create the default archive policies and rule on an empty database")
    upgrade.set_defaults(func=cmd_upgrade)

    agent = sub.add_parser("agent", help="run the metering agent (host, process and exporter metrics → the API)",
                           description=AGENT_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    agent.add_argument("--config", metavar="FILE.yaml", help="the agent's YAML configuration file")
    agent.add_argument("--print-example-config", action="store_true",
                       help="print a commented configuration with every default, and exit")
    agent.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    agent.set_defaults(func=cmd_agent)

    show = sub.add_parser("config", help="print the effective settings as JSON")
    _common(show)
    show.set_defaults(func=cmd_config)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code = args.func(args)
    except config.ConfigError as e:
        print(f"telescale: configuration error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        code = 130
    except SystemExit as e:  # how SIGTERM stops the daemons (lifecycle.exit_on_sigterm), after their clean-up
        if not args.daemon:
            raise
        code = e.code if isinstance(e.code, int) else 1
    if args.daemon:
        lifecycle.exit_now(code)
    return code


if __name__ == "__main__":
    sys.exit(main())
