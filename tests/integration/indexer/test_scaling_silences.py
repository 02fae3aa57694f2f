"""Autohealing silences in the indexer, on SQLite and PostgreSQL: scoping, which silences apply to a group,
expiry, and the checks of what is stored."""

from __future__ import annotations

import dataclasses
import datetime
import uuid

import pytest

from telescale.indexer import Indexer
from telescale.indexer.errors import InvalidScalingValue, NoSuchScalingGroup, NoSuchSilence
from telescale.scaling.model import Silence
from tests.integration.indexer.scaling_records import at, group


def _silence(**fields) -> Silence:
    values = {"id": uuid.uuid4(), "project_id": "project-a", "pattern": "^web-1$", "expires_at": at(3600),
              "comment": "maintenance", "created_by": "user-a"}
    values.update(fields)
    return Silence(**values)


def test_create_get_delete(indexer: Indexer) -> None:
    web = indexer.create_scaling_group(group())
    created = indexer.create_silence(_silence(group_id=web.id))
    assert created.created_at is not None
    assert indexer.get_silence(created.id, "project-a") == created
    assert indexer.get_silence(created.id, None) == created
    given = indexer.create_silence(_silence(created_at=at(0)))
    assert given.created_at == at(0)
    assert indexer.delete_silence(created.id, "project-a") == created
    with pytest.raises(NoSuchSilence):
        indexer.get_silence(created.id, None)
    with pytest.raises(NoSuchSilence):
        indexer.delete_silence(created.id, None)


def test_another_projects_silence_is_invisible(indexer: Indexer) -> None:
    s = indexer.create_silence(_silence())
    with pytest.raises(NoSuchSilence, match="not found in project project-b"):
        indexer.get_silence(s.id, "project-b")
    with pytest.raises(NoSuchSilence):
        indexer.delete_silence(s.id, "project-b")
    assert indexer.list_silences("project-b") == []
    assert indexer.list_silences("project-a") == [s]


def test_which_silences_apply_to_a_group(indexer: Indexer) -> None:
    web = indexer.create_scaling_group(group())
    api = indexer.create_scaling_group(group(name="api"))
    theirs = indexer.create_scaling_group(group(name="web", project_id="project-b"))
    for_web = indexer.create_silence(_silence(group_id=web.id, created_at=at(1)))
    project_wide = indexer.create_silence(_silence(created_at=at(2), expires_at=at(60)))
    indexer.create_silence(_silence(group_id=api.id, created_at=at(3)))
    other_project = indexer.create_silence(_silence(project_id="project-b", created_at=at(4)))

    assert indexer.list_silences("project-a", group_id=web.id) == [for_web, project_wide]
    assert indexer.list_silences(None, group_id=web.id) == [for_web, project_wide]  # not project-b's
    assert indexer.list_silences(None, group_id=theirs.id) == [other_project]
    assert indexer.list_silences("project-a", group_id=web.id, active_at=at(60)) == [for_web]
    assert len(indexer.list_silences(None)) == 4
    assert indexer.list_silences(None, active_at=at(7200)) == []
    with pytest.raises(NoSuchScalingGroup):
        indexer.list_silences("project-b", group_id=web.id)


def test_bad_silences(indexer: Indexer) -> None:
    with pytest.raises(InvalidScalingValue) as e:
        indexer.create_silence(_silence(pattern="web-(1"))
    assert e.value.field == "pattern" and isinstance(e.value, ValueError)
    with pytest.raises(InvalidScalingValue) as e:
        indexer.create_silence(_silence(expires_at=datetime.datetime(2030, 1, 1)))
    assert e.value.field == "expires_at"
    theirs = indexer.create_scaling_group(group(project_id="project-b"))
    with pytest.raises(NoSuchScalingGroup):
        indexer.create_silence(_silence(group_id=theirs.id))
    with pytest.raises(NoSuchScalingGroup):
        indexer.create_silence(_silence(group_id=uuid.uuid4()))
    assert indexer.list_silences(None) == []
    ok = indexer.create_silence(dataclasses.replace(_silence(group_id=theirs.id), project_id="project-b"))
    assert indexer.list_silences("project-b") == [ok]
