"""Settings: defaults, TOML file, environment and --set, in that order of precedence."""

from __future__ import annotations

from pathlib import Path

import pytest

from telescale import config


def test_defaults_run_embedded() -> None:
    s = config.load(environ={})
    assert s.api.port == 8041
    assert s.storage.data_dir == "./data"
    assert s.indexer_url.startswith("sqlite:///") and s.indexer_url.endswith("data/indexer.sqlite")
    assert s.indexer.create_default_archive_policies is True


def test_precedence_file_env_set(tmp_path: Path) -> None:
    f = tmp_path / "t.toml"
    f.write_text('[api]\nport = 9000\nmax_limit = 10\n[storage]\ndata_dir = "/srv/a"\n')
    s = config.load(f, environ={"TELESCALE_API__PORT": "9001", "TELESCALE_STORAGE__DATA_DIR": "/srv/b"},
                    overrides=["api.port=9002"])
    assert (s.api.port, s.api.max_limit, s.storage.data_dir) == (9002, 10, "/srv/b")


def test_set_reads_toml_values_and_plain_strings() -> None:
    s = config.load(environ={}, overrides=['api.cors_allowed_origins=["http://foobar.com"]',
                                           "indexer.url=postgresql://postgres@127.0.0.1/x",
                                           "indexer.create_default_archive_policies=false"])
    assert s.api.cors_allowed_origins == ["http://foobar.com"]
    assert s.indexer.url == "postgresql://postgres@127.0.0.1/x"
    assert s.indexer.create_default_archive_policies is False


@pytest.mark.parametrize("override, message", [
    ("api.nope=1", "unknown setting api.nope"),
    ("nope.port=1", "unknown configuration section 'nope'"),
    ("api.port=abc", "api.port: expected an integer"),
    ("api.port", "--set expects section.key=value"),
    ("indexer.create_default_archive_policies=maybe", "expected true or false"),
    ("api.port=0", "api.port: must be between 1 and 65535"),
    ("janitor.history_retention=-1", "janitor.history_retention: must be at least 0"),
    ("incoming.sacks=0", "incoming.sacks: must be at least 1"),
])
def test_bad_settings_are_named(override: str, message: str) -> None:
    with pytest.raises(config.ConfigError, match=message):
        config.load(environ={}, overrides=[override])


def test_missing_or_broken_file(tmp_path: Path) -> None:
    with pytest.raises(config.ConfigError, match="does not exist"):
        config.load(tmp_path / "missing.toml", environ={})
    bad = tmp_path / "bad.toml"
    bad.write_text("[api\n")
    with pytest.raises(config.ConfigError, match="not valid TOML"):
        config.load(bad, environ={})


def test_free_form_keystone_section_takes_any_key() -> None:
    s = config.load(environ={"TELESCALE_KEYSTONE_AUTHTOKEN__AUTH_URL": "http://k:5000"},
                    overrides=["keystone_authtoken.memcached_servers=127.0.0.1:11211"])
    assert s.keystone_authtoken == {"auth_url": "http://k:5000", "memcached_servers": "127.0.0.1:11211"}


@pytest.mark.parametrize("overrides, expected", [
    ([], False), (["api.access_log=true"], True), (["logging.level=debug"], True),
    (["api.access_log=false", "logging.level=WARNING"], False),
])
def test_access_log_is_on_when_asked_or_when_debugging(overrides: list[str], expected: bool) -> None:
    from telescale import service

    assert service.access_log(config.load(environ={}, overrides=overrides)) is expected
