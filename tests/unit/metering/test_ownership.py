"""Ownership without a coordination backend: the embedded agent owns everything."""

from __future__ import annotations

import pytest

from telescale.metering.ownership import build_ownership, placement_key
from telescale.metering.sample import Event, ResourceUpdate, Sample


def test_embedded_agent_owns_everything_in_order():
    ownership = build_ownership("", "host-1")
    items = [Sample("cpu", 1, 0, "vm-1"), ResourceUpdate("instance", "vm-2"), Event("m", "x.y", "2026-01-01")]
    assert ownership.keep(items) == items and ownership.keep([]) == []
    assert ownership.owns_target("http://localhost:9100/metrics")
    assert ownership.members == {"agent:host-1"}
    ownership.close()
    assert ownership.keep(items) == []


def test_series_of_one_resource_are_placed_together():
    assert placement_key(Sample("cpu", 1, 0, "vm-1")) == placement_key(Sample("memory", 1, 0, "vm-1")) == "vm-1"
    assert placement_key(Event("m-1", "x", "2026-01-01")) == "m-1"


def test_an_agent_needs_a_name():
    with pytest.raises(ValueError, match="agent name"):
        build_ownership("", "")
