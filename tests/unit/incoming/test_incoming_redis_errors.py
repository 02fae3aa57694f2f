"""The redis incoming driver without a server: configuration errors and an unreachable Redis surface as
exceptions (the API answers 503), never as a silently dropped write."""

from __future__ import annotations

import socket
import uuid

import numpy as np
import pytest
import redis

from telescale import drivers
from telescale.config import ConfigError, load
from telescale.incoming.redis import RedisIncoming


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_redis_driver_needs_a_url() -> None:
    with pytest.raises(ConfigError, match="incoming.redis_url"):
        drivers.build_incoming(load(environ={}, overrides=["incoming.driver=redis"]))


def test_building_needs_no_server_and_errors_propagate() -> None:
    url = f"redis://127.0.0.1:{_closed_port()}/0"
    inc = drivers.build_incoming(load(environ={}, overrides=["incoming.driver=redis", f"incoming.redis_url={url}",
                                                             "incoming.sacks=3"]))
    assert isinstance(inc, RedisIncoming) and inc.sacks == 3 and inc.prefix == "telescale"
    m = uuid.uuid4()
    with pytest.raises(redis.ConnectionError):
        inc.add_measures({m: (np.array([1]), np.array([1.0]))})
    for call in (inc.sacks_with_work, inc.work_times, inc.backlog, lambda: inc.read_sack(0),
                 lambda: inc.pending_for_metric(m)):
        with pytest.raises(redis.ConnectionError):
            call()
    inc.close()


def test_a_client_that_decodes_responses_is_refused() -> None:
    client = redis.Redis(port=_closed_port(), decode_responses=True)
    with pytest.raises(ValueError, match="decode_responses"):
        RedisIncoming(client=client)
    with pytest.raises(ValueError, match="URL or a client"):
        RedisIncoming()
