"""Resource ids: clients may name a resource with any string; it is stored under a UUID.

A valid UUID is kept as is.  Anything else becomes uuid5 of a fixed namespace over `value + NUL + creator`,
the transform Gnocchi applies, so ids computed by existing clients (Ceilometer) keep matching.
"""

from __future__ import annotations

import uuid

RESOURCE_ID_NAMESPACE = uuid.UUID("0a7a15ff-aa13-4ac2-897c-9bdf30ce175b")
MAX_ORIGINAL_ID = 289


def resource_uuid(value: str, creator: str | None) -> uuid.UUID:
    """The stored id for a client-given resource id; ValueError with a user-facing message if refused."""
    if "/" in value:
        raise ValueError("'/' is not supported in resource id")
    try:
        return uuid.UUID(value)
    except ValueError:
        pass
    if len(value) > MAX_ORIGINAL_ID:
        raise ValueError(f"transformable resource id >{MAX_ORIGINAL_ID} max allowed characters")
    return uuid.uuid5(RESOURCE_ID_NAMESPACE, value + "\x00" + (creator if creator is not None else "\x00"))
