"""Telescale: measure, store, evaluate and act on metrics in one service."""

__version__ = "0.1.0"

# What this release does and what comes next, said once for `telescale --help`, the OpenAPI description
# and README: each feature that lands moves its words from LATER to SUMMARY.
SUMMARY = ("Telescale is a metric store speaking the Gnocchi v1 API (durable ingest, pre-aggregated time "
           "series, resources with history and search, dynamic aggregates) with alarms evaluated next to the data "
           "behind the Aodh v2 API (threshold, composite, event and PromQL rules; reliable webhooks) and "
           "autoscaling: scaling groups with Heat-compatible step, target tracking and scheduled policies, "
           "signal URLs, autohealing and a decision log. Metric collection: Prometheus remote_write, InfluxDB "
           "line protocol, OTLP/HTTP, collectd and statsd ingest, and a metering agent for host, process and "
           "exporter metrics, OpenStack notifications and inventories.")
LATER = "Redis and S3 storage drivers, the Prometheus query API and a web UI come in later releases."
