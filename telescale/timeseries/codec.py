"""Compressed binary formats for splits and raw tails (the only module that imports zstandard).

Split format, version 1: ``b"\\x01" + zstd(payload)``. The payload holds the bucket grid once and then
every method column of that (granularity, split key):

* timestamps: a bitmap of occupied slots on the regular grid ``key + i * granularity`` (a few bytes
  once compressed), or plain int64 deltas when a timestamp is off the grid;
* each column: a NaN bitmap when it has holes, then its valid values as one of
  - ``DERIVED``: ``mean`` rebuilt as ``sum / count`` (aggregation defines mean that way, exactly);
  - ``DECIMAL``: values that are ``k / 10**d`` exactly are stored as zigzag deltas of ``k`` in the
    fewest bytes, byte-shuffled; the few values that are not (float sums) go to an exception list;
  - ``FLOAT``: IEEE bits XORed with the previous value, byte-shuffled.

Everything is lossless: decode(encode(x)) is bit-identical, NaN positions included.
"""

from __future__ import annotations

import struct

import numpy as np
import zstandard

SPLIT_VERSION = 1
RAW_VERSION = 1
ZSTD_LEVEL = 9
MAX_DECIMALS = 6
# Decimal mode is kept while at most this share of the values must be stored as exceptions.
MAX_EXCEPTION_SHARE = 0.25

K_FLOAT = 0
K_DECIMAL = 1
K_DERIVED_MEAN = 2

TS_GRID = 0
TS_DELTA = 1

_compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL)
_decompressor = zstandard.ZstdDecompressor()


class CodecError(ValueError):
    """Corrupt or unknown encoded data."""


# --- byte helpers ---------------------------------------------------------------------------------

def _shuffle(arr: np.ndarray, width: int) -> bytes:
    """Transpose the low ``width`` bytes of each little-endian 8-byte item into byte planes."""
    b = np.ascontiguousarray(arr.astype("<u8", copy=False)).view(np.uint8).reshape(-1, 8)
    return np.ascontiguousarray(b[:, :width].T).tobytes()


def _unshuffle(buf: memoryview, n: int, width: int) -> np.ndarray:
    planes = np.frombuffer(buf, dtype=np.uint8, count=n * width).reshape(width, n)
    out = np.zeros((n, 8), dtype=np.uint8)
    out[:, :width] = planes.T
    return out.view("<u8").reshape(n)


def _zigzag(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.int64, copy=False)
    return ((x << 1) ^ (x >> 63)).view(np.uint64)


def _unzigzag(z: np.ndarray) -> np.ndarray:
    z = z.astype(np.uint64, copy=False)
    return ((z >> np.uint64(1)).view(np.int64)) ^ -((z & np.uint64(1)).view(np.int64))


