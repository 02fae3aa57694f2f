"""The InfluxDB line protocol parser: Gnocchi's metric names, value kinds, escapes, precision, errors."""

from __future__ import annotations

import pytest

from telescale.ingest import influx
from telescale.ingest.influx import LineError

NOW = 1_700_000_000_000_000_000


def points(body: str, tag: str = "host", precision: str = "ns") -> list[tuple[str, str, int, float]]:
    parsed = influx.parse(body.encode(), tag, precision, NOW)
    return [(*parsed.series[i], t, v) for i, t, v in
            zip(parsed.index.tolist(), parsed.timestamps.tolist(), parsed.values.tolist(), strict=True)]


def test_gnocchi_names_tags_sorted_slashes_replaced() -> None:
    body = "cpu,path=/var,host=web1,core=0 user=1.5,sys=2i,name=\"x y\" 1510581804179554816\n\ncpu,host=web2 idle=t"
    assert points(body) == [
        ("web1", "cpu.user@core=0,path=_var", 1510581804179554816, 1.5),
        ("web1", "cpu.sys@core=0,path=_var", 1510581804179554816, 2.0),
        ("web2", "cpu.idle", NOW, 1.0),
    ]


def test_the_resource_tag_can_be_another_tag() -> None:
    assert points("m,host=h,rack=r1 f=3u 10", tag="rack") == [("r1", "m.f@host=h", 10, 3.0)]


def test_escaped_characters_and_quoted_strings() -> None:
    body = r'my\ metric,host=a\,b,k\=x=v\ w f\ 1=4,s="quoted, with \"escapes\" and spaces" 7'
    assert points(body) == [("a,b", "my metric.f 1@k=x=v w", 7, 4.0)]


@pytest.mark.parametrize(("precision", "factor"), [("ns", 1), ("u", 1_000), ("ms", 1_000_000), ("s", 10**9),
                                                   ("m", 60 * 10**9), ("h", 3600 * 10**9)])
def test_precision(precision: str, factor: int) -> None:
    assert points("m,host=h f=1 12", precision=precision)[0][2] == 12 * factor


@pytest.mark.parametrize(("body", "reason", "hint"), [
    ("m,host=h f=1\nm,rack=r f=2", "Unable to find key `host' in tags", "line 2"),
    ("m,host=h f=1\nm,host=h", "Unable to parse line 2", "single spaces"),
    ("m,host=h f", "Unable to parse line 1", "key=value"),
    ("m,host=h f=1\nm,host=h f=abc", "Unable to parse line 2", "not a number"),
    ("m,host=h f=1 12x", "Unable to parse line 1", "not an integer"),
    ('m,host=h s="open', "Unable to parse line 1", "unterminated"),
    ("m,host=h f=nan", "Unable to parse line 1", "NaN"),
])
def test_bad_lines_name_the_line(body: str, reason: str, hint: str) -> None:
    with pytest.raises(LineError) as e:
        points(body)
    assert e.value.reason == reason
    assert hint in (e.value.hint or e.value.args[0]) or hint in e.value.reason


def test_not_utf8() -> None:
    with pytest.raises(LineError, match="line 2"):
        influx.parse(b"m,host=h f=1\nm,host=\xff f=1", "host", "ns", NOW)


@pytest.mark.parametrize(("query", "name"), [
    ("create database influxdbtest", "influxdbtest"), ("CREATE DATABASE \"my db\";", "my db"),
    ("  Create   Database x_1 ; ", "x_1"), ("select metrics plz", None), ("create database", None),
    ("create database a b", None),
])
def test_create_database(query: str, name: str | None) -> None:
    assert influx.create_database(query) == name
