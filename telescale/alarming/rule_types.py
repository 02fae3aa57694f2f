"""The ``<type>_rule`` of each alarm type: Aodh's fields, defaults and validation, with its messages.

Pure functions, no I/O: :func:`normalize_rule` turns the rule a client sent into the dict that is stored
and shown (defaults filled in, values coerced, keys in Aodh's order). Checks that need the indexer or the
caller (does the resource exist in the caller's scope, is Prometheus configured) belong to the API.

Messages follow Aodh 23 (WSME's ``Invalid input for field/attribute <field>. Value: '<value>'. <why>``),
so clients and scripts that match them keep working; where Aodh's message names no field (a float that
does not convert is reported against the whole body) the field is named instead.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from telescale.timeseries.policy import ALL_METHODS

COMPARISON_OPERATORS = ("lt", "le", "eq", "ne", "ge", "gt")
#: Rule types that compare one value with a threshold; the leaves of a composite rule.
THRESHOLD_TYPES = ("gnocchi_aggregation_by_metrics_threshold", "gnocchi_aggregation_by_resources_threshold",
                   "gnocchi_resources_threshold", "prometheus")
#: Every type, in the order Aodh lists them in its messages.
RULE_TYPES = ("event", "composite", "gnocchi_aggregation_by_metrics_threshold", "gnocchi_resources_threshold",
              "gnocchi_aggregation_by_resources_threshold", "prometheus")
EVENT_QUERY_TYPES = ("", "boolean", "float", "integer", "string")
MAX_GRANULARITY = 3600 * 24 * 365
MAX_NAME = 255  # names and ids are VARCHAR(255) in the indexer
MAX_COMPOSITE_DEPTH = 32  # nesting of and/or; a deeper tree is refused, not a recursion error
_EVENT_FIELD = re.compile(r"^[a-zA-Z.',0-9_-]*$")
_TRUE = ("true", "t", "yes", "y", "on", "1")
_FALSE = ("false", "f", "no", "n", "off", "0")


class InvalidAlarm(ValueError):
    """An alarm definition the API refuses; ``str()`` is the message shown (Aodh's ``faultstring``)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


# --- Aodh's (WSME's) messages ------------------------------------------------------------------------------


def invalid_input(field: str, value: Any, reason: str) -> InvalidAlarm:
    return InvalidAlarm(f"Invalid input for field/attribute {field}. Value: '{value}'. {reason}")


def missing(field: str) -> InvalidAlarm:
    return invalid_input(field, None, "Mandatory field missing.")


def check_known(body: Mapping[str, Any], known: Sequence[str], where: str) -> None:
    """400 naming the attributes of ``body`` that are not in ``known`` (``where``: data, data.x_rule …)."""
    unknown = sorted(set(body) - set(known))
    if unknown:
        raise InvalidAlarm(f"Unknown attribute for argument {where}: {', '.join(unknown)}")


def as_object(value: Any, field: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise invalid_input(field, value, "Value should be an object")
    return value


# --- values ----------------------------------------------------------------------------------------------


def _wrong_type(field: str, value: Any, expected: type) -> InvalidAlarm:
    return invalid_input(field, value, f"Wrong type. Expected '{expected}', got '{type(value)}'")


def storable(value: str, field: str, max_length: int | None = None) -> str:
    """A string the databases can store: no NUL character (PostgreSQL refuses them), not too long."""
    if "\x00" in value:
        raise invalid_input(field, value.replace("\x00", "\\x00"), "Value should not contain NUL characters")
    if max_length is not None and len(value) > max_length:
        raise invalid_input(field, value, f"Value should have a maximum character requirement of {max_length}")
    return value


def text(body: Mapping[str, Any], field: str, default: str | None = None, mandatory: bool = False,
         max_length: int | None = None) -> str | None:
    """A string attribute; null counts as absent."""
    value = body.get(field)
    if value is None:
        if mandatory:
            raise missing(field)
        return default
    if not isinstance(value, str):
        raise _wrong_type(field, value, str)
    return storable(value, field, max_length)


def number(body: Mapping[str, Any], field: str, minimum: float | None = None,
           default: float | None = None, mandatory: bool = False) -> float | None:
    """A finite float (a number, or a string holding one, as Aodh converts it)."""
    value = body.get(field)
    if value is None:
        if mandatory:
            raise missing(field)
        return default
    try:
        if isinstance(value, bool):
            raise ValueError
        result = float(value)
    except (TypeError, ValueError):
        raise _wrong_type(field, value, float) from None
    if not math.isfinite(result):
        raise invalid_input(field, value, "Value should be a finite number")
    if minimum is not None and result < minimum:
        raise invalid_input(field, value, f"Value should be greater or equal to {minimum:g}")
    return result


def integer(body: Mapping[str, Any], field: str, minimum: int, maximum: int | None = None,
            default: int | None = None, mandatory: bool = False) -> int | None:
    """An integer within bounds; an integral float or a decimal string is accepted, 2.5 is not."""
    value = body.get(field)
    if value is None:
        if mandatory:
            raise missing(field)
        return default
    if isinstance(value, bool):
        raise _wrong_type(field, value, int)
    if isinstance(value, float) and value.is_integer():
        result = int(value)
    elif isinstance(value, int):
        result = value
    elif isinstance(value, str) and value.strip().lstrip("+-").isdigit():
        result = int(value)
    else:
        raise _wrong_type(field, value, int)
    if result < minimum:
        raise invalid_input(field, value, f"Value should be greater or equal to {minimum}")
    if maximum is not None and result > maximum:
        raise invalid_input(field, value, f"Value should be lower or equal to {maximum}")
    return result


def boolean(body: Mapping[str, Any], field: str, default: bool) -> bool:
    """A boolean; like Aodh, also "true"/"false"/"yes"/"no"/"on"/"off"/"1"/"0" and 0/1."""
    value = body.get(field)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower() if isinstance(value, str | int) else None
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise invalid_input(field, value, f"Value not an unambiguous boolean: {value}")


def choice(body: Mapping[str, Any], field: str, choices: Sequence[str], default: str | None = None) -> str:
    value = body.get(field)
    if value is None:
        if default is None:
            raise missing(field)
        return default
    if value not in choices:
        raise invalid_input(field, value, f"Value should be one of: {', '.join(choices)}")
    return value


def text_list(body: Mapping[str, Any], field: str, mandatory: bool = False) -> list[str]:
    value = body.get(field)
    if value is None:
        if mandatory:
            raise missing(field)
        return []
    if not isinstance(value, list):
        raise invalid_input(field, value, f"Value not a valid list: {value}")
    for item in value:
        if not isinstance(item, str):
            raise _wrong_type(field, item, str)
        storable(item, field)
    return list(value)


# --- the rules -------------------------------------------------------------------------------------------


def _threshold_fields(rule: Mapping[str, Any]) -> dict[str, Any]:
    """What every gnocchi rule compares: operator, threshold, method, periods and granularity."""
    threshold = number(rule, "threshold", mandatory=True)
    method = text(rule, "aggregation_method", mandatory=True)
    operator = choice(rule, "comparison_operator", COMPARISON_OPERATORS, "eq")
    if method not in ALL_METHODS:
        raise InvalidAlarm(f"aggregation_method should be in {list(ALL_METHODS)} not {method}")
    return {"comparison_operator": operator, "threshold": threshold, "aggregation_method": method,
            "evaluation_periods": integer(rule, "evaluation_periods", 1, 100, default=1),
            "granularity": integer(rule, "granularity", 1, MAX_GRANULARITY, default=60)}


_GNOCCHI_COMMON = ("comparison_operator", "threshold", "aggregation_method", "evaluation_periods", "granularity")


def _resources_threshold(rule: Mapping[str, Any]) -> dict[str, Any]:
    own = {f: text(rule, f, mandatory=True) for f in ("metric", "resource_id", "resource_type")}
    return {**own, **_threshold_fields(rule)}


def _aggregation_by_metrics(rule: Mapping[str, Any]) -> dict[str, Any]:
    metrics = text_list(rule, "metrics", mandatory=True)
    common = _threshold_fields(rule)
    if not metrics:
        raise invalid_input("metrics", metrics, "At least one metric id is needed")
    return {"metrics": metrics, **common}


def _aggregation_by_resources(rule: Mapping[str, Any]) -> dict[str, Any]:
    own = {f: text(rule, f, mandatory=True) for f in ("metric", "query", "resource_type")}
    common = _threshold_fields(rule)
    try:
        json.loads(own["query"])  # type: ignore[arg-type]
    except ValueError as e:
        raise invalid_input("query", own["query"], f"Not valid JSON: {e}") from None
    return {**own, **common}


def _prometheus(rule: Mapping[str, Any]) -> dict[str, Any]:
    threshold = number(rule, "threshold", mandatory=True)
    query = text(rule, "query", mandatory=True)
    if not query.strip():  # type: ignore[union-attr]
        raise invalid_input("query", query, "A PromQL expression is needed")
    return {"comparison_operator": choice(rule, "comparison_operator", COMPARISON_OPERATORS, "eq"),
            "threshold": threshold, "query": query}


_CONVERTERS: dict[str, Callable[[str], Any]] = {"integer": int, "float": float, "string": str,
                                                "boolean": lambda v: boolean({"v": v}, "v", False)}


def _event_query_item(item: Any) -> dict[str, Any]:
    item = as_object(item, "query")
    check_known(item, ("field", "op", "value", "type"), "data.event_rule.query")
    field = text(item, "field", mandatory=True)
    value = text(item, "value", mandatory=True)
    op = item.get("op") or "eq"
    kind = text(item, "type", default="")
    if not _EVENT_FIELD.match(field):  # type: ignore[arg-type]
        raise InvalidAlarm(f"Query value or traits invalid: does not match regular expression "
                           f"{_EVENT_FIELD.pattern} for dictionary value @ data['field']")
    if op not in COMPARISON_OPERATORS:
        raise InvalidAlarm(f"Query value or traits invalid: value must be one of {sorted(COMPARISON_OPERATORS)} "
                           "for dictionary value @ data['op']")
    if kind not in EVENT_QUERY_TYPES:
        raise InvalidAlarm(f"The data type {kind} is not supported. The supported data type list is: "
                           f"{list(EVENT_QUERY_TYPES[1:])}")
    if kind:
        try:
            _CONVERTERS[kind](value)  # type: ignore[arg-type]
        except (ValueError, InvalidAlarm):
            raise InvalidAlarm(f"Unable to convert the value {value} to the expected data type {kind}.") from None
    out = {"field": field, "op": op, "value": value}
    return {**out, "type": kind} if "type" in item else out


def _event(rule: Mapping[str, Any]) -> dict[str, Any]:
    query = rule.get("query")
    if query is not None and not isinstance(query, list):
        raise invalid_input("query", query, f"Value not a valid list: {query}")
    return {"event_type": text(rule, "event_type") or "*", "query": [_event_query_item(q) for q in query or ()]}


def _invalid_composite(rule: Any) -> InvalidAlarm:
    return InvalidAlarm(f"Invalid input composite rule: {rule}, it should be a dict with an \"and\" or \"or\" "
                        "as key, and the value of dict should be a list of basic threshold rules or sub composite "
                        "rules, can be nested.")


def _composite(rule: Any, depth: int = 0) -> dict[str, Any]:
    """An and/or tree whose leaves are threshold rules, each with its ``type``."""
    if not isinstance(rule, Mapping):
        raise _invalid_composite(rule)
    if depth > MAX_COMPOSITE_DEPTH:
        raise InvalidAlarm(f"composite_rule: nested deeper than {MAX_COMPOSITE_DEPTH} levels")
    if len(rule) == 1 and "type" not in rule:
        (key, members), = rule.items()
        if key not in ("and", "or"):
            raise InvalidAlarm('Threshold rules should be combined with "and" or "or"')
        if not isinstance(members, list):
            raise _invalid_composite(rule)
        if not members:
            raise InvalidAlarm(f'composite_rule: "{key}" needs at least one rule')
        return {key: [_composite(m, depth + 1) for m in members]}
    kind = rule.get("type")
    if not kind:
        raise InvalidAlarm("type must be set in every rule")
    if kind not in THRESHOLD_TYPES:
        raise InvalidAlarm(f"Unsupported sub-rule type :{kind} in composite rule, should be one of: "
                           f"{sorted(THRESHOLD_TYPES)}")
    leaf = {k: v for k, v in rule.items() if k != "type"}
    return {**normalize_rule(kind, leaf, f"data.composite_rule.{kind}"), "type": kind}


_NORMALIZERS: dict[str, tuple[Callable[[Mapping[str, Any]], dict[str, Any]], tuple[str, ...]]] = {
    "gnocchi_resources_threshold": (_resources_threshold, ("metric", "resource_id", "resource_type",
                                                           *_GNOCCHI_COMMON)),
    "gnocchi_aggregation_by_metrics_threshold": (_aggregation_by_metrics, ("metrics", *_GNOCCHI_COMMON)),
    "gnocchi_aggregation_by_resources_threshold": (_aggregation_by_resources, ("metric", "query", "resource_type",
                                                                               *_GNOCCHI_COMMON)),
    "prometheus": (_prometheus, ("comparison_operator", "threshold", "query")),
    "event": (_event, ("event_type", "query")),
}


def normalize_rule(kind: str, rule: Any, where: str | None = None) -> dict[str, Any]:
    """The stored form of a ``<kind>_rule`` (``kind`` already checked to be one of :data:`RULE_TYPES`)."""
    if kind == "composite":
        return _composite(rule)
    normalize, known = _NORMALIZERS[kind]
    rule = as_object(rule, f"{kind}_rule")
    check_known(rule, known, where or f"data.{kind}_rule")
    return normalize(rule)


def default_description(kind: str, rule: Mapping[str, Any]) -> str:
    """What Aodh says about an alarm that has no description."""
    if kind == "event":
        return f"Alarm when {rule['event_type']} event occurred."
    return f"{kind} alarm rule"


def leaves(kind: str, rule: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Every threshold rule of an alarm as (type, rule): the rule itself, or a composite's leaves."""
    if kind != "composite":
        return [(kind, dict(rule))]
    if "type" in rule:
        return [(rule["type"], {k: v for k, v in rule.items() if k != "type"})]
    return [leaf for member in next(iter(rule.values())) for leaf in leaves("composite", member)]
