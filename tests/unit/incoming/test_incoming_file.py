import os
import uuid

import numpy as np
import pytest

from telescale.incoming.file import FileIncoming


def _arr(*ts):
    return np.array(ts, dtype=np.int64), np.array(ts, dtype=np.float64) / 10


def _files(root):
    out = []
    for d, _, names in os.walk(root):
        out += [os.path.join(d, n) for n in names if n != "sacks"]
    return out


def test_round_trip_concatenates_in_arrival_order(tmp_path):
    inc = FileIncoming(tmp_path, sacks=4)
    m = uuid.uuid4()
    inc.add_measures({m: _arr(5, 3)})
    inc.add_measures({m: _arr(1)})
    sack = inc.sack_for(m)
    assert inc.sacks_with_work() == [sack]
    batch = inc.read_sack(sack)
    ts, vals = batch.measures[m]
    assert ts.tolist() == [5, 3, 1]
    assert vals.tolist() == [0.5, 0.3, 0.1]
    assert ts.dtype == np.int64 and vals.dtype == np.float64
    assert batch.measure_count == 3
    inc.ack(batch.handle)
    assert inc.sacks_with_work() == []
    assert not inc.read_sack(sack)


def test_sharding_and_one_file_per_sack_per_call(tmp_path):
    inc = FileIncoming(tmp_path, sacks=8)
    metrics = [uuid.uuid4() for _ in range(200)]
    inc.add_measures({m: _arr(i, i + 1) for i, m in enumerate(metrics)})
    sacks = {m.int % 8 for m in metrics}
    assert set(inc.sacks_with_work()) == sacks
    assert len(_files(tmp_path)) == len(sacks)
    for s in sacks:
        got = inc.read_sack(s).measures
        assert set(got) == {m for m in metrics if m.int % 8 == s}
        for m, (ts, _) in got.items():
            i = metrics.index(m)
            assert ts.tolist() == [i, i + 1]


def test_ack_deletes_only_what_was_read(tmp_path):
    inc = FileIncoming(tmp_path, sacks=1)
    m = uuid.uuid4()
    inc.add_measures({m: _arr(1, 2)})
    batch = inc.read_sack(0)
    inc.add_measures({m: _arr(3)})  # arrives after the read
    inc.ack(batch.handle)
    again = inc.read_sack(0)
    assert again.measures[m][0].tolist() == [3]
    inc.ack(batch.handle)  # acking twice is harmless
    assert inc.read_sack(0).measures[m][0].tolist() == [3]


def test_backlog_and_pending(tmp_path):
    inc = FileIncoming(tmp_path, sacks=3)
    a, b, c = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    assert inc.backlog() == (0, 0)
    inc.add_measures({a: _arr(1, 2, 3), b: _arr(1)})
    inc.add_measures({a: _arr(4), c: (np.array([], np.int64), np.array([], np.float64))})
    assert inc.backlog() == (2, 5)
    assert inc.backlog_per_metric() == {a: 4, b: 1}
    assert inc.pending_for_metric(a) and inc.pending_for_metric(b)
    assert not inc.pending_for_metric(c)
    for s in inc.sacks_with_work():
        inc.ack(inc.read_sack(s).handle)
    assert inc.backlog() == (0, 0)
    assert not inc.pending_for_metric(a)


def test_temp_files_are_invisible(tmp_path):
    inc = FileIncoming(tmp_path, sacks=1)
    d = os.path.join(tmp_path, "incoming1-0")
    with open(os.path.join(d, ".tmp-partial"), "wb") as f:
        f.write(b"TSIN\x01")  # a writer died mid-write
    assert inc.sacks_with_work() == []
    assert inc.backlog() == (0, 0)
    assert not inc.read_sack(0)
    os.utime(os.path.join(d, ".tmp-partial"), (0, 0))
    assert inc.housekeeping(max_age=60) == 1


def test_failed_write_leaves_nothing(tmp_path):
    inc = FileIncoming(tmp_path, sacks=1)
    m = uuid.uuid4()
    with pytest.raises(ValueError):
        inc.add_measures({m: (np.array([1, 2]), np.array([1.0]))})
    assert _files(tmp_path) == []


def test_corrupt_file_is_moved_aside(tmp_path, caplog):
    inc = FileIncoming(tmp_path, sacks=1)
    m = uuid.uuid4()
    inc.add_measures({m: _arr(1)})
    with open(os.path.join(tmp_path, "incoming1-0", "0000-bad"), "wb") as f:
        f.write(b"garbage")
    batch = inc.read_sack(0)
    assert batch.measures[m][0].tolist() == [1]
    assert "Corrupt incoming file" in caplog.text
    inc.ack(batch.handle)
    assert inc.sacks_with_work() == []


