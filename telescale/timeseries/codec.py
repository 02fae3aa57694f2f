"""Compressed binary formats for splits and raw tails (the only module that imports zstandard).

Split format, version 1: ``b"\\x01" + zstd(payload)``. The payload holds the bucket grid once and then
every method column of that (granularity, split key):

* timestamps: a bitmap of occupied slots on the regular grid ``key + i * granularity`` (a few bytes
  once compressed), or plain int64 deltas when a timestamp is off the grid;
* each column: a NaN bitmap when it has holes, then its valid values as one of
  - ``DERIVED_MEAN``: ``mean`` rebuilt as ``sum / count`` (aggregation defines mean that way, so this
    is bit-exact; checked at encode time, otherwise the column is stored);
  - ``DECIMAL``: integers ``k`` with ``k / 10**d`` closest to each value (zigzag deltas, fewest bytes,
    byte-shuffled) plus the int64 difference of IEEE bit patterns to the real value, usually 0 or a
    few ulps (float sums of decimals) -- lossless for any input, cheap for decimal-looking data;
  - ``SQRT_RATIO``: ``std`` of decimal data is ``sqrt(N / (10**2d * n * (n - 1)))`` with ``N`` an
    integer and ``n`` the count column: store ``N`` and the ulp correction;
  - ``FLOAT``: IEEE bits XORed with the previous value, byte-shuffled (random data).
  The cheapest encoding is picked per column from a quick size estimate. A split is rewritten whole on
  every processing pass, so the search is remembered (:class:`Choice`, passed back in as ``hints``):
  the next encoding of the same column tries the remembered encoding alone, and searches again only
  when it got clearly worse or the column has grown several times over since.

Everything else is lossless: decode(encode(x)) is bit-identical, NaN positions included. NaN means
"no value", so a NaN's payload and sign are not kept.
"""

from __future__ import annotations

import struct
import threading
from collections.abc import Collection
from typing import NamedTuple

import numpy as np
import zstandard

SPLIT_VERSION = 1
RAW_VERSION = 1
ZSTD_LEVEL = 3  # higher levels gain < 1 % on splits and cost 50 % more time
MAX_DECIMALS = 6

K_FLOAT = 0
K_DECIMAL = 1
K_DERIVED_MEAN = 2
K_SQRT_RATIO = 3

TS_GRID = 0
TS_DELTA = 1

_REVISIT_GROWTH = 8  # search again once a column holds this many times the values it was searched with
_COST_SLACK = 1.25  # ... or once the remembered encoding costs this much more per value than it did


class Choice(NamedTuple):
    """The encoding a search picked for one column, remembered for the next encoding of that column."""

    kind: int  # K_FLOAT, K_DECIMAL or K_SQRT_RATIO
    d: int  # decimals (K_DECIMAL), half the decimals of the squares (K_SQRT_RATIO)
    n: int  # values the search saw
    cost: float  # estimated bytes per value then


Hints = dict[str, Choice]


def _reusable(hint: Choice | None, kind: int, n: int) -> bool:
    return hint is not None and hint.kind == kind and n < _REVISIT_GROWTH * hint.n


def _still_good(hint: Choice, cost: int, n: int) -> bool:
    return cost <= _COST_SLACK * hint.cost * n + 64

class _Contexts(threading.local):
    """One zstd compression and decompression context per thread: a context used by two threads at once
    corrupts its output (reads of many series run in parallel threads)."""

    def __init__(self) -> None:
        self.compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL)
        self.decompressor = zstandard.ZstdDecompressor()


_zstd = _Contexts()


class CodecError(ValueError):
    """Corrupt or unknown encoded data."""


# --- byte helpers ---------------------------------------------------------------------------------

def _shuffle(arr: np.ndarray, width: int) -> bytes:
    """Transpose the low ``width`` bytes of each little-endian 8-byte item into byte planes."""
    b = np.ascontiguousarray(arr.astype("<u8", copy=False)).view(np.uint8).reshape(-1, 8)
    return np.ascontiguousarray(b[:, :width].T).tobytes()


