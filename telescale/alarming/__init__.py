"""Alarming: Aodh's v2 alarms, evaluated next to the data and delivered reliably.

Layout (one job per module):

* ``definitions`` — an alarm as the API takes it: Aodh's fields, defaults and validation per rule type
  (each ``<type>_rule`` in ``rule_types``), normalised into the plain dicts stored by the indexer
  (``telescale.indexer.alarms``).
* ``rules/`` — pure evaluation of each rule type: points → state, reason and ``reason_data``
  (threshold, composite, event, prometheus), time constraints, missing data and pending (``for``).
* ``evaluator`` — picks due alarms (its share of the hash ring, ``telescale.coordination``), reads
  through ``telescale.query`` in process, and commits each transition together with its notifications.
* ``transitions`` — one alarm's decision settled and committed with its notifications (one transaction),
  the step the evaluator and the events intake share.
* ``events`` — the events intake (``POST /v2/events``; later the collection agent): each event fires the
  matching ``event`` alarms of its project.
* ``notifiers/`` — delivery of the committed notifications (the outbox): ``log://``, ``http(s)://``,
  ``trust+http(s)://`` and the internal scaling action, with timeouts, retries and an allow-list.
* ``trusts`` — the Keystone trusts of ``trust+http(s)://`` actions, created and deleted by the API for the
  caller (trustor) and the ``service_credentials`` user (trustee).
"""
