"""From an AMQP body to samples, instance resources and events: envelope, meters.yaml, lifecycle, events."""

from __future__ import annotations

import datetime
import json

import pytest

from telescale.metering.envelope import UndecodableMessage, decode
from telescale.metering.events import EventDefinitions
from telescale.metering.meters import MeterDefinitions
from telescale.metering.notifications import Converter, NotificationSettings
from telescale.metering.resources import INSTANCE_RESOURCE_TYPE, instance_update
from telescale.metering.sample import Event, ResourceUpdate, Sample
from tests.nova_notifications import (
    IMAGE,
    INSTANCE,
    PROJECT,
    USER,
    envelope,
    legacy_payload,
    message,
    versioned_payload,
)

T0 = datetime.datetime(2026, 3, 1, 10, 0, 31, 500000, datetime.UTC).timestamp()
ATTRIBUTES = {"display_name": "web-1", "host": "compute-1", "flavor_id": "2", "flavor_name": "m1.small",
              "image_ref": IMAGE, "server_group": "stack-web"}


def legacy(event_type: str, **changes) -> bytes:
    return envelope(message(event_type, legacy_payload(**changes)))


def versioned(event_type: str, **changes) -> bytes:
    return envelope(message(event_type, versioned_payload(**changes), versioned=True))


# --- envelope


def test_oslo_2_envelope_and_bare_1_0_message_decode_alike():
    inner = message("compute.instance.create.end", legacy_payload(), message_id="m-1")
    for body in (envelope(inner), json.dumps(inner).encode()):
        n = decode(body)
        assert (n.message_id, n.event_type, n.publisher_id, n.priority) == (
            "m-1", "compute.instance.create.end", "compute.compute-1", "info")
        assert n.timestamp == T0 and n.generated == "2026-03-01T10:00:31.500000+00:00"
        assert n.ctxt == {"request_id": "req-1", "user_id": USER, "project_id": PROJECT}


def test_versioned_payload_loses_its_nova_object_wrappers():
    n = decode(versioned("instance.create.end"))
    assert n.payload["uuid"] == INSTANCE and n.payload["flavor"]["memory_mb"] == 2048


@pytest.mark.parametrize(("body", "reason"), [
    (b"\xff{", "not JSON"),
    (b"[1]", "not an object"),
    (json.dumps({"oslo.version": "3.0", "oslo.message": "{}"}).encode(), "oslo.version '3.0'"),
    (json.dumps({"oslo.version": "2.0", "oslo.message": "{no"}).encode(), "oslo.message is not JSON"),
    (json.dumps({"oslo.version": "2.0", "oslo.message": "[]"}).encode(), "not a JSON object"),
    (json.dumps({"message_id": "m", "payload": {}}).encode(), "event_type: missing"),
    (envelope({"message_id": "m", "event_type": "x", "timestamp": "yesterday"}), "timestamp: not a time"),
])
def test_undecodable_bodies_say_why(body, reason):
    with pytest.raises(UndecodableMessage, match=reason):
        decode(body)


# --- meters.yaml


@pytest.mark.parametrize("body", [legacy("compute.instance.create.end"), versioned("instance.create.end")])
def test_default_meters_for_both_formats(body):
    samples = MeterDefinitions.load().samples(decode(body))
    assert [(s.name, s.value, s.unit) for s in samples] == [
        ("memory", 2048.0, "MB"), ("vcpus", 1.0, "vcpu"), ("disk.root.size", 20.0, "GB"),
        ("disk.ephemeral.size", 0.0, "GB")]
    s = samples[0]
    assert (s.resource_id, s.resource_type, s.kind, s.project_id, s.user_id, s.timestamp) == (
        INSTANCE, "instance", "gauge", PROJECT, USER, T0)
    assert dict(s.attributes) == ATTRIBUTES


@pytest.mark.parametrize("event_type", ["compute.instance.create.start", "compute.instance.update",
                                        "instance.update", "volume.create.end"])
def test_default_meters_skip_other_event_types(event_type):
    assert MeterDefinitions.load().samples(decode(legacy(event_type))) == []