def _width(z: np.ndarray) -> int:
    if z.size == 0:
        return 0
    m = int(z.max())
    return max(1, (m.bit_length() + 7) // 8)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.buf = memoryview(data)
        self.pos = 0

    def take(self, n: int) -> memoryview:
        if self.pos + n > len(self.buf):
            raise CodecError("Unable to unpack, invalid data")
        out = self.buf[self.pos:self.pos + n]
        self.pos += n
        return out

    def unpack(self, fmt: str) -> tuple:
        size = struct.calcsize(fmt)
        return struct.unpack(fmt, self.take(size))


# --- value columns ---------------------------------------------------------------------------------

def _encode_float(vals: np.ndarray) -> bytes:
    bits = vals.view(np.uint64)
    prev = np.empty_like(bits)
    if bits.size:
        prev[0] = 0
        prev[1:] = bits[:-1]
    return _shuffle(bits ^ prev, 8)


def _decode_float(r: _Reader, n: int) -> np.ndarray:
    x = _unshuffle(r.take(n * 8), n, 8)
    return np.bitwise_xor.accumulate(x).view(np.float64) if n else np.empty(0)


def _best_decimal(vals: np.ndarray) -> tuple[int, np.ndarray, np.ndarray] | None:
    """Smallest d whose ``k / 10**d`` rebuilds (nearly) all values; returns (d, k, exception mask)."""
    if vals.size == 0 or not np.all(np.isfinite(vals)):
        return None
    bits = vals.view(np.uint64)
    best: tuple[int, np.ndarray, np.ndarray] | None = None
    best_exc = vals.size + 1
    with np.errstate(over="ignore", invalid="ignore"):
        for d in range(MAX_DECIMALS + 1):
            scale = 10.0 ** d
            k = np.rint(vals * scale)
            if not np.all(np.abs(k) < 2.0 ** 53):
                break
            exc = (k / scale).view(np.uint64) != bits
            n_exc = int(exc.sum())
            if n_exc < best_exc:
                best, best_exc = (d, k.astype(np.int64), exc), n_exc
            if n_exc == 0:
                break
    if best is None or best_exc > MAX_EXCEPTION_SHARE * vals.size:
        return None
    return best


def _encode_decimal(d: int, k: np.ndarray, exc: np.ndarray, vals: np.ndarray) -> bytes:
    delta = np.diff(k, prepend=np.int64(0))
    z = _zigzag(delta)
    w = _width(z)
    exc_idx = np.flatnonzero(exc).astype("<u4")
    return b"".join((
        struct.pack("<bBI", d, w, exc_idx.size),
        _shuffle(z, w),
        exc_idx.tobytes(),
        vals[exc_idx].astype("<f8").tobytes(),
    ))


def _decode_decimal(r: _Reader, n: int) -> np.ndarray:
    d, w, n_exc = r.unpack("<bBI")
    z = _unshuffle(r.take(n * w), n, w) if w else np.zeros(n, dtype=np.uint64)
    k = np.cumsum(_unzigzag(z))
    out = k.astype(np.float64) / (10.0 ** d)
    if n_exc:
        idx = np.frombuffer(r.take(4 * n_exc), dtype="<u4")
        out[idx] = np.frombuffer(r.take(8 * n_exc), dtype="<f8")
    return out


def _mask_bytes(valid: np.ndarray) -> bytes:
    return np.packbits(valid).tobytes()


# --- splits ---------------------------------------------------------------------------------------

def encode_block(
    granularity: int, key: int, timestamps: np.ndarray, columns: dict[str, np.ndarray]
) -> bytes:
    """Encode one (granularity, split key) with all its method columns."""
    ts = np.asarray(timestamps, dtype=np.int64)
    n = ts.size
    parts: list[bytes] = [struct.pack("<I", n)]
    slots = (ts - key) // granularity if n else ts
    on_grid = n == 0 or (
        bool(np.all((ts - key) % granularity == 0)) and slots[0] >= 0 and slots[-1] < 2 ** 31
    )
    if on_grid:
        n_slots = int(slots[-1]) + 1 if n else 0
        bitmap = np.zeros(n_slots, dtype=bool)
        bitmap[slots] = True
        parts.append(struct.pack("<BI", TS_GRID, n_slots))
        parts.append(np.packbits(bitmap).tobytes())
    else:
        parts.append(struct.pack("<BI", TS_DELTA, 0))
        parts.append(_shuffle(_zigzag(np.diff(ts, prepend=np.int64(key))), 8))

    names = sorted(columns)
    parts.append(struct.pack("<H", len(names)))
    derive_mean = False
    if "mean" in columns and "sum" in columns and "count" in columns:
        mean, s, c = (np.asarray(columns[m], dtype=np.float64) for m in ("mean", "sum", "count"))
        with np.errstate(divide="ignore", invalid="ignore"):
            rebuilt = s / c
        derive_mean = bool(np.array_equal(np.isnan(mean), np.isnan(rebuilt))) and bool(
            np.array_equal(mean[~np.isnan(mean)].view(np.uint64),
                           rebuilt[~np.isnan(rebuilt)].view(np.uint64))
        )
    for name in names:
        col = np.asarray(columns[name], dtype=np.float64)
        if col.shape != ts.shape:
            raise ValueError(f"column {name!r} is not aligned with timestamps")
        raw_name = name.encode()
        parts.append(struct.pack("<B", len(raw_name)) + raw_name)
        if name == "mean" and derive_mean:
            parts.append(struct.pack("<BB", K_DERIVED_MEAN, 0))
            continue
        valid = ~np.isnan(col)
        vals = col[valid]
        dec = _best_decimal(vals)
        kind = K_FLOAT if dec is None else K_DECIMAL
        if valid.all():
            parts.append(struct.pack("<BB", kind, 0))
        else:
            parts.append(struct.pack("<BB", kind, 1))
            parts.append(_mask_bytes(valid))
        if dec is None:
            parts.append(_encode_float(vals))
        else:
            parts.append(_encode_decimal(*dec, vals))
    return bytes([SPLIT_VERSION]) + _compressor.compress(b"".join(parts))


def decode_block(data: bytes, granularity: int, key: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Inverse of :func:`encode_block`."""
    if not data:
        raise CodecError("Unable to unpack, invalid data")
    if data[0] != SPLIT_VERSION:
        raise CodecError(f"Unknown split format version {data[0]}")
    try:
        payload = _decompressor.decompress(data[1:])
    except zstandard.ZstdError as e:
        raise CodecError("Unable to unpack, invalid data") from e
    r = _Reader(payload)
    (n,) = r.unpack("<I")
    mode, n_slots = r.unpack("<BI")
    if mode == TS_GRID:
        bitmap = np.unpackbits(np.frombuffer(r.take((n_slots + 7) // 8), dtype=np.uint8))[:n_slots]
        ts = key + np.flatnonzero(bitmap).astype(np.int64) * granularity
        if ts.size != n:
            raise CodecError("Unable to unpack, invalid data")
    elif mode == TS_DELTA:
        ts = key + np.cumsum(_unzigzag(_unshuffle(r.take(n * 8), n, 8)))
    else:
        raise CodecError("Unable to unpack, invalid data")
    (n_cols,) = r.unpack("<H")
    columns: dict[str, np.ndarray] = {}
    derived: list[str] = []
    for _ in range(n_cols):
        (name_len,) = r.unpack("<B")
        name = bytes(r.take(name_len)).decode()
        kind, has_mask = r.unpack("<BB")
        if kind == K_DERIVED_MEAN:
            derived.append(name)
            continue
        if has_mask:
            valid = np.unpackbits(np.frombuffer(r.take((n + 7) // 8), dtype=np.uint8))[:n].astype(bool)
        else:
            valid = np.ones(n, dtype=bool)
        n_valid = int(valid.sum())
        if kind == K_FLOAT:
            vals = _decode_float(r, n_valid)
        elif kind == K_DECIMAL:
            vals = _decode_decimal(r, n_valid)
        else:
            raise CodecError(f"Unknown column encoding {kind}")
        col = np.full(n, np.nan)
        col[valid] = vals
        columns[name] = col
    for name in derived:
        with np.errstate(divide="ignore", invalid="ignore"):
            columns[name] = columns["sum"] / columns["count"]
    return ts.astype(np.int64), columns


# --- raw tails ------------------------------------------------------------------------------------

def encode_raw(timestamps: np.ndarray, values: np.ndarray) -> bytes:
    """Raw tail: zigzag timestamp deltas + decimal/float values, byte-shuffled, zstd."""
    ts = np.asarray(timestamps, dtype=np.int64)
    vals = np.asarray(values, dtype=np.float64)
    z = _zigzag(np.diff(ts, prepend=np.int64(0)))
    w = _width(z)
    valid = ~np.isnan(vals)
    dec = _best_decimal(vals[valid])
    parts = [struct.pack("<IB", ts.size, w), _shuffle(z, w)]
    parts.append(struct.pack("<B", 0 if valid.all() else 1))
    if not valid.all():
        parts.append(_mask_bytes(valid))
    if dec is None:
        parts.append(struct.pack("<B", K_FLOAT))
        parts.append(_encode_float(vals[valid]))
    else:
        parts.append(struct.pack("<B", K_DECIMAL))
        parts.append(_encode_decimal(*dec, vals[valid]))
    return bytes([RAW_VERSION]) + _compressor.compress(b"".join(parts))


def decode_raw(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    if data[0] != RAW_VERSION:
        raise CodecError(f"Unknown raw format version {data[0]}")
    try:
        r = _Reader(_decompressor.decompress(data[1:]))
    except zstandard.ZstdError as e:
        raise CodecError("Unable to unpack, invalid data") from e
    n, w = r.unpack("<IB")
    z = _unshuffle(r.take(n * w), n, w) if w else np.zeros(n, dtype=np.uint64)
    ts = np.cumsum(_unzigzag(z)).astype(np.int64)
    (has_mask,) = r.unpack("<B")
    if has_mask:
        valid = np.unpackbits(np.frombuffer(r.take((n + 7) // 8), dtype=np.uint8))[:n].astype(bool)
    else:
        valid = np.ones(n, dtype=bool)
    (kind,) = r.unpack("<B")
    n_valid = int(valid.sum())
    vals = _decode_float(r, n_valid) if kind == K_FLOAT else _decode_decimal(r, n_valid)
    out = np.full(n, np.nan)
    out[valid] = vals
    return ts, out


# --- benchmark helper ---------------------------------------------------------------------------

def bench_bytes_per_point(values_kind: str = "gauge") -> float:
    """Encoded bytes per stored point of one realistic full split (3600 buckets at 60 s).

    A stored point is one non-NaN value of one method column (Gnocchi's unit: it stores one series
    per method). The split carries the default methods (mean min max sum std count) aggregated from
    raw points every 10 s. ``values_kind``: ``gauge`` (round(50 + 20 sin(t/600) + N(0,1), 1)),
    ``random`` (uniform floats) or ``constant``.
    """
    from telescale.timeseries.aggregation import aggregate_series
    from telescale.timeseries.policy import DEFAULT_AGGREGATION_METHODS

    granularity = 60 * 1_000_000_000
    buckets = 3600
    rng = np.random.default_rng(42)
    n = buckets * 6
    ts = np.arange(n, dtype=np.int64) * 10 * 1_000_000_000
    t_s = ts / 1e9
    if values_kind == "gauge":
        vals = np.round(50 + 20 * np.sin(t_s / 600) + rng.normal(0, 1, n), 1)
    elif values_kind == "random":
        vals = rng.random(n)
    elif values_kind == "constant":
        vals = np.full(n, 42.0)
    else:
        raise ValueError(f"unknown values_kind {values_kind!r}")
    keys, columns = aggregate_series(ts, vals, granularity, DEFAULT_AGGREGATION_METHODS)
    data = encode_block(granularity, 0, keys, columns)
    points = sum(int(np.count_nonzero(~np.isnan(c))) for c in columns.values())
    return len(data) / points