def _unshuffle(buf: memoryview | np.ndarray, n: int, width: int) -> np.ndarray:
    planes = np.frombuffer(buf, dtype=np.uint8, count=n * width).reshape(width, n)
    if width == 8:
        return np.ascontiguousarray(planes.T).view("<u8").reshape(n)
    out = np.zeros((n, 8), dtype=np.uint8)
    out[:, :width] = planes.T
    return out.view("<u8").reshape(n)


def _zigzag(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.int64, copy=False)
    return ((x << 1) ^ (x >> 63)).view(np.uint64)


_ONE = np.uint64(1)


def _unzigzag(z: np.ndarray) -> np.ndarray:
    """Inverse of :func:`_zigzag`, in unsigned arithmetic (negation wraps: 0 or all ones)."""
    z = z.astype(np.uint64, copy=False)
    return ((z >> _ONE) ^ -(z & _ONE)).view(np.int64)


def _delta(x: np.ndarray, first: int = 0) -> np.ndarray:
    """``np.diff(x, prepend=first)`` for a 1-d int64 array, without diff's concatenate/broadcast."""
    x = x.astype(np.int64, copy=False)
    out = np.empty_like(x)
    if x.size:
        np.subtract(x[:1], np.int64(first), out=out[:1])  # array op: wraps silently like np.diff
        np.subtract(x[1:], x[:-1], out=out[1:])
    return out


