"""README.md's shell examples as data: which commands it shows, and the output it says they print.

The rules a README example follows so that `tests/e2e/test_readme_examples.py` can run it:

* every fenced block marked ```` ```sh ```` is run, in README order, in one bash session (so a variable
  such as ``ID=$(…)`` set in one block is seen by the next);
* a command is one line, or several when a line ends with a backslash or leaves a quote or a loop open;
* lines that start at column 0 with ``#`` right after a command are the output the command prints
  (without the ``# ``); an indented ``#`` line, or a comment before the first command, is prose;
* a shown output is compared as JSON when it parses as JSON (also line by line), else as text;
* in a shown output, ``...`` stands for any text (inside a JSON string, for the rest of that string; as a
  list's last element, for any further elements; as a key ``"...": "..."``, for any further keys);
* a command with no shown output must succeed (curl runs with ``--fail-with-body``); one with a shown
  output is judged by its output alone, so an example may show an error answer.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

README = Path(__file__).resolve().parent.parent / "README.md"
RUN_LANGUAGES = frozenset({"sh"})
ELLIPSIS = "..."


@dataclass
class Command:
    text: str          # the command as bash reads it (continuation lines joined)
    line: int          # README line number of its first line
    expected: list[str] = field(default_factory=list)  # shown output lines, '# ' stripped

    @property
    def shows_output(self) -> bool:
        return bool(self.expected)


@dataclass
class Block:
    language: str
    line: int
    body: str
    commands: list[Command]  # parsed for the languages that are run only


def blocks(text: str) -> list[Block]:
    """Every fenced block of a Markdown text, with the commands of those that are run."""
    out: list[Block] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        fence = re.match(r"^```(\S*)", lines[i])
        if not fence:
            i += 1
            continue
        start, body = i + 1, []
        i += 1
        while i < len(lines) and not lines[i].startswith("```"):
            body.append(lines[i])
            i += 1
        language = fence.group(1)
        commands = _commands(body, start + 1) if language in RUN_LANGUAGES else []
        out.append(Block(language, start + 1, "\n".join(body), commands))
        i += 1
    return out


def complete(text: str) -> bool:
    """Whether bash would run ``text`` as it stands: no trailing backslash, no open quote, no open loop."""
    if text.rstrip().endswith("\\"):
        return False
    try:
        words = shlex.split(text, comments=True)
    except ValueError:  # "No closing quotation"
        return False
    return words.count("do") <= words.count("done") and words.count("then") <= words.count("fi")


def _commands(body: list[str], first_line: int) -> list[Command]:
    commands: list[Command] = []
    pending: list[str] = []
    pending_line = 0
    collecting = False  # right after a command, column-0 '#' lines are its output until a blank line
    for offset, raw in enumerate(body):
        number = first_line + offset
        if pending:
            pending.append(raw)
        elif raw.startswith("#") and collecting:
            commands[-1].expected.append(raw[2:] if raw.startswith("# ") else raw[1:])
            continue
        elif not raw.strip() or raw.lstrip().startswith("#"):
            collecting = collecting and bool(raw.strip())
            continue
        else:
            pending, pending_line = [raw], number
        if complete("\n".join(pending)):
            commands.append(Command("\n".join(pending), pending_line))
            pending, collecting = [], True
    if pending:
        raise ValueError(f"README line {pending_line}: the command never ends (an open quote or loop?)")
    return commands


def runnable(text: str) -> list[Block]:
    return [b for b in blocks(text) if b.language in RUN_LANGUAGES]


# ---------------------------------------------------------------------------------------------------
# comparing a shown output with the real one


def _string_matches(expected: str, actual: str) -> bool:
    if ELLIPSIS not in expected:
        return expected == actual
    pattern = ".*".join(re.escape(part) for part in expected.split(ELLIPSIS))
    return re.fullmatch(pattern, actual, flags=re.DOTALL) is not None


def json_matches(expected: Any, actual: Any) -> bool:
    """Structural comparison with the ``...`` wildcards of the module docstring."""
    if isinstance(expected, str):
        return isinstance(actual, str) and _string_matches(expected, actual)
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return False
        if expected and expected[-1] == ELLIPSIS:
            head = expected[:-1]
            return len(actual) >= len(head) and all(json_matches(e, a) for e, a in zip(head, actual, strict=False))
        return len(expected) == len(actual) and all(json_matches(e, a) for e, a in zip(expected, actual, strict=True))
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return False
        open_ended = expected.get(ELLIPSIS) == ELLIPSIS
        keys = set(expected) - ({ELLIPSIS} if open_ended else set())
        if not keys <= set(actual) or (not open_ended and set(actual) != keys):
            return False
        return all(json_matches(expected[k], actual[k]) for k in keys)
    if isinstance(expected, bool) or expected is None:
        return expected is actual
    if isinstance(expected, int | float):
        return isinstance(actual, int | float) and not isinstance(actual, bool) and float(expected) == float(actual)
    return expected == actual


def output_matches(expected_lines: list[str], actual: str) -> bool:
    """The shown output against what the command printed: as JSON when both parse, else as text."""
    expected = "\n".join(expected_lines).strip()
    actual = actual.strip()
    try:
        return json_matches(json.loads(expected), json.loads(actual))
    except ValueError:
        pass
    lines = actual.splitlines()
    if len(lines) == len(expected_lines) > 1:  # one JSON document per line (jq over a loop)
        try:
            return all(json_matches(json.loads(e), json.loads(a)) for e, a in zip(expected_lines, lines, strict=True))
        except ValueError:
            pass
    normalise = "\n".join(line.rstrip() for line in actual.splitlines())
    return _string_matches(expected, normalise)


# ---------------------------------------------------------------------------------------------------
# which API operations the examples call


def curl_requests(command: str, host: str = "localhost:8041") -> set[tuple[str, str]]:
    """``(METHOD, path)`` of every curl call to ``host`` in a command (``$VAR`` left in the path)."""
    found: set[tuple[str, str]] = set()
    for call in re.split(r"\bcurl\b", command)[1:]:
        lexer = shlex.shlex(call.replace("\\\n", " "), posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        words = []
        try:
            for word in lexer:
                if word and set(word) <= set("|;&()"):  # the end of this curl call
                    break
                words.append(word)
        except ValueError:
            continue
        urls = [w for w in words if host in w]
        if not urls:
            continue
        method = None
        for flag, value in zip(words, [*words[1:], ""], strict=True):
            if flag in ("-X", "--request"):
                method = value
        has_data = any(w in ("-d", "--data", "--data-urlencode", "--data-binary") for w in words)
        if method is None:
            method = "GET" if "-G" in words or not has_data else "POST"
        path = urls[0].split(host, 1)[1].split("?", 1)[0] or "/"
        found.add((method.upper(), path))
    return found


def operation_called(template: str, method: str, calls: set[tuple[str, str]]) -> bool:
    """Whether one of ``calls`` is ``METHOD template`` (an OpenAPI path with ``{param}`` parts)."""
    pattern = re.compile("^" + re.sub(r"\\{[^/]+?\\}", "[^/]+", re.escape(template)) + "/?$")
    return any(m == method.upper() and pattern.match(path) for m, path in calls)
