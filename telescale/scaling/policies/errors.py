"""The one error the scaling maths raises for bad input, so the API can answer 400 with the message as is.

Every message names the offending field and what would be accepted, because the person reading it is the
one who wrote the policy."""

from __future__ import annotations


class PolicyError(ValueError):
    """A policy, schedule, behaviour or signal that cannot be used as written; ``status`` is the HTTP status
    the API should answer with (400 unless said otherwise)."""

    status: int = 400

    def __init__(self, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.status = status
