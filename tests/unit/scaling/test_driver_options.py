"""Validation of ``member_driver`` specs: normalised options, and errors that name the option at fault."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from telescale.config import Settings
from telescale.scaling.drivers import DRIVERS, DriverContext, DriverError, base, build_driver, validate_driver
from telescale.scaling.drivers.registry import driver_class


def test_every_driver_type_is_known() -> None:
    assert sorted(DRIVERS) == ["heat", "nova", "process", "webhook"]
    classes = {kind: driver_class({"type": kind}) for kind in DRIVERS}
    assert {kind: (cls.kind, cls.tracks_members) for kind, cls in classes.items()} == {
        "heat": ("heat", False), "nova": ("nova", True), "process": ("process", True), "webhook": ("webhook", False)}


@pytest.mark.parametrize("spec", [{}, {"type": "lambda"}, {"type": None}, "webhook"])
def test_an_unknown_type_names_the_known_ones(spec: object) -> None:
    with pytest.raises(DriverError, match="heat, nova, process, webhook"):
        validate_driver(spec)  # type: ignore[arg-type]


def test_webhook_defaults_are_filled_in() -> None:
    assert validate_driver({"type": "webhook", "url": "https://scaler.example.com/hook"}) == {
        "type": "webhook", "url": "https://scaler.example.com/hook", "headers": {}, "timeout": 10.0,
        "max_attempts": 5, "backoff": 1.0}


@pytest.mark.parametrize(("spec", "field"), [
    ({"type": "webhook"}, "member_driver.url is required"),
    ({"type": "webhook", "url": "ftp://x/"}, "member_driver.url must be an http"),
    ({"type": "webhook", "url": "http://x:99999/"}, "member_driver.url is not a valid URL"),
    ({"type": "webhook", "url": "http://x/", "timeout": 0}, "member_driver.timeout must be greater than 0"),
    ({"type": "webhook", "url": "http://x/", "max_attempts": 0}, "member_driver.max_attempts"),
    ({"type": "webhook", "url": "http://x/", "headers": {"a": 1}}, "member_driver.headers.a"),
    ({"type": "webhook", "url": "http://x/", "retries": 3}, "member_driver.retries: not an option"),
    ({"type": "process", "command": "python -m worker"}, "member_driver.command must be a non-empty list"),
    ({"type": "process", "command": []}, "member_driver.command"),
    ({"type": "process", "command": ["w"], "stop_timeout": -1}, "member_driver.stop_timeout must be at least 0"),
    ({"type": "process", "command": ["w"], "env": {"A": True}}, "member_driver.env.A"),
    ({"type": "heat", "mode": "signal", "scale_out_url": "http://h/"}, "member_driver.scale_in_url is required"),
    ({"type": "heat", "mode": "stack", "stack_name": "asg"}, "member_driver.stack_id is required"),
    ({"type": "heat", "mode": "stack", "stack_name": "a/b", "stack_id": "1"}, "member_driver.stack_name must not"),
    ({"type": "heat", "mode": "queue"}, "member_driver.mode must be one of signal, stack"),
    ({"type": "heat", "mode": "signal", "scale_out_url": "http://h/", "scale_in_url": "http://h/",
      "auth": "basic"}, "member_driver.auth"),
    ({"type": "nova", "image": "cirros"}, "member_driver.flavor is required"),
    ({"type": "nova", "flavor": "m1", "image": "cirros", "metadata": {"k": "v" * 256}}, "at most 255"),
])
def test_bad_options_name_the_field(spec: dict, field: str) -> None:
    with pytest.raises(DriverError) as error:
        validate_driver(spec)
    assert field in str(error.value)
    assert isinstance(error.value, ValueError)  # the API answers 400


def test_other_drivers_normalise() -> None:
    assert validate_driver({"type": "process", "command": ["python", "-m", "w", "{port}"]}) == {
        "type": "process", "command": ["python", "-m", "w", "{port}"], "env": {}, "cwd": None, "stop_timeout": 10.0,
        "start_grace": 0.5}
    assert validate_driver({"type": "heat", "mode": "stack", "stack_name": "asg", "stack_id": "42"}) == {
        "type": "heat", "mode": "stack", "stack_name": "asg", "stack_id": "42", "parameter": "capacity",
        "timeout": 30.0, "poll_interval": 2.0, "update_timeout": 600.0}
    assert validate_driver({"type": "heat", "mode": "signal", "scale_out_url": "http://h/o",
                            "scale_in_url": "http://h/i"})["auth"] == "auto"
    # without a mode, the options say which one is meant
    assert validate_driver({"type": "heat", "scale_out_url": "http://h/o", "scale_in_url": "http://h/i"})[
        "mode"] == "signal"
    assert validate_driver({"type": "heat", "stack_name": "asg", "stack_id": "42"})["mode"] == "stack"
    nova = validate_driver({"type": "nova", "flavor": "m1.small", "image": "cirros"})
    assert nova["network"] is None and nova["metadata"] == {} and nova["cloud"] is None


def test_build_driver_validates_and_base_offers_the_same_entry_points(tmp_path: Path) -> None:
    context = DriverContext(settings=Settings(), state_dir=tmp_path, api_url="http://127.0.0.1:8041")
    driver = base.build_driver({"type": "process", "command": [sys.executable]}, context)
    assert driver.kind == "process" and driver.options["stop_timeout"] == 10.0
    with pytest.raises(DriverError):
        build_driver({"type": "process"}, context)
    assert base.validate_driver({"type": "webhook", "url": "http://x/"})["type"] == "webhook"
