"""README's agent configuration examples (its ```yaml blocks in the agent section) are agent files
`telescale agent --config` accepts as they are: every key known, every transformer and expression valid."""

from __future__ import annotations

import pytest

from telescale.metering.config import ConfigError, parse
from tests import readme

SECTION = "## The metering agent"


def _agent_section_blocks() -> list[readme.Block]:
    text = readme.README.read_text()
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    first_line = text.count("\n", 0, start)
    found = readme.blocks(text[start:end if end >= 0 else None])
    for block in found:
        block.line += first_line
    return [b for b in found if b.language == "yaml"]


def test_every_agent_yaml_example_in_readme_loads() -> None:
    blocks = _agent_section_blocks()
    assert len(blocks) >= 4, "README lost its agent configuration examples"
    for block in blocks:
        try:
            parse(block.body, f"README line {block.line}")
        except ConfigError as e:
            pytest.fail(str(e))
