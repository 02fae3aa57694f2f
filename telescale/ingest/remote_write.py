"""Prometheus remote_write 1.0: a snappy-compressed ``WriteRequest`` straight into arrays.

The body is split without a Python object per label or sample: upb cuts the request into series
(``WriteRequestFrames``); numpy walks the labels of every series in step (one pass per label position);
upb cuts what follows the labels into samples (``SeriesTail``); numpy reads every sample's value and
timestamp at once.  A series is named by its label bytes, so a series seen before costs one dict lookup.
Anything the fast path does not expect (labels after samples, exemplars, unknown fields) goes through
the plain upb decode instead, with the same result.

Stale markers (the NaN with bits ``0x7ff0000000000002`` that Prometheus sends when a series disappears)
are dropped: they mark an absence, not a value.
"""

from __future__ import annotations

from dataclasses import dataclass

import cramjam
import numpy as np
from google.protobuf.message import DecodeError

from telescale.ingest import remote_pb2
from telescale.ingest.names import labelled
from telescale.ingest.series import SeriesKey

STALE_NAN = 0x7FF0000000000002
_PAD = 16  # zero bytes after the buffer, so a varint read near its end never indexes past it
_LABEL_TAG = 0x0A  # field 1, length-delimited
_MS = 1_000_000
_MAX_MS = np.iinfo(np.int64).max // _MS


class RemoteWriteError(ValueError):
    """A body that is not a snappy-compressed remote_write WriteRequest; the message says what is wrong."""


@dataclass(frozen=True)
class Decoded:
    """Every series of a request: its label bytes (its identity), and every sample with its series index."""

    labels: list[bytes]  # one per series, the encoded Label fields
    series: np.ndarray  # int64, per sample: index into labels
    timestamps: np.ndarray  # int64 ns
    values: np.ndarray  # float64 (stale markers already dropped)
    stale: int  # stale markers dropped


class TooLarge(RemoteWriteError):
    """The body would decompress to more than the size allowed."""


def decompress(body: bytes, limit: int) -> bytes:
    """The snappy block-compressed ``body``, refused before decompressing when it would exceed ``limit``."""
    if not body:
        raise RemoteWriteError("empty body: expected a snappy-compressed remote_write WriteRequest")
    try:
        size = cramjam.snappy.decompress_raw_len(body)
        if size > limit:
            raise TooLarge(f"body decompresses to {size} bytes, more than the {limit} allowed (api.max_body_size)")
        return bytes(cramjam.snappy.decompress_raw(body))
    except cramjam.DecompressionError as e:
        raise RemoteWriteError(f"body is not snappy block-compressed ({e}); remote_write 1.0 sends "
                               "Content-Encoding: snappy with the block format, not the framed one") from None


def decode(raw: bytes) -> Decoded:
    """The series and samples of a decompressed WriteRequest."""
    try:
        frames = list(remote_pb2.WriteRequestFrames.FromString(raw).timeseries)
    except DecodeError as e:
        raise RemoteWriteError(f"body is not a protobuf WriteRequest: {e}") from None
    if not frames:
        return Decoded([], np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.float64), 0)
    fast = _decode_fast(frames)
    return fast if fast is not None else _decode_plain(raw)


def labels_of(key: bytes) -> list[tuple[str, str]]:
    """The (name, value) pairs of a series' label bytes (see :attr:`Decoded.labels`)."""
    try:
        return [(label.name, label.value) for label in remote_pb2.SeriesLabels.FromString(key).labels]
    except DecodeError as e:
        raise RemoteWriteError(f"series labels are not valid protobuf: {e}") from None


# -- fast path -------------------------------------------------------------------------------------