def test_large_batch_is_exact(tmp_path):
    inc = FileIncoming(tmp_path, sacks=2)
    rng = np.random.default_rng(0)
    data = {uuid.uuid4(): (rng.integers(0, 10**18, 5000), rng.random(5000)) for _ in range(20)}
    inc.add_measures(data)
    got = {}
    for s in inc.sacks_with_work():
        got.update(inc.read_sack(s).measures)
    for m, (ts, vals) in data.items():
        np.testing.assert_array_equal(got[m][0], ts)
        np.testing.assert_array_equal(got[m][1], vals)


def test_changing_sack_count_refused_with_backlog(tmp_path):
    inc = FileIncoming(tmp_path, sacks=2)
    m = uuid.uuid4()
    inc.add_measures({m: _arr(1)})
    with pytest.raises(ValueError, match="unprocessed"):
        FileIncoming(tmp_path, sacks=4)
    inc.ack(inc.read_sack(inc.sack_for(m)).handle)
    assert FileIncoming(tmp_path, sacks=4).sacks == 4


def test_backlog_reads_each_file_once_and_follows_acks_of_other_processes(tmp_path, monkeypatch):
    """/v1/status is polled while a backlog drains: a pending file's header is read once per process, and a
    file acked by another process (metricd) leaves the count at once."""
    api, metricd = FileIncoming(tmp_path, sacks=2), FileIncoming(tmp_path, sacks=2)
    m1, m2 = uuid.uuid4(), uuid.uuid4()
    api.add_measures({m1: _arr(1, 2), m2: _arr(3)})
    assert api.backlog() == (2, 3)
    opened = []
    real_open = open
    monkeypatch.setattr("builtins.open", lambda path, *a, **k: opened.append(path) or real_open(path, *a, **k))
    assert api.backlog() == (2, 3) and api.backlog_per_metric() == {m1: 2, m2: 1}
    assert opened == []
    api.add_measures({m1: _arr(4)})
    assert api.backlog() == (2, 4) and len(opened) == 1
    for sack in metricd.sacks_with_work():
        metricd.ack(metricd.read_sack(sack).handle)
    assert api.backlog() == (0, 0) and not api.pending_for_metric(m1)


def test_one_file_per_commit_linked_into_each_sack(tmp_path):
    """A commit creates one file (one inode, one data fsync) however many sacks it feeds; each sack reads its
    own section and acks its own link, and the data goes with the last link."""
    inc = FileIncoming(tmp_path, sacks=4)
    metrics = [uuid.uuid4() for _ in range(40)]
    inc.add_measures({m: _arr(i) for i, m in enumerate(metrics)})
    sacks = sorted({inc.sack_for(m) for m in metrics})
    assert len(sacks) > 1
    paths = _files(tmp_path)
    assert len(paths) == len(sacks) and len({os.stat(p).st_ino for p in paths}) == 1
    assert len({os.path.basename(p) for p in paths}) == 1
    first, rest = sacks[0], sacks[1:]
    batch = inc.read_sack(first)
    assert set(batch.measures) == {m for m in metrics if inc.sack_for(m) == first}
    inc.ack(batch.handle)
    assert inc.sacks_with_work() == rest
    assert inc.backlog() == (len(metrics) - len(batch.measures), len(metrics) - len(batch.measures))
    for s in rest:
        got = inc.read_sack(s).measures
        assert all(got[m][0].tolist() == [metrics.index(m)] for m in got)
        inc.ack(inc.read_sack(s).handle)
    assert _files(tmp_path) == []


def test_files_of_the_previous_format_are_still_processed(tmp_path):
    from telescale.incoming.base import Columns
    from telescale.incoming.file import _write_all, encode_section

    inc = FileIncoming(tmp_path, sacks=2)
    m = uuid.uuid4()
    sack = inc.sack_for(m)
    fd = os.open(os.path.join(tmp_path, f"incoming2-{sack}", "00000000000000000001-old"), os.O_WRONLY | os.O_CREAT)
    _write_all(fd, encode_section(Columns.from_mapping({m: _arr(7, 8)})))
    os.close(fd)
    inc.add_measures({m: _arr(9)})
    assert inc.backlog() == (1, 3)
    assert inc.read_sack(sack).measures[m][0].tolist() == [7, 8, 9]


def test_a_linked_file_without_a_section_for_its_sack_is_moved_aside(tmp_path, caplog):
    inc = FileIncoming(tmp_path, sacks=2)
    m = uuid.uuid4()
    sack = inc.sack_for(m)
    inc.add_measures({m: _arr(1)})
    (path,) = _files(tmp_path)
    os.link(path, os.path.join(tmp_path, f"incoming2-{1 - sack}", os.path.basename(path)))
    assert inc.backlog() == (1, 1)
    assert not inc.read_sack(1 - sack).measures
    assert "no section for sack" in caplog.text
    assert inc.read_sack(sack).measures[m][0].tolist() == [1]
