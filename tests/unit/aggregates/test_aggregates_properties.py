"""Dynamic aggregates against a straightforward pure-Python reference, on random data.

Each example stores 1-6 metrics through the real processing path (``process_metric_measures`` into an
in-memory storage driver), in shuffled batches so points arrive late and out of order inside the back
window, then evaluates an operations tree with :func:`telescale.query.aggregates.evaluate.evaluate`.
The reference never touches numpy: bucket means from the raw points, union of timestamps, holes
filled as Gnocchi's ``rest/aggregates/processor.py`` does (a number; ``null``/``dropna`` leave NaN;
``ffill``/``bfill`` propagate within a metric and leave leading/trailing holes; ``full_ffill`` is ffill
then bfill, ``full_bfill`` the reverse), the ``needed_overlap`` trim and check when there is no fill,
NaN-ignoring reductions (population std/var, ``nansum`` = 0), and NaN/inf dropped from the answer
for every fill but a number and ``null``.
"""

from __future__ import annotations

import math
import statistics
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import numpy as np  # only to hand arrays to the engine; the reference below is pure Python
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from telescale.processing.processor import process_metric_measures
from telescale.query.aggregates import evaluate as ev
from telescale.query.aggregates import parser
from telescale.query.aggregates.operations import UnAggregableTimeseries
from telescale.storage.base import StorageDriver
from telescale.timeseries import ArchivePolicy, PolicyItem

S = 1_000_000_000
T0 = 1_700_002_800 * S  # on the hour
G1, G2 = 60 * S, 300 * S
SPAN = 40  # minutes of data: inside the back window below, so no late point is ever dropped
POLICY = ArchivePolicy("props", 20, (PolicyItem(G1), PolicyItem(G2)), ("mean",))
FILLS: tuple[float | str | None, ...] = (None, 0.0, -2.5, "null", "dropna", "ffill", "bfill", "full_ffill",
                                         "full_bfill")
DROPPING = ("dropna", "ffill", "bfill", "full_ffill", "full_bfill")
REDUCERS = ("mean", "median", "std", "min", "max", "sum", "var", "count")
NAN = math.nan

Point = tuple[int, float]


# --- an in-memory storage driver ---------------------------------------------------------------------

class MemoryStorage(StorageDriver):
    def __init__(self) -> None:
        self.raw: dict[uuid.UUID, bytes] = {}
        self.splits: dict[tuple[uuid.UUID, int], dict[int, bytes]] = {}

    @classmethod
    def from_settings(cls, settings: object, *, read_cache_bytes: int = 0) -> MemoryStorage:
        return cls()

    def get_raw(self, metric_id: uuid.UUID) -> bytes | None:
        return self.raw.get(metric_id)

    def put_raw(self, metric_id: uuid.UUID, data: bytes) -> None:
        self.raw[metric_id] = data

    def list_split_keys(self, metric_id: uuid.UUID, granularity: int) -> list[int]:
        return sorted(self.splits.get((metric_id, granularity), {}))

    def get_splits(self, metric_id: uuid.UUID, granularity: int, keys: Iterable[int]) -> list[bytes | None]:
        have = self.splits.get((metric_id, granularity), {})
        return [have.get(k) for k in keys]

    def put_splits(self, metric_id: uuid.UUID, granularity: int, splits: Mapping[int, bytes]) -> None:
        self.splits.setdefault((metric_id, granularity), {}).update(splits)

    def delete_splits(self, metric_id: uuid.UUID, granularity: int, keys: Iterable[int]) -> None:
        have = self.splits.get((metric_id, granularity), {})
        for k in keys:
            have.pop(k, None)

    def delete_metric(self, metric_id: uuid.UUID) -> None:
        self.raw.pop(metric_id, None)
        for key in [k for k in self.splits if k[0] == metric_id]:
            del self.splits[key]


@dataclass(frozen=True)
class Metric:
    id: uuid.UUID
    archive_policy: ArchivePolicy


def ingest(storage: StorageDriver, points: list[Point], batches: list[list[Point]]) -> Metric:
    """Store one metric through processing, one call per batch (batches may be out of order)."""
    m = Metric(uuid.uuid4(), POLICY)
    seen = 0
    for b in batches:
        if b:
            dropped = process_metric_measures(storage, m.id, POLICY, np.array([t for t, _ in b], dtype=np.int64),
                                              np.array([v for _, v in b], dtype=np.float64))
            assert dropped == 0
            seen += len(b)
    assert seen == len(points)
    return m