def _decode_fast(frames: list[bytes]) -> Decoded | None:
    flat = np.frombuffer(b"".join(frames) + bytes(_PAD), dtype=np.uint8)
    lengths = np.fromiter(map(len, frames), dtype=np.int64, count=len(frames))
    ends = np.cumsum(lengths)
    starts = ends - lengths
    label_ends = _walk_labels(flat, starts, ends)
    if label_ends is None:
        return None
    label_lengths = (label_ends - starts).tolist()
    keys = [f[:n] for f, n in zip(frames, label_lengths, strict=True)]
    tail = b"".join([memoryview(f)[n:] for f, n in zip(frames, label_lengths, strict=True)])
    tail_lengths = ends - label_ends
    try:
        parts = remote_pb2.SeriesTail.FromString(tail)
    except DecodeError as e:
        raise RemoteWriteError(f"body is not a protobuf WriteRequest: {e}") from None
    if parts.histograms:
        raise _histograms()
    if parts.labels or parts.exemplars:
        return None
    samples = list(parts.samples)
    sizes = np.fromiter(map(len, samples), dtype=np.int64, count=len(samples))
    field_ends = np.cumsum(1 + _varint_size(sizes) + sizes)
    tail_ends = np.cumsum(tail_lengths)
    if (field_ends[-1] if field_ends.size else 0) != len(tail):
        return None  # unknown fields among the samples
    per_series = np.searchsorted(field_ends, tail_ends, side="right")
    if not np.array_equal(np.concatenate(([0], field_ends))[per_series], tail_ends):
        return None  # a field straddles two series: not the encoding assumed here
    series = np.repeat(np.arange(len(frames)), np.diff(per_series, prepend=0))
    read = _samples(np.frombuffer(b"".join(samples) + bytes(_PAD), dtype=np.uint8), sizes)
    return None if read is None else _finish(keys, series, *read)