def test_meter_definitions_lookup_regex_constant_and_context_fallbacks(tmp_path):
    path = tmp_path / "meters.yaml"
    path.write_text("""
metric:
  - name: $.payload.metrics[*].name
    event_type: 'magnum\\.bay\\.metrics\\..*'
    type: gauge
    unit: $.payload.metrics[*].unit
    volume: $.payload.metrics[*].value
    resource_id: $.payload.bay_id | $.payload.cluster_id
    lookup: [name, unit, volume]
  - name: bay.seen
    event_type: [nothing, 'magnum\\.']
    type: delta
    unit: bay
    volume: 1
    resource_id: $.payload.cluster_id
    timestamp: $.payload.at
""")
    body = envelope(message("magnum.bay.metrics.update", {"cluster_id": "c-1", "at": "2026-03-01T11:00:00",
                                                         "metrics": [{"name": "cpu", "unit": "%", "value": 5},
                                                                     {"name": "mem", "unit": "B", "value": "7"}]}))
    samples = MeterDefinitions.load(path).samples(decode(body))
    assert [(s.name, s.unit, s.value, s.resource_id, s.kind) for s in samples] == [
        ("cpu", "%", 5.0, "c-1", "gauge"), ("mem", "B", 7.0, "c-1", "gauge"), ("bay.seen", "bay", 1.0, "c-1", "delta")]
    assert {(s.project_id, s.user_id) for s in samples} == {(PROJECT, USER)}  # from the request context
    assert samples[2].timestamp == datetime.datetime(2026, 3, 1, 11, tzinfo=datetime.UTC).timestamp()


def test_a_non_numeric_volume_gives_no_sample_and_a_log_line(tmp_path, caplog):
    path = tmp_path / "meters.yaml"
    path.write_text("metric: [{name: m, event_type: x, type: gauge, unit: u, volume: $.payload.v, "
                    "resource_id: $.payload.id}]")
    assert MeterDefinitions.load(path).samples(decode(envelope(message("x", {"v": "lots", "id": "r"})))) == []
    assert "volume 'lots' of m is not a number" in caplog.text


@pytest.mark.parametrize(("text", "error"), [
    ("metric: {}", "must be a mapping with a 'metric' list"),
    ("metric: [{name: m}]", r"metric\[0\].event_type: mandatory"),
    ("metric: [{name: m, event_type: x, type: counter, unit: u, volume: 1, resource_id: r}]", "type: must be one of"),
    ("metric: [{name: m, event_type: '(', type: gauge, unit: u, volume: 1, resource_id: r}]", "not a regular expr"),
    ("metric: [{name: m, event_type: x, type: gauge, unit: u, volume: '$.[[', resource_id: r}]", r"volume: '\$"),
    ("metric: [{name: m, event_type: x, type: gauge, unit: u, volume: 1, resource_id: r, extra: 1}]", "extra: unknown"),
    ("metric: [{name: m, event_type: x, type: gauge, unit: u, volume: 1, resource_id: r, lookup: [host]}]", "lookup"),
    ("metric: [{name: m, event_type: x, type: gauge, unit: u, volume: {a: 1}, resource_id: r}]", "volume: must be"),
    ("metric: [", "not YAML"),
])
def test_bad_meter_definitions_are_named(tmp_path, text, error):
    path = tmp_path / "meters.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=error):
        MeterDefinitions.load(path)


# --- instance lifecycle


@pytest.mark.parametrize("body", [legacy("compute.instance.create.end"), versioned("instance.create.end")])
def test_create_end_creates_the_instance_with_started_at(body):
    update = instance_update(decode(body))
    assert update == ResourceUpdate("instance", INSTANCE, {**ATTRIBUTES, "started_at": "2026-03-01T10:00:30+00:00"},
                                    project_id=PROJECT, user_id=USER)
    assert set(update.attributes) - {"started_at"} <= set(INSTANCE_RESOURCE_TYPE["attributes"])


@pytest.mark.parametrize("body", [
    legacy("compute.instance.delete.end", deleted_at="2026-03-02T08:00:00.000000", state="deleted"),
    versioned("instance.delete.end", deleted_at="2026-03-02T08:00:00Z", state="deleted")])
def test_delete_end_ends_the_instance(body):
    update = instance_update(decode(body))
    assert update.attributes["ended_at"] == "2026-03-02T08:00:00+00:00" and "started_at" not in update.attributes


def test_delete_end_without_deleted_at_ends_at_the_notification_time():
    update = instance_update(decode(legacy("compute.instance.delete.end", deleted_at="", terminated_at="")))
    assert update.attributes["ended_at"] == "2026-03-01T10:00:31.500000+00:00"


def test_create_end_without_launched_at_uses_created_at_and_image_from_the_url():
    update = instance_update(decode(legacy("compute.instance.create.end", launched_at="", image_meta={},
                                           metadata={})))
    assert update.attributes["started_at"] == "2026-03-01T10:00:00+00:00"
    assert update.attributes["image_ref"] == IMAGE and "server_group" not in update.attributes