def _width(z: np.ndarray) -> int:
    if z.size == 0:
        return 0
    m = int(z.max())
    return max(1, (m.bit_length() + 7) // 8)


class _Reader:
    """Cursor over a decompressed payload. Decoding a split is ~70 small reads, so each one stays a
    couple of bytecodes: header fields with precompiled ``Struct.unpack_from``, arrays straight from the
    buffer with ``np.frombuffer(offset=)`` (no intermediate slices)."""

    __slots__ = ("buf", "pos", "size")

    def __init__(self, data: bytes) -> None:
        self.buf = data
        self.pos = 0
        self.size = len(data)

    def _advance(self, n: int) -> int:
        pos = self.pos
        if n < 0 or pos + n > self.size:
            raise CodecError("Unable to unpack, invalid data")
        self.pos = pos + n
        return pos

    def take(self, n: int) -> memoryview:
        pos = self._advance(n)
        return memoryview(self.buf)[pos:pos + n]

    def skip(self, n: int) -> None:
        self._advance(n)

    def u8(self) -> int:
        pos = self.pos
        if pos >= self.size:
            raise CodecError("Unable to unpack, invalid data")
        self.pos = pos + 1
        return self.buf[pos]

    def i8(self) -> int:
        b = self.u8()
        return b - 256 if b > 127 else b

    def bytes_array(self, n: int) -> np.ndarray:
        """The next ``n`` bytes as a read-only uint8 array (a view of the payload)."""
        return np.frombuffer(self.buf, dtype=np.uint8, count=n, offset=self._advance(n))

    def unpack(self, fmt: str) -> tuple:
        st = _STRUCTS.get(fmt) or _STRUCTS.setdefault(fmt, struct.Struct(fmt))
        return st.unpack_from(self.buf, self._advance(st.size))


_STRUCTS: dict[str, struct.Struct] = {}  # compiled formats (immutable once built; a cache, not state)


# --- value columns ---------------------------------------------------------------------------------

def _xor_delta(vals: np.ndarray) -> np.ndarray:
    """IEEE bits of each value XORed with the previous one's (the first with 0)."""
    bits = vals.view(np.uint64)
    out = np.empty_like(bits)
    if bits.size:
        out[0] = bits[0]
        np.bitwise_xor(bits[1:], bits[:-1], out=out[1:])
    return out


def _encode_float(vals: np.ndarray) -> bytes:
    return _shuffle(_xor_delta(vals), 8)


def _decode_float(r: _Reader, n: int) -> np.ndarray:
    x = _unshuffle(r.bytes_array(n * 8), n, 8)
    return np.bitwise_xor.accumulate(x).view(np.float64) if n else np.empty(0)


_BYTE_LIMITS = np.array([1 << (8 * i) for i in range(1, 8)], dtype=np.uint64)


def _cost(z: np.ndarray) -> int:
    """Rough encoded size: bytes needed by each unsigned value (zstd squeezes the leading zeros).

    Counts, for each byte boundary below the largest value, the values at or above it (equal to
    ``searchsorted(_BYTE_LIMITS, z, side="right").sum() + z.size``, in fewer passes for small values).
    """
    if z.size == 0:
        return 0
    top = z.max()
    total = z.size
    for limit in _BYTE_LIMITS:
        if top < limit:
            break
        total += int(np.count_nonzero(z >= limit))
    return total


def _ulp_correction(vals: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Exact int64 difference of IEEE bit patterns (wraps modulo 2**64, so always invertible;
    numpy does not check overflow of integer array arithmetic)."""
    return vals.view(np.int64) - pred.view(np.int64)


def _apply_correction(pred: np.ndarray, corr: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return (pred.view(np.int64) + corr).view(np.float64)


def _decimal_candidate(vals: np.ndarray, d: int) -> tuple[np.ndarray, np.ndarray]:
    """Integers k with ``k / 10**d`` near each value, and the ulp correction that makes it exact.

    Callers hold ``np.errstate(over="ignore", invalid="ignore")`` (``vals * scale`` may overflow).
    """
    scale = 10.0 ** d
    k = np.rint(vals * scale)
    mag = np.abs(k)
    if k.size and not mag.max() < 2.0 ** 53:  # max is NaN when any is: take the slow path then
        k[~(mag < 2.0 ** 53)] = 0.0  # inf, nan, huge: predicted 0, corrected exactly
    k_int = k.astype(np.int64)
    # the prediction comes from the integers, as in decoding (k itself may hold -0.0)
    return k_int, _ulp_correction(vals, k_int.astype(np.float64) / scale)


def _zigzagged(k: np.ndarray, corr: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """What is stored of a (k, correction) candidate, zigzagged (k as deltas), and its estimated size."""
    zk, zc = _zigzag(_delta(k)), _zigzag(corr)
    return zk, zc, _cost(zk) + _cost(zc)


def _best_decimal(
    vals: np.ndarray, hint: Choice | None = None
) -> tuple[tuple[int, np.ndarray, np.ndarray] | None, Choice]:
    """Scale d minimising the size of (k deltas, ulp corrections) -- as ``(d, *what _zigzagged stores)`` --
    or None when raw floats are smaller; with the choice made. A usable ``hint`` (a previous choice for this
    column) is tried alone first."""
    n = vals.size
    if n == 0:
        return None, Choice(K_FLOAT, 0, 0, 0.0)
    if _reusable(hint, K_FLOAT, n):
        assert hint is not None
        return None, hint
    with np.errstate(over="ignore", invalid="ignore"):
        if hint is not None and _reusable(hint, K_DECIMAL, n):
            zk, zc, cost = _zigzagged(*_decimal_candidate(vals, hint.d))
            if _still_good(hint, cost, n):
                return (hint.d, zk, zc), hint
        best_cost = _cost(_xor_delta(vals)) + n  # float mode, with a little bias towards it
        best = None
        previous = None
        for d in range(MAX_DECIMALS + 1):
            zk, zc, cost = _zigzagged(*_decimal_candidate(vals, d))
            if cost < best_cost:
                best, best_cost = (d, zk, zc), cost
            if not zc.any() or (best is not None and previous is not None and cost > previous):
                break  # exact, or past the sweet spot: more decimals only grow k
            previous = cost
    if best is None:
        return None, Choice(K_FLOAT, 0, n, best_cost / n)
    return best, Choice(K_DECIMAL, best[0], n, best_cost / n)


def _pack_zigzagged(z: np.ndarray) -> bytes:
    w = _width(z)
    return struct.pack("<B", w) + _shuffle(z, w)


def _unpack_ints(r: _Reader, n: int) -> np.ndarray:
    w = r.u8()
    z = _unshuffle(r.bytes_array(n * w), n, w) if w else np.zeros(n, dtype=np.uint64)
    return _unzigzag(z)


def _unpack_ints_or_none(r: _Reader, n: int) -> np.ndarray | None:
    """:func:`_unpack_ints`, but ``None`` for a run of zeros (width 0): the usual ulp correction, whose
    application can then be skipped."""
    w = r.u8()
    if not w:
        return None
    return _unzigzag(_unshuffle(r.bytes_array(n * w), n, w))


def _encode_decimal(d: int, zk: np.ndarray, zc: np.ndarray) -> bytes:
    """Scale, then the zigzagged deltas of k and the zigzagged corrections (as :func:`_zigzagged` gives them)."""
    return struct.pack("<b", d) + _pack_zigzagged(zk) + _pack_zigzagged(zc)


def _decode_decimal(r: _Reader, n: int) -> np.ndarray:
    d = r.i8()
    k = np.cumsum(_unpack_ints(r, n))
    corr = _unpack_ints_or_none(r, n)
    vals = k.astype(np.float64)
    vals /= 10.0 ** d
    return vals if corr is None else _apply_correction(vals, corr)


def _std_prediction_raw(n_int: np.ndarray, counts: np.ndarray, scale: float) -> np.ndarray:
    return np.sqrt(n_int.astype(np.float64) / (scale * counts * (counts - 1)))


def _std_prediction(n_int: np.ndarray, counts: np.ndarray, scale: float) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return _std_prediction_raw(n_int, counts, scale)


def _std_candidate(
    squares: np.ndarray, vals: np.ndarray, counts: np.ndarray, less_one: np.ndarray, d: int
) -> tuple[np.ndarray, np.ndarray]:
    """Integers N for scale ``10**2d`` and the ulp correction from their prediction (callers hold errstate)."""
    scale = 10.0 ** (2 * d)
    n_f = np.rint(squares * scale * counts * less_one)  # evaluated left to right
    mag = np.abs(n_f)
    if not mag.max() < 2.0 ** 53:
        n_f[~(mag < 2.0 ** 53)] = 0.0
    n_int = n_f.astype(np.int64)
    return n_int, _ulp_correction(vals, _std_prediction_raw(n_int, counts, scale))


def _best_std(
    vals: np.ndarray, counts: np.ndarray, hint: Choice | None = None
) -> tuple[tuple[int, np.ndarray, np.ndarray] | None, Choice | None]:
    """std of decimal data is sqrt(N / (10**2d * n * (n-1))) with N an integer: store N and the ulp
    correction from that prediction to the stored two-pass value (lossless whatever the data). None (and
    no choice) when another encoding should be searched; a usable ``hint`` is tried alone first."""
    n = vals.size
    if n == 0 or not np.all(np.isfinite(counts)) or not np.all(counts > 1):
        return None, None
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        less_one = counts - 1
        squares = vals * vals
        if hint is not None and _reusable(hint, K_SQRT_RATIO, n):
            zk, zc, cost = _zigzagged(*_std_candidate(squares, vals, counts, less_one, hint.d))
            if _still_good(hint, cost, n):
                return (hint.d, zk, zc), hint
        best_cost = _cost(_xor_delta(vals)) + n
        best = None
        previous = None
        for d in range(MAX_DECIMALS // 2 + 1):
            zk, zc, cost = _zigzagged(*_std_candidate(squares, vals, counts, less_one, d))
            if cost < best_cost:
                best, best_cost = (d, zk, zc), cost
            if best is not None and previous is not None and cost > previous:
                break
            previous = cost
    if best is None:
        return None, None
    return best, Choice(K_SQRT_RATIO, best[0], n, best_cost / n)


def _mask_bytes(valid: np.ndarray) -> bytes:
    return np.packbits(valid).tobytes()


# --- splits ---------------------------------------------------------------------------------------

def encode_block(
    granularity: int, key: int, timestamps: np.ndarray, columns: dict[str, np.ndarray], hints: Hints | None = None
) -> bytes:
    """Encode one (granularity, split key) with all its method columns. ``hints`` (in and out): the choices of
    the previous encoding of these columns, updated with this one's."""
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
        parts.append(_shuffle(_zigzag(_delta(ts, key)), 8))

    names = sorted(columns)
    cols = {name: np.asarray(columns[name], dtype=np.float64) for name in names}
    for name, col in cols.items():
        if col.shape != ts.shape:
            raise ValueError(f"column {name!r} is not aligned with timestamps")
    parts.append(struct.pack("<H", len(names)))
    for name in names:
        parts.append(_name(name))
        parts.append(_encode_column(name, cols, hints))
    return bytes([SPLIT_VERSION]) + _zstd.compressor.compress(b"".join(parts))


def _name(name: str) -> bytes:
    raw = name.encode()
    return struct.pack("<B", len(raw)) + raw


def _sources(name: str) -> tuple[str, str, str]:
    """(prefix, sum column, count column) for ``mean``/``std`` and their ``rate:`` twins."""
    prefix = name[: -len(name.split(":")[-1])]
    return prefix, prefix + "sum", prefix + "count"


def _derivable_mean(name: str, cols: dict[str, np.ndarray]) -> bool:
    _, s_name, c_name = _sources(name)
    if s_name not in cols or c_name not in cols:
        return False
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        rebuilt = cols[s_name] / cols[c_name]
    return bool(np.array_equal(cols[name].view(np.uint64), rebuilt.view(np.uint64)))


def _encode_column(name: str, cols: dict[str, np.ndarray], hints: Hints | None = None) -> bytes:
    col = cols[name]
    base = name.split(":")[-1]
    if base == "mean" and _derivable_mean(name, cols):
        _, s_name, c_name = _sources(name)
        return struct.pack("<BB", K_DERIVED_MEAN, 0) + _name(s_name) + _name(c_name)
    hint = hints.get(name) if hints is not None else None
    valid = ~np.isnan(col)
    all_valid = bool(valid.all())
    vals = col if all_valid else col[valid]
    mask = b"" if all_valid else _mask_bytes(valid)
    has_mask = 0 if all_valid else 1
    searched_other = hint is not None and hint.kind != K_SQRT_RATIO and vals.size < _REVISIT_GROWTH * hint.n
    if base == "std" and not searched_other:
        _, _, c_name = _sources(name)
        counts = cols.get(c_name)
        if counts is not None and c_name != name:
            best, choice = _best_std(vals, counts if all_valid else counts[valid], hint)
            if best is not None:
                if hints is not None and choice is not None:
                    hints[name] = choice
                return b"".join((struct.pack("<BB", K_SQRT_RATIO, has_mask), mask, _name(c_name),
                                 _encode_decimal(*best)))
    dec, choice = _best_decimal(vals, hint)
    if hints is not None:
        hints[name] = choice
    if dec is None:
        return struct.pack("<BB", K_FLOAT, has_mask) + mask + _encode_float(vals)
    return struct.pack("<BB", K_DECIMAL, has_mask) + mask + _encode_decimal(*dec)


def _read_name(r: _Reader) -> str:
    n = r.u8()
    pos = r.pos
    r.skip(n)
    return r.buf[pos:pos + n].decode()


def _skip_name(r: _Reader) -> None:
    r.skip(r.u8())


def _read_mask(r: _Reader, has_mask: int, n: int) -> np.ndarray | None:
    """Valid (non-NaN) slots of a column, or ``None`` when all are (no mask stored)."""
    if not has_mask:
        return None
    return np.unpackbits(r.bytes_array((n + 7) // 8), count=n).view(bool)





def _skip_ints(r: _Reader, n: int) -> None:
    """Step over one :func:`_pack_zigzagged` run of ``n`` values without decoding it."""
    r.skip(n * r.u8())


def _column_starts(r: _Reader, n: int, n_cols: int, methods: Collection[str]) -> list[int]:
    """Offsets of the columns ``methods`` need (each wanted one and those it is rebuilt from), found by
    stepping over columns' bytes without decoding any, and only as far as the last one needed."""
    need = set(methods)
    starts: dict[str, int] = {}  # every column passed so far (a dependency may come before its user)
    for _ in range(n_cols):
        if need.issubset(starts):
            break
        start = r.pos
        name = _read_name(r)
        kind = r.u8()
        has_mask = r.u8()
        starts[name] = start
        wanted = name in need
        if kind == K_DERIVED_MEAN:
            deps = (_read_name(r), _read_name(r))
            if wanted:
                need.update(deps)
            continue
        n_valid = n
        if has_mask:
            n_valid = int(np.bitwise_count(r.bytes_array((n + 7) // 8)).sum(dtype=np.int64))
        if kind == K_SQRT_RATIO:
            c_name = _read_name(r)
            if wanted:
                need.add(c_name)
            r.skip(1)
            _skip_ints(r, n_valid)
            _skip_ints(r, n_valid)
        elif kind == K_FLOAT:
            r.skip(n_valid * 8)
        elif kind == K_DECIMAL:
            r.skip(1)
            _skip_ints(r, n_valid)
            _skip_ints(r, n_valid)
        else:
            raise CodecError(f"Unknown column encoding {kind}")
    return sorted(starts[name] for name in need if name in starts)


def _place(n: int, valid: np.ndarray | None, vals: np.ndarray) -> np.ndarray:
    """A full column from its valid values (NaN elsewhere)."""
    if valid is None:
        if vals.size != n:
            raise CodecError("Unable to unpack, invalid data")
        return vals
    col = np.full(n, np.nan)
    col[valid] = vals
    return col


def decode_block(
    data: bytes, granularity: int, key: int, methods: Collection[str] | None = None
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Inverse of :func:`encode_block`.

    With ``methods``, only those columns (and the ones they are rebuilt from) are decoded; the others are
    stepped over, which saves most of the work when a read wants one method of many. The read path calls
    this once per split read, so it is written to make few Python-level calls per column.
    """
    if not data:
        raise CodecError("Unable to unpack, invalid data")
    if data[0] != SPLIT_VERSION:
        raise CodecError(f"Unknown split format version {data[0]}")
    try:
        payload = _zstd.decompressor.decompress(memoryview(data)[1:])
    except zstandard.ZstdError as e:
        raise CodecError("Unable to unpack, invalid data") from e
    r = _Reader(payload)
    (n,) = r.unpack("<I")
    mode, n_slots = r.unpack("<BI")
    if mode == TS_GRID:
        bitmap = np.unpackbits(r.bytes_array((n_slots + 7) // 8), count=n_slots)
        ts = np.flatnonzero(bitmap).astype(np.int64)
        ts *= granularity
        ts += key
        if ts.size != n:
            raise CodecError("Unable to unpack, invalid data")
    elif mode == TS_DELTA:
        ts = key + np.cumsum(_unzigzag(_unshuffle(r.bytes_array(n * 8), n, 8)))
    else:
        raise CodecError("Unable to unpack, invalid data")
    (n_cols,) = r.unpack("<H")
    columns: dict[str, np.ndarray] = {}
    later: list[tuple[str, tuple]] = []  # columns rebuilt from others, in dependency order
    starts = None if methods is None else _column_starts(r, n, n_cols, methods)
    for i in range(n_cols if starts is None else len(starts)):
        if starts is not None:
            r.pos = starts[i]
        name = _read_name(r)
        kind = r.u8()
        has_mask = r.u8()
        if kind == K_DERIVED_MEAN:
            later.append((name, ("mean", _read_name(r), _read_name(r))))
            continue
        valid = _read_mask(r, has_mask, n)
        n_valid = n if valid is None else int(np.count_nonzero(valid))
        if kind == K_SQRT_RATIO:
            c_name = _read_name(r)
            d = r.i8()
            n_int = np.cumsum(_unpack_ints(r, n_valid))
            corr = _unpack_ints(r, n_valid)
            later.append((name, ("std", c_name, d, n_int, corr, valid)))
            continue
        if kind == K_FLOAT:
            vals = _decode_float(r, n_valid)
        elif kind == K_DECIMAL:
            vals = _decode_decimal(r, n_valid)
        else:
            raise CodecError(f"Unknown column encoding {kind}")
        columns[name] = _place(n, valid, vals)
    for name, spec in sorted(later, key=lambda x: x[1][0] == "mean"):  # std before mean
        try:
            if spec[0] == "std":
                _, c_name, d, n_int, corr, valid = spec
                counts = columns[c_name] if valid is None else columns[c_name][valid]
                pred = _std_prediction(n_int, counts, 10.0 ** (2 * d))
                col = _place(n, valid, _apply_correction(pred, corr))
            else:
                with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                    col = columns[spec[1]] / columns[spec[2]]
        except KeyError as e:
            raise CodecError("Unable to unpack, invalid data") from e
        columns[name] = col
    return ts, columns


# --- raw tails ------------------------------------------------------------------------------------

def encode_raw(timestamps: np.ndarray, values: np.ndarray) -> bytes:
    """Raw tail: zigzag timestamp deltas + decimal/float values, byte-shuffled, zstd."""
    ts = np.asarray(timestamps, dtype=np.int64)
    vals = np.asarray(values, dtype=np.float64)
    z = _zigzag(_delta(ts))
    w = _width(z)
    valid = ~np.isnan(vals)
    dec, _ = _best_decimal(vals[valid])
    parts = [struct.pack("<IB", ts.size, w), _shuffle(z, w)]
    parts.append(struct.pack("<B", 0 if valid.all() else 1))
    if not valid.all():
        parts.append(_mask_bytes(valid))
    if dec is None:
        parts.append(struct.pack("<B", K_FLOAT))
        parts.append(_encode_float(vals[valid]))
    else:
        parts.append(struct.pack("<B", K_DECIMAL))
        parts.append(_encode_decimal(*dec))
    return bytes([RAW_VERSION]) + _zstd.compressor.compress(b"".join(parts))


def _raw_timestamps(data: bytes) -> tuple[_Reader, np.ndarray]:
    if data[0] != RAW_VERSION:
        raise CodecError(f"Unknown raw format version {data[0]}")
    try:
        r = _Reader(_zstd.decompressor.decompress(data[1:]))
    except zstandard.ZstdError as e:
        raise CodecError("Unable to unpack, invalid data") from e
    n, w = r.unpack("<IB")
    z = _unshuffle(r.take(n * w), n, w) if w else np.zeros(n, dtype=np.uint64)
    return r, np.cumsum(_unzigzag(z)).astype(np.int64)


def raw_last_timestamp(data: bytes) -> int | None:
    """The newest timestamp of an encoded raw tail, without decoding its values (the API's back-window check)."""
    ts = _raw_timestamps(data)[1]
    return int(ts[-1]) if ts.size else None


def decode_raw(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    r, ts = _raw_timestamps(data)
    n = ts.size
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
