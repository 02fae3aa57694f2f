"""An alarm as the API takes it: Aodh's fields and defaults, Telescale's evaluation settings, validation.

:func:`build_alarm` turns the body of ``POST /v2/alarms`` or ``PUT /v2/alarms/{id}`` into the fields of the
stored alarm (``telescale.indexer`` ``Alarm``), exactly as Aodh 23 fills them in — ``description``
"<type> alarm rule", ``enabled`` true, actions ``[]`` without duplicates, ``repeat_actions`` false,
``time_constraints`` ``[]``, ``state`` "insufficient data", ``severity`` "low" — plus Telescale's
``evaluation_interval`` (seconds ≥ 1; null: the ``alarming.evaluation_interval`` setting), ``pending_for``
(seconds ≥ 0 a new state must hold before it is entered, Prometheus' ``for``) and ``missing_data``
(what an evaluation without data means). Pure: who the caller is comes in as a :class:`Caller`; what
needs the indexer (does a resource exist in the caller's scope) is checked by the API.

Like Aodh, a non-admin's alarm only reads its own project's data: a ``gnocchi_aggregation_by_resources``
query is wrapped in a filter on the project, and a ``prometheus`` rule remembers the project
(``scope_to_project``, not shown) so the evaluator can add its label.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import croniter

from telescale.alarming.rule_types import (
    MAX_NAME,
    RULE_TYPES,
    InvalidAlarm,
    as_object,
    boolean,
    check_known,
    choice,
    default_description,
    integer,
    invalid_input,
    leaves,
    missing,
    normalize_rule,
    number,
    text,
    text_list,
)

STATES = ("ok", "alarm", "insufficient data")
SEVERITIES = ("low", "moderate", "critical")
MISSING_DATA = ("insufficient_data", "ok", "alarm", "keep_state")
DEFAULT_STATE_REASON = "Not evaluated yet"
MANUAL_STATE_REASON = "Manually set via API"
ACTION_FIELDS = ("ok_actions", "alarm_actions", "insufficient_data_actions")
#: Action URL schemes a notifier delivers; ``log`` is for admins only, as in Aodh; ``telescale://scaling/<id>``
#: signals a scaling policy in process.
ACTION_SCHEMES = frozenset({"log", "http", "https", "trust+http", "trust+https", "telescale"})
ADMIN_ONLY_SCHEMES = frozenset({"log"})
#: Rule keys the API keeps for the evaluator but never shows.
HIDDEN_RULE_KEYS = frozenset({"scope_to_project"})
#: Fields a client may send; the read-only ones (ids, timestamps, state_reason) are accepted and ignored.
FIELDS = ("alarm_id", "name", "description", "enabled", *ACTION_FIELDS, "repeat_actions", "type",
          "time_constraints", "project_id", "user_id", "timestamp", "state", "state_timestamp", "state_reason",
          "severity", "evaluate_timestamp", "evaluation_interval", "pending_for", "missing_data",
          *(f"{kind}_rule" for kind in RULE_TYPES))


@dataclass(frozen=True)
class Caller:
    """Who is writing the alarm. ``limited``: not an admin, so confined to its own user and project."""

    user_id: str | None
    project_id: str | None
    limited: bool


def _not_authorized(aspect: str, value: Any) -> InvalidAlarm:
    return InvalidAlarm(f"Not Authorized to access {aspect} {value}", status=401)


def _time_constraint(raw: Any) -> dict[str, Any]:
    tc = as_object(raw, "time_constraints")
    check_known(tc, ("name", "description", "start", "duration", "timezone"), "data.time_constraints")
    name = text(tc, "name", mandatory=True)
    start = text(tc, "start", mandatory=True)
    try:
        croniter.croniter(start)
    except (ValueError, KeyError, TypeError) as e:  # croniter's errors are ValueErrors
        raise invalid_input("start", start, str(e)) from None
    duration = integer(tc, "duration", 0, mandatory=True)
    timezone = text(tc, "timezone", default="")
    if timezone:
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise InvalidAlarm(f"Timezone {timezone} is not valid") from None
    description = text(tc, "description") or f"Time constraint at {start} lasting for {duration} seconds"
    return {"name": name, "description": description, "start": start, "duration": duration, "timezone": timezone}


def _time_constraints(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    raw = body.get("time_constraints")
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise invalid_input("time_constraints", raw, f"Value not a valid list: {raw}")
    constraints = [_time_constraint(tc) for tc in raw]
    names = [tc["name"] for tc in constraints]
    if len(names) != len(set(names)):
        raise InvalidAlarm("Time constraint names must be unique for a given alarm.")
    return constraints


def _actions(body: Mapping[str, Any], field: str, caller: Caller) -> list[str]:
    """The actions of one state, duplicates dropped (first kept), each a URL a notifier delivers."""
    actions = list(dict.fromkeys(text_list(body, field)))
    for action in actions:
        try:
            url = urlsplit(action)
            url.port  # noqa: B018 — raises ValueError on a bad port
        except ValueError:
            raise InvalidAlarm(f"Unable to parse action {action}") from None
        if url.scheme not in ACTION_SCHEMES:
            raise InvalidAlarm(f"Unsupported action {action}")
        if caller.limited and url.scheme in ADMIN_ONLY_SCHEMES:
            raise InvalidAlarm(f"You are not authorized to create action: {action}", status=401)
        if url.scheme.startswith("trust+") and "@" in url.netloc:
            raise InvalidAlarm("trust URL cannot contain a trust ID.")
    return actions


def _owner(body: Mapping[str, Any], caller: Caller, previous: Mapping[str, Any] | None) -> tuple[Any, Any]:
    """(user_id, project_id): a limited caller owns what it writes and may not name anyone else (Aodh's
    401); an admin may name any owner, else keeps the previous one, else is the owner."""
    owner = []
    for aspect, own in (("user", caller.user_id), ("project", caller.project_id)):
        field = f"{aspect}_id"
        requested = text(body, field, max_length=MAX_NAME)
        if caller.limited:
            if requested is not None and requested != own and previous is None:
                raise _not_authorized(aspect, requested)
            owner.append(own)
        elif requested is not None:
            owner.append(requested)
        else:
            owner.append(previous[field] if previous is not None else own)
    return owner[0], owner[1]


def data_scope(caller: Caller, project_id: str | None) -> str | None:
    """The project whose data the alarm may read (Aodh's ``get_auth_project``): the caller's when limited;
    for an admin writing another project's alarm, that project; else unrestricted (None)."""
    if caller.limited:
        return caller.project_id
    return project_id if project_id != caller.project_id else None


def project_filter(project_id: str) -> dict[str, Any]:
    """The resources a project may aggregate: those it created, and those of the project that a service
    (Ceilometer) created — Gnocchi's ``creator`` or ``resource_owner``."""
    return {"or": [{"=": {"created_by_project_id": project_id}}, {"=": {"project_id": project_id}}]}


def _scoped(kind: str, rule: dict[str, Any], project_id: str) -> dict[str, Any]:
    if kind == "gnocchi_aggregation_by_resources_threshold":
        query = json.loads(rule["query"])
        scope = project_filter(project_id)
        if not (isinstance(query, dict) and query.get("and", [None])[0] == scope):  # not wrapped twice on PUT
            rule = {**rule, "query": json.dumps({"and": [scope, query]})}
    elif kind in ("prometheus", "gnocchi_resources_threshold", "gnocchi_aggregation_by_metrics_threshold"):
        # The evaluator reads within this project: a resource or metric that appears later in another
        # project under the same id never feeds this alarm.
        rule = {**rule, "scope_to_project": project_id}
    return rule


def _scope_rule(kind: str, rule: dict[str, Any], project_id: str) -> dict[str, Any]:
    if kind != "composite":
        return _scoped(kind, rule, project_id)
    if "type" in rule:
        leaf = {k: v for k, v in rule.items() if k != "type"}
        return {**_scoped(rule["type"], leaf, project_id), "type": rule["type"]}
    ((op, members),) = rule.items()
    return {op: [_scope_rule("composite", m, project_id) for m in members]}


def _rule(body: Mapping[str, Any], kind: str) -> dict[str, Any]:
    """The one ``<type>_rule`` of the alarm; another rule beside it is an error, as in Aodh."""
    if body.get(f"{kind}_rule") is None:
        raise InvalidAlarm(f"{kind}_rule must be set for {kind} type alarm")
    present = [k for k in RULE_TYPES if body.get(f"{k}_rule") is not None]
    if len(present) > 1:
        raise InvalidAlarm(f"{present[0]}_rule and {present[1]}_rule cannot be set at the same time")
    return normalize_rule(kind, body[f"{kind}_rule"])


def build_alarm(body: Any, caller: Caller, previous: Mapping[str, Any] | None = None, *,
                prometheus_enabled: bool = True) -> dict[str, Any]:
    """The stored fields of the alarm in ``body`` (a POST, or a PUT replacing ``previous``, the stored
    alarm's fields). Raises :class:`InvalidAlarm` with Aodh's message and status."""
    if not isinstance(body, Mapping):
        raise invalid_input("data", body, "Value should be an object")
    check_known(body, FIELDS, "data")
    name = text(body, "name", mandatory=True, max_length=MAX_NAME)
    if body.get("type") is None:
        raise missing("type")
    kind = choice(body, "type", RULE_TYPES)
    rule = _rule(body, kind)
    if not prometheus_enabled and any(k == "prometheus" for k, _ in leaves(kind, rule)):
        raise InvalidAlarm("prometheus rules need a Prometheus to query: this server sets no "
                           "alarming.prometheus_url")
    user_id, project_id = _owner(body, caller, previous)
    scope = data_scope(caller, project_id)
    if scope is not None:
        rule = _scope_rule(kind, rule, scope)
    fields: dict[str, Any] = {
        "name": name,
        "description": text(body, "description") or default_description(kind, rule),
        "enabled": boolean(body, "enabled", True),
        **{field: _actions(body, field, caller) for field in ACTION_FIELDS},
        "repeat_actions": boolean(body, "repeat_actions", False),
        "type": kind,
        "time_constraints": _time_constraints(body),
        "user_id": user_id,
        "project_id": project_id,
        "state": choice(body, "state", STATES, "insufficient data"),
        "severity": choice(body, "severity", SEVERITIES, "low"),
        "rule": rule,
        "evaluation_interval": number(body, "evaluation_interval", minimum=1),
        "pending_for": number(body, "pending_for", minimum=0, default=0.0),
        "missing_data": choice(body, "missing_data", MISSING_DATA, "insufficient_data"),
    }
    return fields


def trust_action(fields: Mapping[str, Any]) -> tuple[str, str] | None:
    """(field, action) of the first action needing a Keystone trust (``trust+http(s)://``), or None."""
    for field in ACTION_FIELDS:
        for action in fields.get(field) or ():
            if action.startswith("trust+"):
                return field, action
    return None


def uses_trust(fields: Mapping[str, Any]) -> bool:
    """Whether any action needs a Keystone trust (``trust+http(s)://``)."""
    return trust_action(fields) is not None


def public_rule(kind: str, rule: Mapping[str, Any]) -> Any:
    """The rule as the API shows it: without what only the evaluator reads."""
    if kind != "composite":
        return {k: v for k, v in rule.items() if k not in HIDDEN_RULE_KEYS}
    if "type" in rule:
        return {k: v for k, v in rule.items() if k not in HIDDEN_RULE_KEYS}
    ((op, members),) = rule.items()
    return {op: [public_rule("composite", m) for m in members]}


def resource_checks(kind: str, rule: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(rule type, resource type, resource id) of every gnocchi_resources_threshold in the alarm, so
    the API can check each resource is one the alarm's project may read."""
    return [(k, r["resource_type"], r["resource_id"]) for k, r in leaves(kind, rule)
            if k == "gnocchi_resources_threshold"]


def metric_ids(kind: str, rule: Mapping[str, Any]) -> list[str]:
    """The metric ids of every gnocchi_aggregation_by_metrics_threshold in the alarm."""
    return [m for k, r in leaves(kind, rule) if k == "gnocchi_aggregation_by_metrics_threshold"
            for m in r["metrics"]]
