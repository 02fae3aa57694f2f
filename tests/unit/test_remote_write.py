"""The remote_write decoder: its numpy fast path against upb's own decode, stale markers, naming, bad bodies."""

from __future__ import annotations

import struct

import cramjam
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from telescale.ingest import remote_pb2, remote_write
from telescale.ingest.remote_write import RemoteWriteError

STALE = struct.unpack("<d", struct.pack("<Q", remote_write.STALE_NAN))[0]


def request(series: list[tuple[list[tuple[str, str]], list[tuple[int, float]]]]) -> bytes:
    out = remote_pb2.WriteRequest()
    for labels, samples in series:
        ts = out.timeseries.add()
        ts.labels.extend(remote_pb2.Label(name=k, value=v) for k, v in labels)
        ts.samples.extend(remote_pb2.Sample(timestamp=t, value=v) for t, v in samples)
    return out.SerializeToString()


def expected(series: list[tuple[list[tuple[str, str]], list[tuple[int, float]]]]) -> list[tuple]:
    """(labels, timestamp ns, value bits) of every non-stale sample, as upb decodes the request."""
    parsed = remote_pb2.WriteRequest.FromString(request(series))
    return [([(lb.name, lb.value) for lb in ts.labels], s.timestamp * 1_000_000, struct.pack("<d", s.value))
            for ts in parsed.timeseries for s in ts.samples
            if struct.pack("<d", s.value) != struct.pack("<d", STALE)]


def flatten(decoded: remote_write.Decoded) -> list[tuple]:
    labels = [remote_write.labels_of(key) for key in decoded.labels]
    return [(labels[i], t, struct.pack("<d", v)) for i, t, v in
            zip(decoded.series.tolist(), decoded.timestamps.tolist(), decoded.values.tolist(), strict=True)]


_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=140)
_value = st.one_of(st.floats(allow_nan=True), st.just(0.0), st.just(STALE), st.just(-0.0))
_sample = st.tuples(st.integers(0, 2**42), _value)
_series = st.tuples(st.lists(st.tuples(_text, _text), max_size=6), st.lists(_sample, max_size=12))


@settings(max_examples=150, deadline=None)
@given(st.lists(_series, max_size=20))
def test_decoder_reads_what_upb_reads(series: list) -> None:
    assert flatten(remote_write.decode(request(series))) == expected(series)


def test_fast_path_is_taken_for_prometheus_encoding() -> None:
    series = [([("__name__", "up"), ("instance", "a:1"), ("job", "j")], [(1000, 1.0), (2000, 0.0)])] * 3
    frames = list(remote_pb2.WriteRequestFrames.FromString(request(series)).timeseries)
    fast = remote_write._decode_fast(frames)
    assert fast is not None
    assert fast.timestamps.tolist() == [1_000_000_000, 2_000_000_000] * 3
    assert fast.values.tolist() == [1.0, 0.0] * 3


def test_labels_after_samples_and_exemplars_take_the_plain_path_with_the_same_result() -> None:
    ts = remote_pb2.TimeSeries()
    ts.samples.add(timestamp=5, value=2.5)
    ts.exemplars.add(value=1.0, timestamp=5)
    tail_first = ts.SerializeToString() + remote_pb2.TimeSeries(
        labels=[remote_pb2.Label(name="__name__", value="x")]).SerializeToString()
    body = remote_pb2.WriteRequestFrames(timeseries=[tail_first]).SerializeToString()
    decoded = remote_write.decode(body)
    assert flatten(decoded) == [([("__name__", "x")], 5_000_000, struct.pack("<d", 2.5))]


def test_stale_markers_are_dropped_and_counted() -> None:
    body = request([([("__name__", "up")], [(1, 1.0), (2, STALE), (3, float("nan"))])])
    decoded = remote_write.decode(body)
    assert decoded.stale == 1
    assert decoded.timestamps.tolist() == [1_000_000, 3_000_000]
    assert np.isnan(decoded.values[1])


def test_native_histograms_are_refused() -> None:
    ts = remote_pb2.TimeSeries(labels=[remote_pb2.Label(name="__name__", value="h")], histograms=[b"\x08\x01"])
    with pytest.raises(RemoteWriteError, match="native histograms"):
        remote_write.decode(remote_pb2.WriteRequest(timeseries=[ts]).SerializeToString())


@pytest.mark.parametrize(("body", "reason"), [
    (b"", "empty body"),
    (b"\xff\xff\xff\xff\xff\xff", "not snappy"),
])
def test_bodies_that_are_not_snappy(body: bytes, reason: str) -> None:
    with pytest.raises(RemoteWriteError, match=reason):
        remote_write.decompress(body, 1 << 20)


def test_a_body_decompressing_past_the_limit_is_refused_before_decompressing() -> None:
    body = bytes(cramjam.snappy.compress_raw(b"\0" * 100_000))
    with pytest.raises(remote_write.TooLarge, match="100000 bytes"):
        remote_write.decompress(body, 50_000)


@pytest.mark.parametrize("raw", [b"\x0a\x05abc", b"\x0a\x02\x0a\x10", b"\xff"])
def test_bodies_that_are_not_protobuf(raw: bytes) -> None:
    with pytest.raises(RemoteWriteError, match="not a protobuf WriteRequest"):
        remote_write.decode(raw)


def test_timestamps_out_of_range_name_the_series() -> None:
    with pytest.raises(RemoteWriteError, match=r'up.*out of range'):
        remote_write.decode(request([([("__name__", "up")], [(-5, 1.0)])]))


def test_gnocchi_names_and_labelled_names() -> None:
    labels = [("__name__", "http_requests_total"), ("code", "200"), ("handler", "/api/v1/%"),
              ("instance", "web:80"), ("job", "api"), ("note", 'say "hi"\\\n')]
    gnocchi = remote_write.series_key(labels, "gnocchi")
    assert (gnocchi.resource_type, gnocchi.resource_id, gnocchi.metric) == ("prometheus", "api@web:80",
                                                                            "http_requests_total")
    assert dict(gnocchi.attributes) == {"job": "api", "instance": "web:80"}
    assert remote_write.series_key(labels, "labels").metric == (
        'http_requests_total{code="200",handler="%2Fapi%2Fv1%2F%25",note="say \\"hi\\"\\\\\\n"}')


@pytest.mark.parametrize("missing", ["__name__", "job", "instance"])
def test_series_without_name_job_or_instance_are_refused(missing: str) -> None:
    labels = [(k, "v") for k in ("__name__", "instance", "job") if k != missing]
    with pytest.raises(RemoteWriteError, match=f"no {missing} label"):
        remote_write.series_key(labels, "gnocchi")


def test_series_names_are_remembered_by_label_bytes() -> None:
    names = remote_write.SeriesNames()
    key = remote_pb2.SeriesLabels(labels=[remote_pb2.Label(name=k, value=v) for k, v in
                                          (("__name__", "up"), ("instance", "i"), ("job", "j"))]).SerializeToString()
    first = names.keys([key], "gnocchi")[0]
    assert names.keys([key], "gnocchi")[0] is first
    assert names.keys([key], "labels")[0] == first  # no other label: the same name in both modes
