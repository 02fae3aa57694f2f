"""The binary section format of incoming measures, shared by the drivers that store bytes (file, redis).

One section holds one sack's share of a write, column-wise (little endian)::

    magic "TSIN" | uint32 version (1) | uint64 n        16 bytes
    n x 16 bytes metric UUIDs                            header entries, in the order of the data
    n x uint64 point counts
    sum(counts) x int64 timestamps (ns), metric after metric
    sum(counts) x float64 values, same order

It is the file driver's version 1 file; keeping one format means one encoder, one decoder and one set of
corruption checks whatever the backing store. Decoding is a few ``np.frombuffer`` views: no copy, no loop
per point.
"""

from __future__ import annotations

import struct
import uuid

import numpy as np

from telescale.incoming.base import Columns, MeasuresArrays

__all__ = ["HEADER", "MAGIC", "VERSION", "CorruptIncomingFile", "decode_section", "encode_section", "join_runs",
           "parse_header"]

MAGIC = b"TSIN"
VERSION = 1  # one sack's section
HEADER = struct.Struct("<4sIQ")


class CorruptIncomingFile(ValueError):
    """Bytes that are not a complete section (a file or entry some other program wrote or truncated)."""


def encode_section(columns: Columns) -> list:
    """Buffers (for writev, or ``b"".join``) holding ``columns`` as one section."""
    counts = columns.counts.astype("<u8", copy=False)
    return [
        HEADER.pack(MAGIC, VERSION, len(columns.ids)),
        b"".join(mid.bytes for mid in columns.ids),
        counts.tobytes(),
        columns.timestamps.astype("<i8", copy=False),
        columns.values.astype("<f8", copy=False),
    ]


def parse_header(buf: memoryview | bytes | bytearray) -> tuple[list[bytes], np.ndarray, int]:
    """``(metric uuid bytes, int64 point counts, offset of the timestamps)`` of a section."""
    if len(buf) < HEADER.size:
        raise CorruptIncomingFile("short header")
    magic, version, n = HEADER.unpack_from(buf, 0)
    if magic != MAGIC or version != VERSION:
        raise CorruptIncomingFile(f"bad magic/version {magic!r}/{version}")
    end = HEADER.size + 24 * n
    if len(buf) < end:
        raise CorruptIncomingFile("truncated header")
    ids_off = HEADER.size
    ids = [bytes(buf[ids_off + 16 * i : ids_off + 16 * (i + 1)]) for i in range(n)]
    counts = np.frombuffer(buf, dtype="<u8", count=n, offset=ids_off + 16 * n).astype(np.int64)
    return ids, counts, end


def decode_section(buf: bytes | bytearray) -> list[tuple[bytes, np.ndarray, np.ndarray]]:
    """``[(metric uuid bytes, timestamps, values)]`` of one section, in its order (views into ``buf``)."""
    ids, counts, off = parse_header(buf)
    total = int(counts.sum())
    if len(buf) != off + 16 * total:
        raise CorruptIncomingFile(f"size {len(buf)} != expected {off + 16 * total}")
    ts = np.frombuffer(buf, dtype="<i8", count=total, offset=off)
    vals = np.frombuffer(buf, dtype="<f8", count=total, offset=off + 8 * total)
    bounds = np.concatenate(([0], np.cumsum(counts))).tolist()
    return [(mid, ts[bounds[i] : bounds[i + 1]], vals[bounds[i] : bounds[i + 1]]) for i, mid in enumerate(ids)]


def join_runs(parts: dict[bytes, list[MeasuresArrays]]) -> dict[uuid.UUID, MeasuresArrays]:
    """``{metric: (timestamps, values)}`` from each metric's runs (sections read in arrival order), concatenated
    in that order: what :attr:`SackBatch.measures` holds."""
    out: dict[uuid.UUID, MeasuresArrays] = {}
    for mid, runs in parts.items():
        if len(runs) == 1:
            out[uuid.UUID(bytes=mid)] = runs[0]
        else:
            out[uuid.UUID(bytes=mid)] = (np.concatenate([r[0] for r in runs]), np.concatenate([r[1] for r in runs]))
    return out
