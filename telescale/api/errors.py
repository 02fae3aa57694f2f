"""HTTP errors in Gnocchi's shape: `{"code", "title", "description"}`, the description a string or a dict.

Routers raise `ApiError` (or a helper below); the app turns it, FastAPI's own HTTP errors and any validation
error into this one shape, so clients that parse Gnocchi errors keep working and no bad input becomes a 500.
Under `/v2` (Aodh's API) the same errors take Aodh's shape instead (:func:`aodh_error_response`).
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import voluptuous
from fastapi import Request
from fastapi.responses import Response
from starlette.routing import Match

from telescale.api.jsonio import dumps, json_response, names_json


class ApiError(Exception):
    """An HTTP error with a user-facing description (a string, or a dict with cause/reason/detail).

    `hint` says what exactly is wrong where Gnocchi's description is too vague to act on but clients (and
    its conformance suite) depend on its exact text: it goes beside the description, never into it.
    """

    def __init__(self, status: int, description: Any, headers: dict[str, str] | None = None,
                 hint: str | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.headers = headers or {}
        self.hint = hint


# What each status means, in the words WSGI servers (and so Gnocchi) put in plain-text error pages.
EXPLANATIONS = {
    400: "The server could not comply with the request since it is either malformed or otherwise incorrect.",
    401: "This server could not verify that you are authorized to access the document you requested.",
    403: "Access was denied to this resource.",
    404: "The resource could not be found.",
    405: "The method is not allowed for this resource.",
    406: "The resource could not be generated that was acceptable to your user agent.",
    409: "There was a conflict when trying to complete your request.",
    413: "The request is larger than the server is willing or able to process.",
    415: "The request media type is not supported by this server.",
    503: "The server is currently unavailable. Please try again at a later time.",
}


def error_response(status: int, description: Any, headers: dict[str, str] | None = None,
                   accept: str | None = "application/json", hint: str | None = None) -> Response:
    phrase = HTTPStatus(status).phrase
    if names_json(accept):  # otherwise plain text, as Gnocchi answers
        body = {"code": status, "title": phrase, "description": description}
        return json_response({**body, "hint": hint} if hint else body, status=status, headers=headers)
    detail = description if isinstance(description, str) else dumps(description).decode()
    text = f"{status} {phrase}\n\n{EXPLANATIONS.get(status, phrase)}\n\n {detail}\n"
    if hint:
        text += f"\n {hint}\n"
    return Response(text, status_code=status, media_type="text/plain", headers=headers)


def bad_request(description: Any, hint: str | None = None) -> ApiError:
    return ApiError(400, description, hint=hint)


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


AODH_PREFIX = "/v2"


def is_aodh_request(request: Request) -> bool:
    """Whether the request is for Aodh's v2 API, whose errors have Aodh's shape."""
    path = request.url.path.removeprefix(request.scope.get("root_path", ""))
    return path == AODH_PREFIX or path.startswith(AODH_PREFIX + "/")


def allowed_methods(request: Request) -> str:
    """Every method some route serves at the request's path (Starlette names only the first route's)."""
    routes = request.app.router.routes
    return ", ".join(method for method in ("DELETE", "GET", "PATCH", "POST", "PUT")
                     if any(r.matches({**request.scope, "method": method})[0] == Match.FULL for r in routes))


def aodh_http_message(status: int, method: str) -> str:
    """What Aodh says for the routing errors (no such path, no such method) and other bare statuses."""
    if status == 405:
        return f"The method {method} is not allowed for this resource."
    return EXPLANATIONS.get(status, HTTPStatus(status).phrase)


def aodh_error_response(status: int, message: Any, headers: dict[str, str] | None = None) -> Response:
    """Aodh's (WSME's) error body, JSON whatever the Accept header:
    `{"error_message": {"faultcode": "Client"|"Server", "faultstring": ..., "debuginfo": null}}`."""
    fault = {"faultcode": "Server" if status >= 500 else "Client", "faultstring": message, "debuginfo": None}
    return json_response({"error_message": fault}, status=status, headers=headers)
