"""HTTP errors in Gnocchi's shape: `{"code", "title", "description"}`, the description a string or a dict.

Routers raise `ApiError` (or a helper below); the app turns it, FastAPI's own HTTP errors and any validation
error into this one shape, so clients that parse Gnocchi errors keep working and no bad input becomes a 500.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import voluptuous

from telescale.api.jsonio import json_response


class ApiError(Exception):
    """An HTTP error with a user-facing description (a string, or a dict with cause/reason/detail)."""

    def __init__(self, status: int, description: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.headers = headers or {}


def error_response(status: int, description: Any, headers: dict[str, str] | None = None):
    body = {"code": status, "title": HTTPStatus(status).phrase, "description": description}
    return json_response(body, status=status, headers=headers)


def bad_request(description: Any) -> ApiError:
    return ApiError(400, description)


def not_found(description: Any) -> ApiError:
    return ApiError(404, description)


def conflict(description: Any) -> ApiError:
    return ApiError(409, description)


def forbidden() -> ApiError:
    return ApiError(403, "Access was denied to this resource.")


def invalid_input(error: voluptuous.Invalid) -> ApiError:
    """A schema violation, naming the offending field as Gnocchi does."""
    return bad_request({"cause": "Invalid input", "reason": str(error), "detail": [str(p) for p in error.path]})


def argument_error(reason: str, detail: Any) -> ApiError:
    """A bad query-string argument."""
    return bad_request({"cause": "Argument value error", "reason": reason, "detail": detail})


def query_not_found(error: Exception) -> ApiError:
    """A read naming a method or granularity the metric's policy lacks (query.MeasuresQueryError)."""
    detail = getattr(error, "detail", None)
    if detail is not None:
        return not_found({"cause": error.cause, "detail": detail})  # type: ignore[attr-defined]
    return not_found(str(error))
