"""Archive policies and archive policy rules: CRUD, Gnocchi's errors, rule precedence."""

from __future__ import annotations

import uuid

import pytest

from telescale.indexer import (
    ArchivePolicyAlreadyExists,
    ArchivePolicyInUse,
    ArchivePolicyRule,
    ArchivePolicyRuleAlreadyExists,
    Indexer,
    NoSuchArchivePolicy,
    NoSuchArchivePolicyRule,
    UnsupportedArchivePolicyRuleChange,
)
from telescale.timeseries.policy import NS_PER_SECOND, ArchivePolicy, PolicyItem

S = NS_PER_SECOND


def _policy(name: str = "test1") -> ArchivePolicy:
    return ArchivePolicy(
        name=name,
        back_window=2,
        # Not sorted on purpose: the order given is kept; points=None means infinite retention.
        definition=(PolicyItem(granularity=60 * S, points=20), PolicyItem(granularity=S, points=None)),
        aggregation_methods=("mean", "rate:max", "90pct"),
    )


def test_create_get_list(bare_indexer: Indexer) -> None:
    policy = _policy()
    assert bare_indexer.create_archive_policy(policy) == policy
    assert bare_indexer.get_archive_policy("test1") == policy
    assert bare_indexer.get_archive_policy("test1").definition[0].timespan == 20 * 60 * S
    assert bare_indexer.get_archive_policy("nope") is None
    bare_indexer.create_archive_policy(_policy("a-first"))
    assert [p.name for p in bare_indexer.list_archive_policies()] == ["a-first", "test1"]


def test_create_duplicate(bare_indexer: Indexer) -> None:
    bare_indexer.create_archive_policy(_policy())
    with pytest.raises(ArchivePolicyAlreadyExists) as e:
        bare_indexer.create_archive_policy(_policy())
    assert str(e.value) == "Archive policy test1 already exists"


def test_unicode_name(bare_indexer: Indexer) -> None:
    bare_indexer.create_archive_policy(_policy("✔éñ☃"))
    assert bare_indexer.get_archive_policy("✔éñ☃").name == "✔éñ☃"
    bare_indexer.delete_archive_policy("✔éñ☃")
    with pytest.raises(NoSuchArchivePolicy) as e:
        bare_indexer.delete_archive_policy("✔éñ☃")
    assert str(e.value) == "Archive policy ✔éñ☃ does not exist"


def test_update(bare_indexer: Indexer) -> None:
    bare_indexer.create_archive_policy(_policy())
    new = (PolicyItem(granularity=S, points=3600), PolicyItem(granularity=60 * S, points=1440))
    updated = bare_indexer.update_archive_policy("test1", new)
    assert updated.definition == new
    assert updated.back_window == 2
    assert updated.aggregation_methods == ("mean", "rate:max", "90pct")
    assert bare_indexer.get_archive_policy("test1") == updated
    assert bare_indexer.update_archive_policy("test1", new, back_window=7).back_window == 7
    with pytest.raises(NoSuchArchivePolicy):
        bare_indexer.update_archive_policy("nope", new)


def test_delete(bare_indexer: Indexer) -> None:
    bare_indexer.create_archive_policy(_policy())
    bare_indexer.delete_archive_policy("test1")
    assert bare_indexer.get_archive_policy("test1") is None
    with pytest.raises(NoSuchArchivePolicy) as e:
        bare_indexer.delete_archive_policy("test1")
    assert str(e.value) == "Archive policy test1 does not exist"


def test_delete_in_use_by_metric(bare_indexer: Indexer) -> None:
    bare_indexer.create_archive_policy(_policy("large"))
    metric_id = uuid.uuid4()
    bare_indexer.create_metric(metric_id, "foobar", "large")
    with pytest.raises(ArchivePolicyInUse) as e:
        bare_indexer.delete_archive_policy("large")
    assert str(e.value) == "Archive policy large is still in use"
    # A deleted metric still needs its policy until the janitor has expunged its data.
    bare_indexer.delete_metric(metric_id)
    with pytest.raises(ArchivePolicyInUse):
        bare_indexer.delete_archive_policy("large")
    bare_indexer.expunge_metric(metric_id)
    bare_indexer.delete_archive_policy("large")


def test_delete_in_use_by_rule(indexer: Indexer) -> None:
    with pytest.raises(ArchivePolicyInUse):
        indexer.delete_archive_policy("low")
    indexer.delete_archive_policy_rule("default")
    indexer.delete_archive_policy("low")
    assert indexer.get_archive_policy("low") is None


