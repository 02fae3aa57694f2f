import os
import uuid

import pytest

from telescale.storage.file import FileStorage


@pytest.fixture(params=[True, False], ids=["fsync", "nofsync"])
def storage(tmp_path, request):
    return FileStorage(tmp_path / "s", fsync=request.param)


def test_raw_round_trip(storage):
    m = uuid.uuid4()
    assert storage.get_raw(m) is None
    storage.put_raw(m, b"abc")
    storage.put_raw(m, b"defg")
    assert storage.get_raw(m) == b"defg"
    storage.sync()
    assert os.path.exists(os.path.join(storage.root, str(m), "raw"))


def test_splits_round_trip(storage):
    m = uuid.uuid4()
    g = 60 * 10**9
    assert storage.list_split_keys(m, g) == []
    assert storage.get_splits(m, g, [1, 2]) == [None, None]
    storage.put_splits(m, g, {300: b"c", 100: b"a", 200: b"b"})
    storage.put_splits(m, 10**9, {5: b"x"})
    assert storage.list_split_keys(m, g) == [100, 200, 300]
    assert storage.list_split_keys(m, 10**9) == [5]
    assert storage.get_splits(m, g, [300, 999, 100]) == [b"c", None, b"a"]
    storage.delete_splits(m, g, [100, 999])
    assert storage.list_split_keys(m, g) == [200, 300]
    path = os.path.join(storage.root, str(m), str(g), "200")
    assert not os.path.exists(path)  # staged: visible to this object only until sync()
    storage.sync()
    assert os.path.exists(path)
    assert storage.list_split_keys(m, g) == [200, 300]
    assert sorted(os.listdir(os.path.dirname(path))) == ["200", "300"]


def test_writes_become_visible_to_others_on_sync(tmp_path):
    writer, reader = FileStorage(tmp_path), FileStorage(tmp_path)
    m = uuid.uuid4()
    writer.put_raw(m, b"v1")
    writer.sync()
    writer.put_raw(m, b"v2")
    writer.put_splits(m, 5, {10: b"s"})
    assert reader.get_raw(m) == b"v1" and reader.list_split_keys(m, 5) == []
    # A crash now (no sync) leaves the old object intact and only temp files behind.
    crashed = FileStorage(tmp_path)
    assert crashed.get_raw(m) == b"v1"
    writer.sync()
    assert reader.get_raw(m) == b"v2" and reader.get_splits(m, 5, [10]) == [b"s"]


def test_housekeeping_removes_stale_temp_files(tmp_path):
    dead = FileStorage(tmp_path)
    m = uuid.uuid4()
    dead.put_raw(m, b"x")  # never synced: the process died
    for d, _, names in os.walk(tmp_path):
        for n in names:
            os.utime(os.path.join(d, n), (0, 0))
    assert FileStorage(tmp_path).housekeeping(max_age=60, deep=True) == 1
    assert FileStorage(tmp_path).get_raw(m) is None


def test_delete_metric(storage):
    m, other = uuid.uuid4(), uuid.uuid4()
    storage.put_raw(m, b"r")
    storage.put_splits(m, 1, {1: b"x"})
    storage.put_raw(other, b"o")
    storage.sync()
    storage.put_splits(m, 1, {2: b"staged"})
    storage.delete_metric(m)
    storage.delete_metric(m)
    assert storage.get_raw(m) is None
    assert storage.list_split_keys(m, 1) == []
    assert storage.get_raw(other) == b"o"
    assert os.listdir(storage.root) == [str(other)]
    storage.sync()


def test_failed_write_leaves_old_object(storage, monkeypatch):
    m = uuid.uuid4()
    storage.put_splits(m, 1, {1: b"old"})
    storage.sync()

    def boom(fd, data):
        raise OSError("disk full")

    monkeypatch.setattr(os, "write", boom)
    with pytest.raises(OSError):
        storage.put_splits(m, 1, {1: b"new"})
    monkeypatch.undo()
    assert storage.get_splits(m, 1, [1]) == [b"old"]
    d = os.path.join(storage.root, str(m), "1")
    assert os.listdir(d) == ["1"]  # the temp file is gone too


def test_sync_fsyncs_touched_dirs_once(tmp_path, monkeypatch):
    storage = FileStorage(tmp_path)
    m = uuid.uuid4()
    storage.put_raw(m, b"r")
    storage.put_splits(m, 1, {1: b"a", 2: b"b"})
    synced = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real(fd)))
    storage.sync()
    assert len(synced) == 6  # 3 files, then the granularity dir, the metric dir, the root
    storage.sync()
    assert len(synced) == 6


def test_a_large_sync_flushes_the_file_system_twice_instead_of_each_file(tmp_path, monkeypatch):
    """Past _SYNCFS_MIN_OBJECTS staged objects: syncfs before the renames (data) and after (names), no fsync."""
    import telescale.storage.file as file_mod

    if file_mod._SYNCFS is None:
        pytest.skip("no syncfs(2) on this platform")
    storage = FileStorage(tmp_path)
    metrics = [uuid.uuid4() for _ in range(file_mod._SYNCFS_MIN_OBJECTS // 2)]
    for m in metrics:
        storage.put_raw(m, b"r")
        storage.put_splits(m, 1, {1: b"a"})
    calls = []
    real_syncfs = file_mod._SYNCFS
    monkeypatch.setattr(file_mod, "_SYNCFS", lambda fd: (calls.append(sorted(os.listdir(tmp_path / str(metrics[0])))),
                                                         real_syncfs(fd))[1])
    monkeypatch.setattr(os, "fsync", lambda fd: calls.append("fsync"))
    storage.sync()
    assert len(calls) == 2 and "fsync" not in calls
    assert any(n.startswith(".tmp-") for n in calls[0]) and calls[1] == ["1", "raw"]  # data first, then names
    other = FileStorage(tmp_path)
    assert all(other.get_raw(m) == b"r" and other.get_splits(m, 1, [1]) == [b"a"] for m in metrics)