def _walk_labels(flat: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray | None:
    """Where each series' leading run of label fields ends (all series in step, one pass per label)."""
    pos = starts.copy()
    active = np.arange(starts.size)
    while active.size:
        p = pos[active]
        live = (p < ends[active]) & (flat[p] == _LABEL_TAG)
        active, p = active[live], p[live]
        if not active.size:
            break
        length, nbytes = _varints(flat, p + 1)
        nxt = p + 1 + nbytes + length.astype(np.int64)
        if (length > np.uint64(1 << 31)).any() or (nxt > ends[active]).any():
            raise RemoteWriteError("body is not a protobuf WriteRequest: a label runs past the end of its series")
        pos[active] = nxt
    return pos


def _samples(buf: np.ndarray, sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(timestamp ms, value bits) of every Sample message, laid end to end in ``buf`` with these sizes."""
    ends = np.cumsum(sizes)
    pos = ends - sizes
    ts = np.zeros(sizes.size, np.uint64)
    bits = np.zeros(sizes.size, np.uint64)
    active = np.arange(sizes.size)
    while active.size:
        p = pos[active]
        live = p < ends[active]
        active, p = active[live], p[live]
        if not active.size:
            break
        tag = buf[p]
        is_value, is_ts = tag == 0x09, tag == 0x10
        if not (is_value | is_ts).all():
            return None  # an unknown field: left to the plain path
        vp = p[is_value] + 1
        bits[active[is_value]] = buf[vp[:, None] + np.arange(8)].copy().view("<u8").ravel()
        value, nbytes = _varints(buf, p[is_ts] + 1)
        ts[active[is_ts]] = value
        nxt = p.copy()
        nxt[is_value] += 9
        nxt[is_ts] += 1 + nbytes
        if (nxt > ends[active]).any():
            raise RemoteWriteError("body is not a protobuf WriteRequest: a Sample field runs past its end")
        pos[active] = nxt
    return ts.view(np.int64), bits


def _varints(buf: np.ndarray, pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The varints starting at ``pos``: values (uint64) and byte counts."""
    value = np.zeros(pos.size, np.uint64)
    nbytes = np.zeros(pos.size, np.int64)
    live = np.arange(pos.size)
    for k in range(10):
        b = buf[pos[live] + k].astype(np.uint64)
        value[live] |= (b & np.uint64(0x7F)) << np.uint64(7 * k)
        nbytes[live] += 1
        live = live[(b & np.uint64(0x80)) != 0]
        if not live.size:
            return value, nbytes
    raise RemoteWriteError("body is not a protobuf WriteRequest: a varint is longer than 10 bytes")


def _varint_size(n: np.ndarray) -> np.ndarray:
    size = np.ones(n.size, np.int64)
    for shift in (7, 14, 21, 28, 35):
        size += n >= (1 << shift)
    return size


def _histograms() -> RemoteWriteError:
    return RemoteWriteError("native histograms are not supported: disable send_native_histograms in "
                            "Prometheus' remote_write section (classic histograms arrive as _bucket series)")


# -- plain path ------------------------------------------------------------------------------------


def _decode_plain(raw: bytes) -> Decoded:
    """The same result through upb's objects: for encodings the fast path does not expect."""
    try:
        request = remote_pb2.WriteRequest.FromString(raw)
    except DecodeError as e:
        raise RemoteWriteError(f"body is not a protobuf WriteRequest: {e}") from None
    keys, counts, ts, values = [], [], [], []
    for series in request.timeseries:
        if series.histograms:
            raise _histograms()
        keys.append(remote_pb2.SeriesLabels(labels=series.labels).SerializeToString())
        counts.append(len(series.samples))
        ts.extend(s.timestamp for s in series.samples)
        values.extend(s.value for s in series.samples)
    series_index = np.repeat(np.arange(len(keys)), counts)
    bits = np.array(values, dtype=np.float64).view(np.uint64)
    return _finish(keys, series_index, np.array(ts, dtype=np.int64), bits)


def _finish(keys: list[bytes], series: np.ndarray, ts_ms: np.ndarray, bits: np.ndarray) -> Decoded:
    """Stale markers out, milliseconds to nanoseconds (400 for a timestamp out of range)."""
    fresh = bits != np.uint64(STALE_NAN)
    stale = int(fresh.size - np.count_nonzero(fresh))
    if stale:
        series, ts_ms, bits = series[fresh], ts_ms[fresh], bits[fresh]
    bad = (ts_ms < 0) | (ts_ms > _MAX_MS)
    if bad.any():
        i = int(np.argmax(bad))
        raise RemoteWriteError(f"sample timestamp {int(ts_ms[i])} ms of series "
                               f"{describe(labels_of(keys[int(series[i])]))} is out of range")
    return Decoded(keys, series.astype(np.int64, copy=False), ts_ms * _MS, bits.view(np.float64), stale)


def describe(labels: list[tuple[str, str]]) -> str:
    """A series as Prometheus writes it, for error messages."""
    return "{" + ", ".join(f'{k}="{v}"' for k, v in labels) + "}"


# -- naming ----------------------------------------------------------------------------------------

RESOURCE_TYPE = "prometheus"
#: The attributes of Gnocchi's ``prometheus`` resource type (created on first write).
RESOURCE_ATTRIBUTES = {name: {"type": "string", "min_length": 1, "max_length": 512, "required": True}
                       for name in ("instance", "job")}
#: ``gnocchi``: the metric is ``__name__`` (Gnocchi's mapping; series differing only by other labels share
#: it, and the last one of a request wins). ``labels``: every other label is kept in the metric name.
MODES = ("gnocchi", "labels")
_RESOURCE_LABELS = ("__name__", "job", "instance")


def series_key(labels: list[tuple[str, str]], mode: str) -> SeriesKey:
    """A series' resource (``job@instance`` of type ``prometheus``) and metric name in ``mode``."""
    found = dict(labels)
    missing = [name for name in _RESOURCE_LABELS if not found.get(name)]
    if missing:
        raise RemoteWriteError(f"series {describe(labels)} has no {' or '.join(missing)} label: every series "
                               "needs __name__, job and instance (its resource is job@instance)")
    job, instance, name = found["job"], found["instance"], found["__name__"]
    if mode == "labels":
        name = labelled(name, [(k, v) for k, v in labels if k not in _RESOURCE_LABELS])
    return SeriesKey(RESOURCE_TYPE, f"{job}@{instance}", name, {"job": job, "instance": instance})



class SeriesNames:
    """Per process: a series' label bytes → its :class:`SeriesKey`, for each mode (labels are decoded once)."""

    def __init__(self, max_entries: int = 1_000_000) -> None:
        self.max_entries = max_entries
        self._by_mode: dict[str, dict[bytes, SeriesKey]] = {mode: {} for mode in MODES}

    def keys(self, labels: list[bytes], mode: str) -> list[SeriesKey]:
        known = self._by_mode[mode]
        get = known.get
        out = [get(b) for b in labels]
        if None in out:
            if len(known) > self.max_entries:
                known.clear()
            for i, key in enumerate(out):
                if key is None:
                    out[i] = known[labels[i]] = series_key(labels_of(labels[i]), mode)
        return out  # type: ignore[return-value]