def test_rule_crud(bare_indexer: Indexer) -> None:
    bare_indexer.create_archive_policy(_policy("low"))
    rule = bare_indexer.create_archive_policy_rule("test_rule1", "*", "low")
    assert rule == ArchivePolicyRule(name="test_rule1", metric_pattern="*", archive_policy_name="low")
    assert bare_indexer.get_archive_policy_rule("test_rule1") == rule
    assert bare_indexer.get_archive_policy_rule("foo") is None
    with pytest.raises(ArchivePolicyRuleAlreadyExists) as e:
        bare_indexer.create_archive_policy_rule("test_rule1", "disk.*", "low")
    assert str(e.value) == "Archive policy rule test_rule1 already exists"
    with pytest.raises(NoSuchArchivePolicy) as e2:
        bare_indexer.create_archive_policy_rule("test_rule", "disk.foo.*", "not-exists")
    assert str(e2.value) == "Archive policy not-exists does not exist"
    bare_indexer.delete_archive_policy_rule("test_rule1")
    assert bare_indexer.list_archive_policy_rules() == []
    with pytest.raises(NoSuchArchivePolicyRule) as e3:
        bare_indexer.delete_archive_policy_rule("test_rule1")
    assert str(e3.value) == "Archive policy rule test_rule1 does not exist"


def test_rule_rename(bare_indexer: Indexer) -> None:
    bare_indexer.create_archive_policy(_policy("low"))
    bare_indexer.create_archive_policy_rule("test_rule2", "disk.foo.*", "low")
    bare_indexer.create_archive_policy_rule("test_rule3", "disk.*", "low")
    renamed = bare_indexer.rename_archive_policy_rule("test_rule3", "test_rule3_renamed")
    assert renamed == ArchivePolicyRule("test_rule3_renamed", "disk.*", "low")
    assert bare_indexer.get_archive_policy_rule("test_rule3_renamed") == renamed
    assert bare_indexer.get_archive_policy_rule("test_rule3") is None
    assert bare_indexer.rename_archive_policy_rule("test_rule2", "test_rule2").name == "test_rule2"
    with pytest.raises(UnsupportedArchivePolicyRuleChange) as e:
        bare_indexer.rename_archive_policy_rule("test_rule2", "test_rule3_renamed")
    assert isinstance(e.value, ArchivePolicyRuleAlreadyExists)
    assert "Archive policy rule test_rule3_renamed already exists." in str(e.value)
    with pytest.raises(NoSuchArchivePolicyRule):
        bare_indexer.rename_archive_policy_rule("nope", "other")


def test_rule_order_and_precedence(bare_indexer: Indexer) -> None:
    bare_indexer.create_archive_policy(_policy("low"))
    bare_indexer.create_archive_policy(_policy("high"))
    bare_indexer.create_archive_policy_rule("test_rule1", "*", "low")
    bare_indexer.create_archive_policy_rule("test_rule2", "disk.foo.*", "high")
    bare_indexer.create_archive_policy_rule("test_rule3", "disk.*", "low")
    bare_indexer.create_archive_policy_rule("b_same", "cpu*", "low")
    bare_indexer.create_archive_policy_rule("a_same", "cpu*", "high")
    # Gnocchi: metric_pattern descending, then name ascending.
    assert [r.metric_pattern for r in bare_indexer.list_archive_policy_rules()] == [
        "disk.foo.*",
        "disk.*",
        "cpu*",
        "cpu*",
        "*",
    ]
    assert [r.name for r in bare_indexer.list_archive_policy_rules()][2:4] == ["a_same", "b_same"]
    match = bare_indexer.match_archive_policy_rule
    assert match("disk.foo.bar").name == "test_rule2"
    assert match("disk.io.rate").name == "test_rule3"
    assert match("cpu.util").name == "a_same"
    assert match("memory").name == "test_rule1"
    assert match(None).name == "test_rule1"
    assert match("DISK.foo.bar").name == "test_rule1"  # case-sensitive on every platform


def test_no_rule_matches(bare_indexer: Indexer) -> None:
    assert bare_indexer.match_archive_policy_rule("anything") is None
    bare_indexer.create_archive_policy(_policy("low"))
    bare_indexer.create_archive_policy_rule("disk", "disk.?", "low")
    assert bare_indexer.match_archive_policy_rule("disk.io") is None
    assert bare_indexer.match_archive_policy_rule("disk.1").name == "disk"
