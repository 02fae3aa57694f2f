"""What may be shown of a secret-bearing value: a URL without its user-info (trust ids, passwords).

One rule for every place that logs, records or answers an alarm action: history, logs, errors.
"""

from __future__ import annotations

import re

_USERINFO = re.compile(r"^([^:/?#]+://)[^/?#]*@")


def public_url(url: str) -> str:
    """``url`` without its user-info; textual, so that even a URL that does not parse loses its credentials."""
    return _USERINFO.sub(r"\1", url)
