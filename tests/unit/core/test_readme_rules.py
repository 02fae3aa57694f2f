"""The README example rules (tests/readme.py): what counts as a command, a shown output, a match."""

from __future__ import annotations

from tests import readme

TEXT = '''
Intro.

```sh
# prose before the first command
curl -u admin: http://localhost:8041/v1/metric \\
     -d '{"name": "cpu"}'    # trailing prose
# {"id": "...", "name": "cpu"}
echo done
    # indented prose, not output

# prose after a blank line
ls
```

```toml
[api]
port = 8041
```
'''


def test_commands_and_their_shown_output_are_found() -> None:
    (sh, toml) = readme.blocks(TEXT)
    assert (sh.language, toml.language) == ("sh", "toml")
    assert [b.language for b in readme.runnable(TEXT)] == ["sh"]
    first, second, third = sh.commands
    assert first.text.startswith("curl") and first.text.endswith("# trailing prose") and "\n" in first.text
    assert first.line == 6 and first.expected == ['{"id": "...", "name": "cpu"}']
    assert second.text == "echo done" and not second.shows_output
    assert third.text == "ls" and not third.shows_output


def test_json_output_matches_structurally_with_wildcards() -> None:
    assert readme.output_matches(['{"id": "...", "name": "cpu"}'], '{"name":"cpu","id":"4f0c"}')
    assert not readme.output_matches(['{"id": "...", "name": "cpu"}'], '{"name":"mem","id":"4f0c"}')
    assert not readme.output_matches(['{"name": "cpu"}'], '{"name":"cpu","id":"4f0c"}')  # unshown key
    assert readme.output_matches(['{"name": "cpu", "...": "..."}'], '{"name":"cpu","id":"4f0c"}')
    assert readme.output_matches(['[1, 2, "..."]'], "[1, 2, 3, 4]")
    assert not readme.output_matches(["[1, 2]"], "[1, 2, 3]")
    assert readme.output_matches(['[["2026-11-23T12:00:00+00:00", 300.0, 41.25]]'],
                                 '[["2026-11-23T12:00:00+00:00",300.0,41.25]]')
    assert not readme.output_matches(['[["2026-11-23T12:00:00+00:00", 300.0, 41.25]]'],
                                     '{"code":400,"title":"Bad Request","description":"..."}')
    assert not readme.output_matches(["[true]"], "[1]")


def test_text_output_matches_with_ellipsis() -> None:
    assert readme.output_matches(["usage: telescale ...", "...serve..."], "usage: telescale [-h]\n  serve  x\n")
    assert not readme.output_matches(["usage: telescale"], "usage: telescale [-h]")


def test_a_command_runs_on_while_a_quote_or_a_loop_is_open() -> None:
    text = "```sh\ncurl -d '{\"a\": 1,\n  \"b\": 2}' x\n# {}\nfor i in 1 2; do\n  echo $i\ndone\n# 1\n# 2\n```\n"
    (block,) = readme.blocks(text)
    first, loop = block.commands
    assert first.text.endswith("2}' x") and first.expected == ["{}"]
    assert loop.text.endswith("done") and loop.expected == ["1", "2"]
    assert not readme.complete("echo 'open") and readme.complete("echo 'closed'")


def test_curl_calls_are_recognised_with_their_method() -> None:
    calls = readme.curl_requests(
        "ID=$(curl -u admin: -d '{}' http://localhost:8041/v1/metric | jq -r .id); "
        "curl -X PATCH http://localhost:8041/v1/resource/instance/web-2 -d '{}'; "
        "curl -G http://localhost:8041/v1/search/resource/instance --data-urlencode 'filter=a' -X POST; "
        "curl \"http://localhost:8041/v1/metric/$ID/measures?refresh=true\"")
    assert calls == {("POST", "/v1/metric"), ("PATCH", "/v1/resource/instance/web-2"),
                     ("POST", "/v1/search/resource/instance"), ("GET", "/v1/metric/$ID/measures")}
    assert readme.operation_called("/v1/metric/{metric_id}/measures", "get", calls)
    assert not readme.operation_called("/v1/metric/{metric_id}", "get", calls)
    assert readme.operation_called("/v1/resource/{rtype}/{resource_id}", "patch", calls)
