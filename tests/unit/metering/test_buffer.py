"""The agent's disk buffer: order, crash mid-write, restart, bounded size."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from telescale.metering.buffer import DiskBuffer


def _drain(buffer: DiskBuffer) -> list[bytes]:
    out = []
    while (record := buffer.peek()) is not None:
        out.append(record.payload)
        buffer.ack(record)
    return out


def test_records_come_back_in_order_across_segments_and_are_deleted_once_acknowledged(tmp_path: Path) -> None:
    buffer = DiskBuffer(tmp_path, max_bytes=10_000_000, segment_bytes=100)
    payloads = [f"batch {i}".encode() * 5 for i in range(20)]
    for p in payloads:
        buffer.append(p, samples=3)
    assert len(buffer.segments()) > 3
    assert buffer.pending_samples() == 60
    assert _drain(buffer) == payloads
    buffer.append(b"next", 1)
    assert _drain(buffer) == [b"next"]
    assert len(buffer.segments()) <= 1 and not buffer


def test_a_restart_resumes_after_the_last_acknowledged_record(tmp_path: Path) -> None:
    buffer = DiskBuffer(tmp_path, max_bytes=10_000_000)
    for i in range(5):
        buffer.append(b"%d" % i, 1)
    for _ in range(2):
        buffer.ack(buffer.peek())  # type: ignore[arg-type]
    again = DiskBuffer(tmp_path, max_bytes=10_000_000)
    again.append(b"5", 1)
    assert _drain(again) == [b"2", b"3", b"4", b"5"]


@pytest.mark.parametrize("cut", [1, 5, 12, 15])  # inside the header, at its end, inside the payload
def test_a_crash_mid_write_leaves_a_readable_prefix(tmp_path: Path, cut: int, caplog: pytest.LogCaptureFixture) -> None:
    buffer = DiskBuffer(tmp_path, max_bytes=10_000_000)
    buffer.append(b"first", 1)
    buffer.append(b"second", 1)
    segment = tmp_path / f"{buffer.segments()[-1]:016d}.seg"
    whole = segment.read_bytes()
    segment.write_bytes(whole + whole[-(12 + 6):][:cut])  # a third record torn after `cut` bytes
    restarted = DiskBuffer(tmp_path, max_bytes=10_000_000)
    restarted.append(b"after", 1)
    with caplog.at_level(logging.WARNING):
        assert _drain(restarted) == [b"first", b"second", b"after"]
    assert "torn or corrupt" in caplog.text


def test_a_corrupt_record_is_not_replayed(tmp_path: Path) -> None:
    buffer = DiskBuffer(tmp_path, max_bytes=10_000_000)
    buffer.append(b"good", 1)
    buffer.append(b"flipped", 1)
    segment = tmp_path / f"{buffer.segments()[-1]:016d}.seg"
    data = bytearray(segment.read_bytes())
    data[-1] ^= 0xFF
    segment.write_bytes(bytes(data))
    assert _drain(DiskBuffer(tmp_path, max_bytes=10_000_000)) == [b"good"]


def test_over_its_size_the_oldest_segment_is_dropped_with_a_warning_counting_samples(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    buffer = DiskBuffer(tmp_path, max_bytes=1000, segment_bytes=200)
    with caplog.at_level(logging.WARNING):
        for i in range(30):
            buffer.append(b"%03d" % i + b"x" * 90, samples=7)
    assert buffer.size() <= 1000 + 200
    kept = _drain(buffer)
    assert buffer.dropped_samples == 7 * (30 - len(kept)) > 0
    assert [int(p[:3]) for p in kept] == list(range(30 - len(kept), 30))  # the newest are kept, in order
    assert "samples lost by policy" in caplog.text