# --- the reference -------------------------------------------------------------------------------------

class RefError(Exception):
    pass


def ref_stored(points: list[Point], g: int) -> dict[int, float]:
    """What the metric's ``mean`` holds at granularity g: the mean of the raw points of each bucket."""
    buckets: dict[int, list[float]] = {}
    for t, v in sorted(points):
        buckets.setdefault(t // g * g, []).append(v)
    return {k: math.fsum(vs) / len(vs) for k, vs in sorted(buckets.items())}


def ref_fill(column: list[float], fill: float | str | None) -> list[float]:
    def ffill(col: list[float]) -> list[float]:
        out, last = [], NAN
        for v in col:
            last = last if math.isnan(v) else v
            out.append(last)
        return out

    def bfill(col: list[float]) -> list[float]:
        return ffill(col[::-1])[::-1]

    if isinstance(fill, float):
        return [fill if math.isnan(v) else v for v in column]
    return {"ffill": ffill, "bfill": bfill,
            "full_ffill": lambda c: bfill(ffill(c)), "full_bfill": lambda c: ffill(bfill(c))}.get(
        fill, lambda c: c)(column)  # type: ignore[arg-type]


def ref_align(series: list[list[Point]], g: int, fill: float | str | None, needed_overlap: float,
              start: int | None, stop: int | None) -> tuple[list[int], list[list[float]]]:
    """Times and one column per metric, read in [floor(start), stop), filled, overlap-checked."""
    stored = []
    for pts in series:
        d = ref_stored(pts, g)
        stored.append({t: v for t, v in d.items()
                       if (start is None or t >= start // g * g) and (stop is None or t < stop)})
    times = sorted({t for d in stored for t in d})
    columns = [ref_fill([d.get(t, NAN) for t in times], fill) for d in stored]
    if fill is None:
        full = [i for i in range(len(times)) if all(not math.isnan(c[i]) for c in columns)]
        if not full and needed_overlap > 0:
            raise RefError("No overlap")
        if times:
            lo = full[0] if full and start is None else 0
            hi = full[-1] + 1 if full and stop is None else len(times)
            times, columns = times[lo:hi], [c[lo:hi] for c in columns]
            if len(full) * 100.0 / len(times) < needed_overlap:
                raise RefError("Less than")
    return times, columns


def ref_reduce(method: str, values: list[float]) -> float:
    """numpy's NaN-ignoring reductions, written out."""
    vs = [v for v in values if not math.isnan(v)]
    if method == "count":
        return float(len(vs))
    if method == "sum":
        return math.fsum(vs)
    if not vs:
        return NAN
    if method == "mean":
        return math.fsum(vs) / len(vs)
    if method == "median":
        return statistics.median(vs)
    if method == "min":
        return min(vs)
    if method == "max":
        return max(vs)
    mean = math.fsum(vs) / len(vs)
    var = math.fsum((v - mean) ** 2 for v in vs) / len(vs)
    return var if method == "var" else math.sqrt(var)


def ref_diff(values: list[float]) -> list[float]:
    return [b - a for a, b in zip(values, values[1:], strict=False)]


def ref_resample(method: str, times: list[int], column: list[float], g: int) -> list[float]:
    """The engine's per-bucket methods over the points a column has (holes are no points)."""
    keys = sorted({t // g * g for t in times})
    buckets: dict[int, list[float]] = {k: [] for k in keys}
    for t, v in zip(times, column, strict=True):
        if not math.isnan(v):
            buckets[t // g * g].append(v)
    out = []
    for k in keys:
        vs = buckets[k]
        if not vs:
            out.append(NAN)
        elif method == "first":
            out.append(vs[0])
        elif method == "last":
            out.append(vs[-1])
        elif method == "std":
            out.append(statistics.stdev(vs) if len(vs) > 1 else NAN)
        else:
            out.append(ref_reduce(method, vs))
    return out


def ref_output(times: list[int], values: list[float], fill: float | str | None) -> list[Point]:
    if fill in DROPPING:
        return [(t, v) for t, v in zip(times, values, strict=True) if math.isfinite(v)]
    return list(zip(times, values, strict=True))


# --- running both --------------------------------------------------------------------------------------

@dataclass
class Case:
    series: list[list[Point]]       # raw points of each metric
    batches: list[list[list[Point]]]  # how each metric's points arrived
    fill: float | str | None
    needed_overlap: float
    start: int | None
    stop: int | None


@st.composite
def cases(draw: st.DrawFn, min_metrics: int = 1, max_metrics: int = 6, fills=FILLS) -> Case:
    n = draw(st.integers(min_metrics, max_metrics))
    series, batches = [], []
    # Half the time every metric covers the same minutes (the engine's no-union fast path), either a
    # gapless run or with gaps; otherwise each metric has its own random minutes.
    shared = draw(st.sampled_from((None, "run", "gaps")))
    if shared == "run":
        first = draw(st.integers(0, SPAN - 1))
        common = list(range(first, draw(st.integers(first + 1, SPAN))))
    elif shared == "gaps":
        common = draw(st.lists(st.integers(0, SPAN - 1), min_size=1, max_size=20, unique=True))
    for _ in range(n):
        # a random subset of the minutes (gaps), one to three raw points inside each chosen minute
        minutes = common if shared else draw(st.lists(st.integers(0, SPAN - 1), min_size=1, max_size=20,
                                                      unique=True))
        pts: list[Point] = []
        for mnt in minutes:
            secs = draw(st.lists(st.integers(0, 59), min_size=1, max_size=3, unique=True))
            pts += [(T0 + (mnt * 60 + s) * S, draw(st.integers(-400, 400)) / 4) for s in secs]
        order = draw(st.permutations(pts))  # late points: any arrival order
        cuts = sorted(draw(st.lists(st.integers(0, len(pts)), max_size=3)))
        bounds = [0, *cuts, len(pts)]
        batches.append([list(order[a:b]) for a, b in zip(bounds, bounds[1:], strict=False)])
        series.append(pts)
    fill = draw(st.sampled_from(fills))
    needed = draw(st.sampled_from((0.0, 50.0, 100.0)))
    start = draw(st.none() | st.integers(0, SPAN * 60).map(lambda s: T0 + s * S))
    stop = draw(st.none() | st.integers(0, SPAN * 60).map(lambda s: T0 + s * S))
    return Case(series, batches, fill, needed, start, stop)


def pairs(names: list[str]) -> str:
    return " ".join(f"({n} mean)" for n in names)


def evaluate(case: Case, operations: Callable[[list[str]], str], granularity: int | None = None):
    storage = MemoryStorage()
    metrics = {f"m{i}": ingest(storage, pts, b) for i, (pts, b) in enumerate(zip(case.series, case.batches,
                                                                                    strict=True))}
    tree = parser.parse(operations(list(metrics)))
    refs = parser.references(tree)
    cols = [ev.Reference(metrics[name], method, name) for name, method in refs]
    lookup = {r: [i] for i, r in enumerate(refs)}
    return ev.evaluate(storage, tree, cols, lookup, start=case.start, stop=case.stop, granularity=granularity,
                       needed_overlap=case.needed_overlap, fill=case.fill)


def engine_points(measures: list) -> list[tuple[int, list[Point]]]:
    return [(g, list(zip(t.tolist(), v.tolist(), strict=True))) for g, t, v in measures]


def same(got: list[tuple[int, list[Point]]], want: list[tuple[int, list[Point]]]) -> None:
    assert [g for g, _ in got] == [g for g, _ in want]
    for (g, a), (_, b) in zip(got, want, strict=True):
        assert [t for t, _ in a] == [t for t, _ in b], g
        for (t, x), (_, y) in zip(a, b, strict=True):
            if math.isnan(y):
                assert math.isnan(x), (g, t, x)
            else:
                assert x == pytest.approx(y, rel=1e-9, abs=1e-9), (g, t, x, y)


def check(case: Case, operations: Callable[[list[str]], str],
          reference: Callable[[list[int], list[list[float]]], dict[int | None, tuple[list[int], list[float]]]],
          grans: tuple[int, ...] = (G2, G1), granularity: int | None = None, reported: int | None = None) -> None:
    """Run the engine and the reference per granularity (coarsest first); errors must match too.

    ``reported``: the granularity the answer is labelled with when it is not the source's (resample).
    """
    want: dict[int | None, list[tuple[int, list[Point]]]] = {}
    error = None
    try:
        for g in grans:
            times, columns = ref_align(case.series, g, case.fill, case.needed_overlap, case.start, case.stop)
            for key, (t, v) in reference(times, columns).items():
                want.setdefault(key, []).append((reported or g, ref_output(t, v, case.fill)))
    except RefError as e:
        error = str(e)
    event(f"error={error} shared={len({tuple(t // G1 for t, _ in pts) for pts in case.series}) == 1}")
    if error is not None:
        with pytest.raises(UnAggregableTimeseries, match=error):
            evaluate(case, operations, granularity)
        return
    result = evaluate(case, operations, granularity)
    assert set(result.series) == set(want)
    for key in want:
        same(engine_points(result.series[key]), want[key])


SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# --- the properties ------------------------------------------------------------------------------------

PER_FILL = settings(SETTINGS, max_examples=25)


@pytest.mark.parametrize("fill", FILLS, ids=repr)
@PER_FILL
@given(data=st.data(), method=st.sampled_from(REDUCERS + tuple("rate:" + m for m in REDUCERS)))
def test_aggregate_across_metrics(fill: float | str | None, data: st.DataObject, method: str) -> None:
    case = data.draw(cases(fills=(fill,)))

    def ops(names: list[str]) -> str:
        return f"(aggregate {method} (metric {pairs(names)}))"

    def ref(times: list[int], columns: list[list[float]]):
        out = [ref_reduce(method.removeprefix("rate:"), [c[i] for c in columns]) for i in range(len(times))]
        if method.startswith("rate:"):
            return {None: (times[1:], ref_diff(out))}
        return {None: (times, out)}

    check(case, ops, ref)


@pytest.mark.parametrize("fill", FILLS, ids=repr)
@PER_FILL
@given(data=st.data())
def test_metric_alone_keeps_one_series_per_metric(fill: float | str | None, data: st.DataObject) -> None:
    case = data.draw(cases(fills=(fill,)))

    def ops(names: list[str]) -> str:
        return f"(metric {pairs(names)})"

    check(case, ops, lambda times, columns: {j: (times, c) for j, c in enumerate(columns)})


@SETTINGS
@given(cases(), st.sampled_from(REDUCERS + ("rate:mean", "rate:max")), st.integers(1, 5))
def test_rolling(case: Case, method: str, window: int) -> None:
    def ops(names: list[str]) -> str:
        return f"(rolling {method} {window} (metric {pairs(names)}))"

    def ref(times: list[int], columns: list[list[float]]):
        if window > len(times):
            raise RefError("Rolling window")
        out = {}
        for j, c in enumerate(columns):
            vals = [ref_reduce(method.removeprefix("rate:"), c[i - window + 1:i + 1])
                    for i in range(window - 1, len(times))]
            t = times[window - 1:]
            out[j] = (t[1:], ref_diff(vals)) if method.startswith("rate:") else (t, vals)
        return out

    check(case, ops, ref)


@SETTINGS
@given(cases(), st.sampled_from(("mean", "sum", "min", "max", "count", "first", "last", "median", "std")),
       st.sampled_from((120, 300, 600, 3600)))
def test_resample(case: Case, method: str, seconds: int) -> None:
    g = seconds * S

    def ops(names: list[str]) -> str:
        return f"(resample {method} {seconds} (metric {pairs(names)}))"

    def ref(times: list[int], columns: list[list[float]]):
        keys = sorted({t // g * g for t in times})
        return {j: (keys, ref_resample(method, times, c, g)) for j, c in enumerate(columns)}

    check(case, ops, ref, grans=(G1,), granularity=G1, reported=g)


@SETTINGS
@given(cases(min_metrics=2, max_metrics=2), st.sampled_from(("+", "-", "*", "/", "max", ">=", "**")))
def test_arithmetic_between_two_metrics(case: Case, op: str) -> None:
    fns: dict[str, Callable[[float, float], float]] = {
        "+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
        "/": lambda a, b: NAN if a == 0 == b or math.isnan(a) or math.isnan(b) else (
            a / b if b else math.copysign(math.inf, a) * math.copysign(1.0, b)),
        "max": lambda a, b: b if math.isnan(a) else a if math.isnan(b) else max(a, b),  # fmax
        ">=": lambda a, b: float(a >= b),
        "**": lambda a, b: NAN if math.isnan(a) or math.isnan(b) else _pow(a, b),
    }

    def ops(names: list[str]) -> str:
        return f"({op} (metric {names[0]} mean) (metric {names[1]} mean))"

    def ref(times: list[int], columns: list[list[float]]):
        return {None: (times, [fns[op](a, b) for a, b in zip(columns[0], columns[1], strict=True)])}

    check(case, ops, ref)


def _pow(a: float, b: float) -> float:
    try:
        out = a ** b
    except ZeroDivisionError:
        return math.inf
    except OverflowError:
        return math.inf if a > 0 or float(b).is_integer() and b % 2 == 0 else -math.inf
    return NAN if isinstance(out, complex) else float(out)


@SETTINGS
@given(cases(), st.sampled_from(("+", "*", "-")), st.sampled_from((2.0, -0.5)))
def test_arithmetic_with_a_constant_after_an_aggregate(case: Case, op: str, k: float) -> None:
    fn: dict[str, Callable[[float], float]] = {"+": lambda a: a + k, "*": lambda a: a * k, "-": lambda a: a - k}

    def ops(names: list[str]) -> str:
        return f"({op} (aggregate mean (metric {pairs(names)})) {k})"

    def ref(times: list[int], columns: list[list[float]]):
        means = [ref_reduce("mean", [c[i] for c in columns]) for i in range(len(times))]
        return {None: (times, [fn[op](m) for m in means])}

    check(case, ops, ref)


@settings(max_examples=40, deadline=None)
@given(cases(fills=("null",)))
def test_late_and_out_of_order_batches_equal_in_order_arrival(case: Case) -> None:
    """Bit for bit: the same stored aggregates whatever order and batching the measures came in."""
    in_order = Case([list(p) for p in case.series], [[sorted(p)] for p in case.series], "null", 0.0, None, None)
    shuffled = Case(case.series, case.batches, "null", 0.0, None, None)

    def ops(names: list[str]) -> str:
        return f"(metric {pairs(names)})"

    a, b = evaluate(in_order, ops), evaluate(shuffled, ops)
    assert set(a.series) == set(b.series)
    for key in a.series:
        for (ga, ta, va), (gb, tb, vb) in zip(a.series[key], b.series[key], strict=True):
            assert ga == gb and ta.tolist() == tb.tolist()
            assert [x.hex() for x in va.tolist()] == [x.hex() for x in vb.tolist()]


@SETTINGS
@given(cases(), st.sampled_from(("rateofchange", "rateofchangesec", "counterrateofchange", "counterrateofchangesec")))
def test_rateofchange(case: Case, op: str) -> None:
    counter = op.startswith("counter")

    def change(a: float, b: float) -> float:
        if counter and b < a:
            return max(b, 0.0)  # a counter reset: it counted b since it restarted from zero
        return b - a

    def ops(names: list[str]) -> str:
        return f"({op} (metric {pairs(names)}))"

    def ref(times: list[int], columns: list[list[float]]):
        out = {}
        for j, c in enumerate(columns):
            d = [change(a, b) for a, b in zip(c, c[1:], strict=False)]
            if op.endswith("sec"):
                secs = [(b - a) / S for a, b in zip(times, times[1:], strict=False)]
                out[j] = (times, [NAN] * bool(times) + [x / s for x, s in zip(d, secs, strict=True)])
            else:
                out[j] = (times[1:], d)
        return out

    check(case, ops, ref)


@pytest.mark.parametrize("gap", [False, True])
@pytest.mark.parametrize("method", ["mean", "sum", "min", "max", "std", "median"])
def test_cross_metric_reductions_are_bit_identical_to_gnocchis(gap: bool, method: str) -> None:
    """Gnocchi reduces ``nan<method>(val_grid.T, axis=1)`` over a (metrics, times) grid: same bits here,
    with or without holes (with 12 metrics, a row-major grid would sum in another order)."""
    from telescale.query.aggregates.align import align
    from telescale.query.aggregates.operations import Series, aggregate

    rng = np.random.default_rng(5)
    times = np.arange(200, dtype=np.int64) * G1
    series = [(times, np.round(rng.normal(50, 20, times.size), 3)) for _ in range(12)]
    if gap:
        series[4] = (np.delete(times, [0, 7, 150]), np.delete(series[4][1], [0, 7, 150]))
    t, grid = align(series, "null", granularity=G1)
    got = aggregate(method, Series(G1, t, grid)).values[:, 0]
    val_grid = np.full((len(series), times.size), np.nan)
    for i, (ts, vs) in enumerate(series):
        val_grid[i][np.searchsorted(times, ts)] = vs
    want = getattr(np, f"nan{method}")(val_grid.T, axis=1)
    assert [x.hex() for x in got.tolist()] == [x.hex() for x in want.tolist()]
