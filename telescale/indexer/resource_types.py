"""Resource types: a name and the schema of the attributes its resources carry."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc
from sqlalchemy.dialects import postgresql as postgresql_dialect
from sqlalchemy.dialects.postgresql import JSONB

from telescale.indexer import errors
from telescale.indexer.engine import IndexerEngine, utcnow
from telescale.indexer.models import ResourceHistoryRow, ResourceRow, ResourceTypeRow
from telescale.indexer.records import ResourceType


def _resource_type(row: ResourceTypeRow) -> ResourceType:
    return ResourceType(name=row.name, attributes={k: dict(v) for k, v in row.attributes.items()}, state=row.state)


def _json_path(attr: str) -> str:
    return '$."' + attr.replace('"', '""') + '"'


def _jsonb(text: str) -> sa.ColumnElement[Any]:
    """A JSON document as a jsonb value (cast from text: JSONB's bind processor would encode it again)."""
    return sa.cast(sa.literal(text, sa.Text), JSONB)


def _attribute_rewrites(model: type[ResourceRow] | type[ResourceHistoryRow], type_name: str, removed: Sequence[str],
                        fill: Mapping[str, Any], postgresql: bool) -> list[sa.Update]:
    """Set-based rewrites of the JSON attributes of every row of a type: one UPDATE per change.

    Removing attributes is one statement (``jsonb - keys`` / ``json_remove``); each filled attribute is
    one statement touching only the rows where it is missing or null.  No row is read into Python, so
    adding a required attribute to a million resources is a single pass in the database.
    """
    attrs = model.attributes
    of_type = model.type == type_name
    statements: list[sa.Update] = []
    if removed:
        if postgresql:
            keys = sa.cast(sa.literal(list(removed)), postgresql_dialect.ARRAY(sa.Text))
            new_value: Any = attrs.op("-")(keys)
        else:
            new_value = sa.func.json_remove(attrs, *[_json_path(a) for a in removed])
        statements.append(sa.update(model).where(of_type).values(attributes=new_value))
    for attr, value in fill.items():
        encoded = json.dumps(value)
        if postgresql:
            missing = sa.or_(attrs.op("->")(attr).is_(None), attrs.op("->")(attr) == _jsonb("null"))
            new_value = sa.func.jsonb_set(attrs, sa.cast(sa.literal([attr]), postgresql_dialect.ARRAY(sa.Text)),
                                          _jsonb(encoded))
        else:
            kind = sa.func.json_type(attrs, _json_path(attr))
            missing = sa.or_(kind.is_(None), kind == "null")
            new_value = sa.func.json_set(attrs, _json_path(attr), sa.func.json(encoded))
        statements.append(sa.update(model).where(of_type, missing).values(attributes=new_value))
    return statements


class ResourceTypes(IndexerEngine):
    def list_resource_types(self) -> list[str]:
        with self._read() as s:
            return list(s.scalars(sa.select(ResourceTypeRow.name).order_by(ResourceTypeRow.name)))

    def list_resource_type_records(self) -> list[ResourceType]:
        """Every resource type with its attribute schema, by name."""
        with self._read() as s:
            return [_resource_type(r) for r in s.scalars(sa.select(ResourceTypeRow).order_by(ResourceTypeRow.name))]

    def get_resource_type(self, name: str) -> ResourceType:
        with self._read() as s:
            row = s.get(ResourceTypeRow, name)
            if row is None:
                raise errors.NoSuchResourceType(name)
            return _resource_type(row)

    def create_resource_type(self, name: str, attributes: Mapping[str, Mapping[str, Any]]) -> ResourceType:
        """A new type: one row holding the attribute schema (no DDL, see :mod:`telescale.indexer.models`)."""
        definition = {k: dict(v) for k, v in attributes.items()}
        try:
            with self._write() as s:
                if s.get(ResourceTypeRow, name) is not None:
                    raise errors.ResourceTypeAlreadyExists(name)
                s.add(ResourceTypeRow(name=name, attributes=definition, state="active", updated_at=utcnow()))
        except exc.IntegrityError:
            raise errors.ResourceTypeAlreadyExists(name) from None
        return ResourceType(name=name, attributes=definition, state="active")

    def update_resource_type(
        self,
        name: str,
        *,
        add_attributes: Mapping[str, Mapping[str, Any]] | None = None,
        del_attributes: Sequence[str] = (),
        fill: Mapping[str, Any] | None = None,
    ) -> ResourceType:
        """Add (or redefine) and remove attributes of a type, in one transaction.

        ``fill`` gives, per attribute, the value set on every existing resource (current and past
        revisions) that has none, as Gnocchi's ``options.fill`` does; a removed attribute is dropped from
        every resource of the type so that adding it again starts empty. Both are set-based UPDATEs of the
        JSON column (see :func:`_attribute_rewrites`); no DDL is needed.
        """
        fill = {k: v for k, v in (fill or {}).items() if v is not None}
        removed = [a for a in del_attributes if a not in (add_attributes or {})]
        with self._write() as s:
            row = s.get(ResourceTypeRow, name, with_for_update=True)
            if row is None:
                raise errors.NoSuchResourceType(name)
            definition = {k: dict(v) for k, v in row.attributes.items()}
            for attr in del_attributes:
                definition.pop(attr, None)
            for attr, spec in (add_attributes or {}).items():
                definition[attr] = dict(spec)
            row.attributes = definition
            row.updated_at = utcnow()
            postgresql = self._engine.dialect.name == "postgresql"
            for model in (ResourceRow, ResourceHistoryRow):
                for statement in _attribute_rewrites(model, name, removed, fill, postgresql):
                    s.execute(statement)
            return _resource_type(row)

    def delete_resource_type(self, name: str) -> None:
        """Refused while any resource (or past revision) has this type; ``generic`` cannot go."""
        try:
            with self._write() as s:
                if s.get(ResourceTypeRow, name) is None:
                    raise errors.NoSuchResourceType(name)
                used = s.scalar(
                    sa.select(
                        sa.or_(
                            sa.exists().where(ResourceRow.type == name),
                            sa.exists().where(ResourceHistoryRow.type == name),
                        )
                    )
                )
                if used or name == "generic":
                    raise errors.ResourceTypeInUse(name)
                s.execute(sa.delete(ResourceTypeRow).where(ResourceTypeRow.name == name))
        except exc.IntegrityError:
            raise errors.ResourceTypeInUse(name) from None
