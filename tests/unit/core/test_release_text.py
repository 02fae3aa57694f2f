"""The program says what this release does, and only that: --help, OpenAPI and the package metadata."""

from __future__ import annotations

import tomllib
from pathlib import Path

import telescale
from telescale.api import openapi
from telescale.cli import build_parser

PROMISED_LATER = ("s3", "web ui", "query api")


def _present_tense(text: str) -> str:
    """The text without the sentence that says what comes later."""
    return text.replace("".join(telescale.LATER.split()), "").lower()


def test_help_and_openapi_say_what_exists_and_what_comes_later() -> None:
    help_text = "".join(build_parser().format_help().split())  # argparse wraps lines, also at hyphens
    for text in (help_text, "".join(openapi.DESCRIPTION.split())):
        assert "".join(telescale.LATER.split()) in text
        assert not any(word in _present_tense(text) for word in PROMISED_LATER), text
    assert "".join(telescale.SUMMARY.split()) in help_text


def test_package_description_promises_nothing_that_is_not_there() -> None:
    project = tomllib.loads((Path(__file__).parents[3] / "pyproject.toml").read_text())["project"]
    description = project["description"].lower()
    assert "gnocchi" in description and "later releases" in description
    assert not any(word in description.split("in later releases")[0].split(";")[0] for word in PROMISED_LATER)
