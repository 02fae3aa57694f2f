"""Measures bodies decoded straight into typed structs: no dict per point, and no second pass to check them.

msgspec decodes `[{"timestamp": t, "value": v}, …]` (alone, by metric id, or by resource and metric name)
into :class:`Measure` structs in C, checking the types as it goes, so turning them into arrays is one
column read per field (:func:`columns`).  Bodies of any other shape — and every bad body — go through
the generic JSON decoder instead (:func:`telescale.api.body.decode_json`), so the checks that follow
and their error messages are exactly those of a dict-decoded body: only the success path is fast.
"""

from __future__ import annotations

import operator
from typing import Any

import msgspec
from fastapi import Request

from telescale.api.body import decode_json, require_json_content
from telescale.api.deps import raw_body

__all__ = ["BY_METRIC", "BY_RESOURCE", "MEASURES", "Measure", "NamedMeasures", "columns", "measures_body"]


class Measure(msgspec.Struct, gc=False):
    """One measure as sent; unknown keys are ignored, as by the dict path."""

    timestamp: str | int | float
    value: float


class NamedMeasures(msgspec.Struct, gc=False, forbid_unknown_fields=True):
    """A resource's named metric in its long form: `{archive_policy_name?, unit?, measures}`."""

    measures: list[Measure]
    archive_policy_name: Any = msgspec.UNSET
    unit: Any = msgspec.UNSET

    def options(self) -> dict[str, Any]:
        """The options the client sent (a key sent as null is kept, as the dict path keeps it)."""
        return {k: v for k in ("archive_policy_name", "unit") if (v := getattr(self, k)) is not msgspec.UNSET}


MEASURES = msgspec.json.Decoder(list[Measure])
BY_METRIC = msgspec.json.Decoder(dict[str, list[Measure]])
BY_RESOURCE = msgspec.json.Decoder(dict[str, dict[str, list[Measure] | NamedMeasures]])

_TIMESTAMP = operator.attrgetter("timestamp")
_VALUE = operator.attrgetter("value")


def measures_body(request: Request, decoder: msgspec.json.Decoder) -> Any:
    """The request's JSON body, with its measures as :class:`Measure` when it has the shape ``decoder``
    expects, else as the generic decoder gives it (415 and 400 as for any JSON body)."""
    require_json_content(request)
    raw = raw_body(request)
    try:
        return decoder.decode(raw)
    except msgspec.MsgspecError:
        return decode_json(raw)


def columns(measures: list[Any]) -> tuple[list[Any], list[Any]] | None:
    """Timestamps and values of a decoded list of :class:`Measure`; None for a list of anything else."""
    if not measures or type(measures[0]) is not Measure:
        return None
    return list(map(_TIMESTAMP, measures)), list(map(_VALUE, measures))
