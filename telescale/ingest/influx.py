"""InfluxDB line protocol, named as Gnocchi names it: ``measurement.field@tag=value,…`` on the resource
given by one tag (``host`` unless the request names another).

A line is ``measurement[,tag=value…] field=value[,field=value…] [timestamp]``.  Lines without escapes or
quoted strings (nearly all of them) are cut with ``str.split``; the others go through a small tokenizer.
Each distinct ``measurement,tags`` prefix is named once per request; values and timestamps are
converted by numpy in one call each.  String fields are skipped, as Gnocchi skips them; booleans are
stored as 1 and 0, integers (``12i``) and unsigned integers (``12u``) as floats.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

#: Nanoseconds per unit of the ``precision`` parameter.
PRECISIONS = {"ns": 1, "n": 1, "u": 1_000, "us": 1_000, "ms": 1_000_000, "s": 1_000_000_000,
              "m": 60_000_000_000, "h": 3_600_000_000_000}
DEFAULT_TAG = "host"
_BOOLEANS = {"t": 1.0, "T": 1.0, "true": 1.0, "True": 1.0, "TRUE": 1.0,
             "f": 0.0, "F": 0.0, "false": 0.0, "False": 0.0, "FALSE": 0.0}
_CREATE = re.compile(r'\s*create\s+database\s+("(?:[^"\\]|\\.)+"|[A-Za-z_][A-Za-z0-9_]*)\s*;?\s*', re.IGNORECASE)


class LineError(ValueError):
    """A line that cannot be read: ``reason`` as Gnocchi words it, ``detail`` the part at fault."""

    def __init__(self, reason: str, detail: str, hint: str | None = None) -> None:
        super().__init__(reason)
        self.reason, self.detail, self.hint = reason, detail, hint


@dataclass(frozen=True)
class Points:
    """Every point of a request: its series (resource id, metric name) and arrays of the points."""

    series: list[tuple[str, str]]
    index: np.ndarray  # int64 per point: position in series
    timestamps: np.ndarray  # int64 ns
    values: np.ndarray  # float64


def create_database(query: str) -> str | None:
    """The database a ``CREATE DATABASE`` statement names; None for any other query."""
    match = _CREATE.fullmatch(query)
    if match is None:
        return None
    name = match.group(1)
    return re.sub(r"\\(.)", r"\1", name[1:-1]) if name.startswith('"') else name


def parse(body: bytes, tag: str, precision: str, now_ns: int) -> Points:
    """The points of a line-protocol body; :class:`LineError` names the first line that is wrong."""
    scale = PRECISIONS[precision]
    try:
        text = body.decode()
    except UnicodeDecodeError as e:
        line = body[:e.start].count(b"\n") + 1
        raise _unparsable(line, "not UTF-8") from None
    named: dict[str, tuple[str, str]] = {}  # "measurement,tags" → (resource id, "measurement." suffix)
    positions: dict[tuple[str, str], int] = {}
    index: list[int] = []
    raw_values: list[str] = []
    raw_ts: list[str] = []
    for number, line in enumerate(text.split("\n"), 1):
        line = line.strip("\r")
        if not line or line.startswith("#"):
            continue
        head, fields, stamp = _split(line, number)
        resource, suffix = named.get(head) or named.setdefault(head, _name(head, tag, number))
        measurement, _, tags = suffix.partition("@")
        for key, value in fields:
            if value.startswith('"'):
                continue  # string field: not a measure (as Gnocchi)
            metric = (measurement + "." + key + ("@" + tags if tags else "")).replace("/", "_")
            index.append(positions.setdefault((resource, metric), len(positions)))
            raw_values.append(value)
            raw_ts.append(stamp)
    values = _values(raw_values, index, text)
    timestamps = _timestamps(raw_ts, scale, now_ns, text)
    return Points(list(positions), np.array(index, dtype=np.int64), timestamps, values)


def _split(line: str, number: int) -> tuple[str, list[tuple[str, str]], str]:
    """(measurement and tags as written, [(field, raw value)], raw timestamp or "")."""
    if "\\" in line or '"' in line:
        return _tokenize(line, number)
    parts = line.split(" ")
    if len(parts) not in (2, 3) or not parts[0] or not parts[1]:
        raise _unparsable(number, "expected `measurement[,tags] fields [timestamp]` separated by single spaces")
    fields = []
    for item in parts[1].split(","):
        key, eq, value = item.partition("=")
        if not eq or not key or not value:
            raise _unparsable(number, f"field {item!r} is not key=value")
        fields.append((key, value))
    return parts[0], fields, parts[2] if len(parts) == 3 else ""


def _name(head: str, tag: str, number: int) -> tuple[str, str]:
    """(resource id, ``measurement@k=v,…``) of a ``measurement,tags`` prefix (escapes already resolved)."""
    measurement, *items = _unescaped_split(head, ",")
    if not measurement:
        raise _unparsable(number, "no measurement")
    tags: dict[str, str] = {}
    for item in items:
        key, eq, value = _unescaped_partition(item, "=")
        if not eq or not key or not value:
            raise _unparsable(number, f"tag {item!r} is not key=value")
        tags[_unescape(key)] = _unescape(value)
    resource = tags.pop(tag, None)
    if resource is None:
        raise LineError(f"Unable to find key `{tag}' in tags", "key", f"line {number} has no tag {tag!r}")
    suffix = ",".join(f"{k}={tags[k]}" for k in sorted(tags))
    return resource, _unescape(measurement) + ("@" + suffix if suffix else "")


def _tokenize(line: str, number: int) -> tuple[str, list[tuple[str, str]], str]:
    """The slow path: escaped characters (``\\ ``, ``\\,``, ``\\=``) and quoted string fields."""
    head_end = _find_unescaped(line, " ", 0)
    if head_end <= 0:
        raise _unparsable(number, "no field set")
    head = line[:head_end]
    fields: list[tuple[str, str]] = []
    i = head_end + 1
    while True:
        eq = _find_unescaped(line, "=", i)
        if eq < 0:
            raise _unparsable(number, "field without =")
        key = _unescape(line[i:eq])
        j = eq + 1
        if j < len(line) and line[j] == '"':
            j += 1
            while j < len(line) and line[j] != '"':
                j += 2 if line[j] == "\\" else 1
            if j >= len(line):
                raise _unparsable(number, "unterminated string field")
            j += 1
        else:
            while j < len(line) and line[j] not in ", ":
                j += 1
        if not key or j == eq + 1:
            raise _unparsable(number, "empty field key or value")
        fields.append((key, line[eq + 1:j]))
        if j >= len(line):
            return head, fields, ""
        if line[j] == " ":
            return head, fields, line[j + 1:]
        i = j + 1


def _find_unescaped(text: str, char: str, start: int) -> int:
    i = start
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == char:
            return i
        i += 1
    return -1


def _unescaped_split(text: str, char: str) -> list[str]:
    if "\\" not in text:
        return text.split(char)
    out, start = [], 0
    while (at := _find_unescaped(text, char, start)) >= 0:
        out.append(text[start:at])
        start = at + 1
    return [*out, text[start:]]


def _unescaped_partition(text: str, char: str) -> tuple[str, str, str]:
    at = _find_unescaped(text, char, 0)
    return (text, "", "") if at < 0 else (text[:at], char, text[at + 1:])


def _unescape(text: str) -> str:
    return re.sub(r"\\([ ,=\\\"])", r"\1", text) if "\\" in text else text


def _values(raw: list[str], index: list[int], text: str) -> np.ndarray:
    """Floats, integers (``12i``), unsigned (``12u``) and booleans in one numpy conversion."""
    cleaned = [v[:-1] if v[-1] in "iu" else str(_BOOLEANS.get(v, v)) for v in raw]
    try:
        values = np.array(cleaned, dtype=np.float64) if cleaned else np.empty(0, np.float64)
    except ValueError:
        bad = next(v for v, c in zip(raw, cleaned, strict=True) if not _is_number(c))
        raise _unparsable(_line_of(text, bad), f"field value {bad!r} is not a number, integer, boolean or string") \
            from None
    if not np.isfinite(values).all():
        bad = raw[int(np.argmin(np.isfinite(values)))]
        raise _unparsable(_line_of(text, bad), f"field value {bad!r}: NaN and infinite values are not accepted")
    return values


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _line_of(text: str, token: str) -> int:
    """The number of the first line holding ``token`` (errors only)."""
    for number, line in enumerate(text.split("\n"), 1):
        if token in line:
            return number
    return 0


def _timestamps(raw: list[str], scale: int, now_ns: int, text: str) -> np.ndarray:
    if not raw:
        return np.empty(0, np.int64)
    missing = [not t for t in raw]
    try:
        stamps = np.array([t or "0" for t in raw], dtype=np.int64)
    except (ValueError, OverflowError):
        bad = next(t for t in raw if t and not t.lstrip("-").isdigit())
        raise _unparsable(_line_of(text, " " + bad), f"timestamp {bad[:40]!r} is not an integer") from None
    if scale != 1:
        limit = np.iinfo(np.int64).max // scale
        if (np.abs(stamps) > limit).any():
            raise LineError("Timestamp out of range", "line", f"a timestamp does not fit in int64 ns at x{scale}")
        stamps = stamps * scale
    if any(missing):
        stamps[np.array(missing)] = now_ns
    if (stamps < 0).any():
        raise LineError("Timestamp out of range", "line", "timestamps before 1970 are not accepted")
    return stamps


def _unparsable(number: int, why: str) -> LineError:
    return LineError(f"Unable to parse line {number}", "line", why)
