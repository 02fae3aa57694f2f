"""The one read path shared by the API, alarms and scaling, in process (never over HTTP).

* ``reader`` — :class:`~telescale.query.reader.Query`, built from the drivers: every read, under a caller's
  :class:`~telescale.query.scope.Scope`, with typed errors (``errors``).
* ``batch`` — reading many series at once (split listing, cache, decode, cut); ``measures`` — one metric's
  measures per granularity; ``availability`` — whether a policy computes a method at a granularity.
* ``aggregates/`` — dynamic aggregates (parser, alignment, operations, evaluation, resource groups);
  ``cross_metric`` — Gnocchi's deprecated cross-metric aggregation; ``metric_search`` and
  ``value_search`` — the points whose values satisfy a condition.
"""