@pytest.mark.parametrize(("event_type", "kind"), [
    ("compute.instance.resize.confirm.end", "update"), ("instance.live_migration_post.end", "update"),
    ("compute.instance.exists", "update"), ("compute.instance.create.start", None),
    ("compute.instance.update", None), ("instance.delete.start", None), ("compute.instance.create.error", None),
    ("volume.create.end", None), ("compute.instance", None)])
def test_which_instance_events_update_the_resource(event_type, kind):
    update = instance_update(decode(legacy(event_type)))
    assert (update is not None) == (kind is not None)
    if update is not None:
        assert not {"started_at", "ended_at"} & set(update.attributes)


# --- events


def test_every_notification_becomes_an_event_with_traits():
    event = EventDefinitions.load().event(decode(versioned("instance.create.end")))
    assert isinstance(event, Event) and event.event_type == "instance.create.end"
    assert event.generated == "2026-03-01T10:00:31.500000+00:00"
    traits = {name: (dtype, value) for name, dtype, value in event.traits}
    assert traits["project_id"] == (1, PROJECT) and traits["resource_id"] == (1, INSTANCE)
    assert traits["service"] == (1, "nova-compute:compute-1") and traits["request_id"] == (1, "req-1")
    assert traits["memory_mb"] == (2, 2048) and traits["server_group"] == (1, "stack-web")
    assert traits["launched_at"] == (4, "2026-03-01T10:00:30+00:00") and "deleted_at" not in traits
    other = EventDefinitions.load().event(decode(envelope(message("volume.create.end", {"volume_id": "v"}))))
    assert {t[0] for t in other.traits} == {"service", "request_id", "project_id", "user_id"}


def test_event_definitions_exclusions_types_and_errors(tmp_path):
    path = tmp_path / "events.yaml"
    path.write_text("""
- event_type: ['compute.*', '!compute.instance.exists']
  traits:
    n: {fields: $.payload.n, type: float}
    bad: {fields: $.payload.host, type: int}
""")
    definitions = EventDefinitions.load(path)
    event = definitions.event(decode(envelope(message("compute.instance.x", {"n": "1.5", "host": "h"}))))
    assert event.traits == (("n", 3, 1.5),)
    assert definitions.event(decode(envelope(message("compute.instance.exists", {"n": 1})))).traits == ()
    path.write_text("- event_type: x\n  traits: {a: {fields: $.a, type: bool}}")
    with pytest.raises(ValueError, match=r"\[0\].traits.a.type: must be one of"):
        EventDefinitions.load(path)


# --- all together, and the settings


def test_converter_gives_the_resource_first_then_samples_then_the_event():
    items = Converter.from_settings(NotificationSettings()).convert(decode(legacy("compute.instance.create.end")))
    assert [type(i).__name__ for i in items] == ["ResourceUpdate"] + ["Sample"] * 4 + ["Event"]
    assert isinstance(items[1], Sample)


def test_settings_defaults_and_oslo_url():
    s = NotificationSettings.from_mapping({"url": "rabbit://u:p@mq:5672/openstack", "exchanges": "nova"},
                                          agent_name="ctl-1")
    assert s.url == "amqp://u:p@mq:5672/openstack" and s.exchanges == ("nova",)
    assert s.queue == "telescale-agent.ctl-1"
    assert s.routing_keys == ["notifications.info", "versioned_notifications.info"]


@pytest.mark.parametrize(("mapping", "error"), [
    ({"exchange": ["nova"]}, "notifications.exchange: unknown key"),
    ({"exchanges": []}, "exchanges: must be a non-empty list"),
    ({"prefetch": 0}, "prefetch: must be at least 1"),
    ({"prefetch": 1.5}, "prefetch: must be a whole number"),
    ({"batch_timeout": -1}, "batch_timeout: must be a non-negative number"),
    ({"resources": "yes"}, "resources: must be true or false"),
    ({"url": "http://mq"}, "url: must be amqp://"),
    ({"url": "rabbit://a:5672,b:5672/"}, "several brokers"),
    ({"queue": "notifications.info"}, "services' own queue"),
    ("nova", "notifications: must be a mapping"),
])
def test_bad_settings_are_named(mapping, error):
    with pytest.raises(ValueError, match=error):
        NotificationSettings.from_mapping(mapping)
