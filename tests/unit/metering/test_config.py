"""The agent's YAML file: defaults, the example, and errors that name the key and its line."""

from __future__ import annotations

import pytest

from telescale.metering.config import EXAMPLE, ConfigError, parse


def test_the_example_is_the_defaults() -> None:
    assert parse(EXAMPLE) == parse("")


def test_a_full_file_is_read_into_typed_settings() -> None:
    config = parse("""
api: {url: "http://api:8041/", auth: {mode: noauth, user_id: agent, project_id: p1}}
host: h1
sources:
  host: {interval: 30, groups: [cpu, load]}
  process: {match: [{name: postgres}, {cmdline: "telescale serve", label: telescale}]}
  prometheus:
    - {url: "http://127.0.0.1:9100/metrics", job: node, interval: 5, labels: {dc: eu}}
pipelines:
  - {name: rates, meters: ["cpu.*"], transformers: [{name: rate_of_change}]}
publisher: {batch_size: 100, buffer_dir: /tmp/x, archive_policy: high}
""")
    assert config.api.url == "http://api:8041" and config.api.auth.user_id == "agent"
    assert config.sources.host.groups == ("cpu", "load") and config.sources.host.interval == 30
    assert [m.label for m in config.sources.process.match] == ["postgres", "telescale"]
    target = config.sources.prometheus[0]
    assert (target.key, target.interval, dict(target.labels)) == ("node@127.0.0.1:9100", 5, {"dc": "eu"})
    assert config.pipelines[0].meters == ("cpu.*",) and config.pipelines[0].transformers[0]["name"] == "rate_of_change"
    assert config.publisher.batch_size == 100 and config.publisher.archive_policy == "high"


@pytest.mark.parametrize(("text", "message"), [
    ("api:\n  url: ftp://x\n", "(line 2): api.url: expected an http:// or https:// URL"),
    ("sources:\n  host:\n    interval: 0\n", "(line 3): sources.host.interval: must be > 0"),
    ("sources:\n  host:\n    groups: [cpu, gpu]\n", "(line 3): sources.host.groups: unknown group 'gpu'"),
    ("sources:\n  prometheus:\n    - url: http://a/metrics\n      intervall: 3\n",
     "(line 4): sources.prometheus[0].intervall: unknown setting"),
    ("publisher:\n  batch_size: 2.5\n", "(line 2): publisher.batch_size: expected a whole number"),
    ("api:\n  auth: {mode: kerberos}\n", "api.auth.mode: expected one of basic, noauth, keystone"),
    ("api:\n  auth: {mode: noauth}\n", "api.auth.user_id: required when mode is noauth"),
    ("sources:\n  process:\n    match: [{label: x}]\n", "sources.process.match[0].name: give a process name"),
    ("- a\n", "the file must be a mapping"),
    ("a: [\n", "not valid YAML"),
    ("sources:\n  openstack: {enabled: true}\n", "sources.openstack.enabled: the openstack source needs"),
])
def test_errors_name_the_key_and_line(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as e:
        parse(text, "agent.yaml")
    assert message in str(e.value) and str(e.value).startswith("agent.yaml")
