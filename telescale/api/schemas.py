"""Request schemas of the Gnocchi-compatible /v1 API.

Written with voluptuous because Gnocchi's clients and conformance tests read its error wording
("extra keys not allowed @ data['x']") and the path of the offending field; `validate` turns a
violation into a 400 naming that field.
"""

from __future__ import annotations

from typing import Any

import voluptuous as vo

from telescale.api.errors import invalid_input
from telescale.timeutil import TimeParseError, parse_timespan


def timespan(value: Any) -> int:
    try:
        return parse_timespan(value)
    except TimeParseError as e:
        raise vo.Invalid(str(e)) from None


def non_empty_string(max_length: int | None = None) -> vo.All:
    return vo.All(str, vo.Length(min=1, max=max_length))


POLICY_ITEM = vo.Schema({"granularity": timespan, "points": vo.All(vo.Coerce(int), vo.Range(min=1)),
                         "timespan": timespan})  # "60" accepted, as Gnocchi (gnocchiclient sends strings)

ARCHIVE_POLICY = vo.Schema(
    {
        vo.Required("name"): non_empty_string(255),
        vo.Optional("back_window", default=0): vo.All(int, vo.Range(min=0)),
        vo.Optional("aggregation_methods"): [str],
        vo.Required("definition"): vo.All([POLICY_ITEM], vo.Length(min=1)),
    }
)

ARCHIVE_POLICY_PATCH = vo.Schema({vo.Required("definition"): vo.All([POLICY_ITEM], vo.Length(min=1))})

ARCHIVE_POLICY_RULE = vo.Schema(
    {
        vo.Required("name"): non_empty_string(255),
        vo.Required("metric_pattern"): non_empty_string(255),
        vo.Required("archive_policy_name"): non_empty_string(255),
    }
)

ARCHIVE_POLICY_RULE_PATCH = vo.Schema({vo.Required("name"): non_empty_string(255)})

METRIC = vo.Schema(
    {
        vo.Optional("archive_policy_name"): non_empty_string(255),
        vo.Optional("name"): non_empty_string(255),
        vo.Optional("unit"): vo.All(str, vo.Length(max=31)),
        vo.Optional("resource_id"): vo.Any(None, str),
    }
)


def validate(schema: vo.Schema, body: Any) -> Any:
    try:
        return schema(body)
    except vo.Invalid as e:
        raise invalid_input(e) from None
