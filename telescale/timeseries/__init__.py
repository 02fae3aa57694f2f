"""Pure-numpy time-series engine: policies, aggregation, splits, codec, resampling.

No I/O and no configuration: storage and processing drive it with bytes and arrays.
"""

from telescale.timeseries.aggregation import AGGREGATORS, Groups, aggregate, aggregate_series, group
from telescale.timeseries.codec import CodecError, bench_bytes_per_point
from telescale.timeseries.policy import (
    ALL_METHODS,
    BASIC_METHODS,
    DEFAULT_AGGREGATION_METHODS,
    ArchivePolicy,
    PolicyError,
    PolicyItem,
    default_archive_policies,
    is_valid_method,
    resolve_methods,
)
from telescale.timeseries.raw import RawSeries
from telescale.timeseries.read import CALENDAR_UNITS, calendar_resample, resample, select
from telescale.timeseries.split import (
    POINTS_PER_SPLIT,
    AggregatedBlock,
    Split,
    expired_split_keys,
    partition,
    retention_cutoff,
    split_key,
)
from telescale.timeseries.update import Update, compute_update

__all__ = [
    "AGGREGATORS",
    "ALL_METHODS",
    "BASIC_METHODS",
    "CALENDAR_UNITS",
    "DEFAULT_AGGREGATION_METHODS",
    "POINTS_PER_SPLIT",
    "AggregatedBlock",
    "ArchivePolicy",
    "CodecError",
    "Groups",
    "PolicyError",
    "PolicyItem",
    "RawSeries",
    "Split",
    "Update",
    "aggregate",
    "aggregate_series",
    "bench_bytes_per_point",
    "calendar_resample",
    "compute_update",
    "default_archive_policies",
    "expired_split_keys",
    "group",
    "is_valid_method",
    "partition",
    "resample",
    "resolve_methods",
    "retention_cutoff",
    "select",
    "split_key",
]
