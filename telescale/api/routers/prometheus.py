"""`/v1/prometheus/write`: Prometheus remote_write 1.0, mapped as Gnocchi maps it (or keeping every label).

Each series goes to the resource ``job@instance`` of type ``prometheus`` (created on first write, with
attributes ``job`` and ``instance``); its metric is named by ``?metric_names=`` or the setting
``ingest.prometheus_metric_names`` (see :data:`telescale.ingest.remote_write.MODES`); metrics get their
archive policy from the archive policy rules.  The whole request is one durable incoming write.
"""

from __future__ import annotations

import numpy as np
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from telescale.api.auth import Identity, get_identity
from telescale.api.deps import raw_body, with_body
from telescale.api.errors import ApiError, bad_request
from telescale.api.openapi_ingest import REMOTE_WRITE
from telescale.ingest import remote_write, series
from telescale.ingest.remote_write import RemoteWriteError

router = APIRouter(prefix="/v1/prometheus", tags=["prometheus"], **with_body({}))

_PROTOBUF_TYPES = ("application/x-protobuf", "application/octet-stream")


def _names(request: Request) -> remote_write.SeriesNames:
    state = request.app.state
    names = getattr(state, "prometheus_series_names", None)
    if names is None:
        names = state.prometheus_series_names = remote_write.SeriesNames()
    return names


def _mode(request: Request) -> str:
    mode = request.query_params.get("metric_names") or request.app.state.settings.ingest.prometheus_metric_names
    if mode not in remote_write.MODES:
        raise bad_request({"cause": "Argument value error", "detail": "metric_names",
                           "reason": f"metric_names must be one of {', '.join(remote_write.MODES)}"})
    return mode


def _check_headers(request: Request) -> None:
    encoding = request.headers.get("content-encoding", "snappy").strip().lower()
    if encoding != "snappy":
        raise ApiError(415, f"Content-Encoding {encoding!r} is not supported: remote_write bodies are snappy")
    media = request.headers.get("content-type", _PROTOBUF_TYPES[0]).split(";")[0].strip().lower()
    if media not in _PROTOBUF_TYPES:
        raise ApiError(415, f"Content-Type {media!r} is not supported: remote_write bodies are "
                            "application/x-protobuf")


@router.post("/write", **REMOTE_WRITE)
def write(request: Request, identity: Identity = Depends(get_identity)) -> Response:
    """One remote_write request: decoded into arrays, series resolved to metrics, one incoming write."""
    _check_headers(request)
    mode = _mode(request)
    body = raw_body(request)
    try:
        raw = remote_write.decompress(body, request.app.state.settings.api.max_body_size)
        decoded = remote_write.decode(raw)
        keys = _names(request).keys(decoded.labels, mode)
    except remote_write.TooLarge as e:
        raise ApiError(413, str(e)) from None
    except RemoteWriteError as e:
        raise bad_request({"cause": "Invalid input", "reason": str(e), "detail": ["body"]}) from None
    if not keys:
        return Response(status_code=202, headers={"content-length": "0"})
    finite = np.isfinite(decoded.values)
    not_finite = int(finite.size - np.count_nonzero(finite))
    kept_series = _last_of_each(keys, decoded.series) if mode == "gnocchi" else None
    keep, duplicates = finite, 0
    if kept_series is not None:
        of_kept = kept_series[decoded.series]
        duplicates = int(np.count_nonzero(finite & ~of_kept))
        keep = finite & of_kept
    # every series with samples gets its metric, even when none of its values could be stored
    used = np.unique(decoded.series if kept_series is None else decoded.series[of_kept])
    series.ensure_resource_type(request, identity, remote_write.RESOURCE_TYPE, remote_write.RESOURCE_ATTRIBUTES)
    metrics = series.resolve(request, identity, [keys[i] for i in used.tolist()])
    position = np.full(len(keys), -1, dtype=np.int64)
    position[used] = np.arange(used.size)
    index = position[decoded.series[keep]]
    response = series.write_arrays(request, metrics, index, decoded.timestamps[keep], decoded.values[keep])
    return series.report_dropped(request, response, "prometheus remote_write", int(index.size),
                                 _dropped(not_finite, duplicates))


def _last_of_each(keys: list[series.SeriesKey], with_samples: np.ndarray) -> np.ndarray:
    """Gnocchi's mapping: of the series of one request that share a metric, the last one with samples."""
    has_samples = np.zeros(len(keys), dtype=bool)
    has_samples[with_samples] = True
    last = {key: i for i, (key, used) in enumerate(zip(keys, has_samples.tolist(), strict=True)) if used}
    kept = np.zeros(len(keys), dtype=bool)
    kept[list(last.values())] = True
    return kept


def _dropped(not_finite: int, duplicates: int) -> dict[str, int]:
    return {"not_finite": not_finite, "duplicate_series": duplicates}
