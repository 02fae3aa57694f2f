"""`POST /v1/collectd`: collectd's write_http JSON stored under `collectd` resources, and its 4xx."""

from __future__ import annotations

from fastapi.testclient import TestClient

URL = "/v1/collectd"
T0 = 1795435200  # on a 5 minute boundary


def values(host: str, plugin: str, type_: str, value: float | None, *, dstype: str = "gauge", dsname: str = "value",
           time: float = T0, type_instance: str = "") -> dict:
    return {"values": [value], "dstypes": [dstype], "dsnames": [dsname], "time": time, "interval": 10.0,
            "host": host, "plugin": plugin, "plugin_instance": "", "type": type_, "type_instance": type_instance}


def test_value_lists_are_stored_under_one_collectd_resource_per_host(client: TestClient) -> None:
    body = [values("web-1", "memory", "memory", 1.5e9, type_instance="used"),
            values("web-1", "memory", "memory", 2.5e9, type_instance="used", time=T0 + 60),
            values("web-1", "load", "load", 0.5, dsname="shortterm"),
            values("web-1", "load", "load", None, dsname="midterm"),
            values("web-2", "cpu", "cpu", 1000, dstype="derive", type_instance="idle")]
    r = client.post(URL, json=body)
    assert (r.status_code, r.content) == (202, b"")
    web1 = client.get("/v1/resource/collectd/web-1").json()
    assert (web1["host"], sorted(web1["metrics"])) == ("web-1", ["load.load.shortterm", "memory.memory-used"])
    assert sorted(client.get("/v1/resource/collectd/web-2").json()["metrics"]) == ["cpu.cpu-idle"]
    r = client.get("/v1/resource/collectd/web-1/metric/memory.memory-used/measures", params={"refresh": "true"})
    assert r.json() == [["2026-11-23T12:00:00+00:00", 300.0, 2.0e9]]


def test_bad_value_lists_are_refused_whole_naming_the_field(client: TestClient) -> None:
    body = [values("web-1", "load", "load", 0.5), {**values("web-1", "cpu", "cpu", 1), "dstypes": ["rate"]}]
    r = client.post(URL, json=body)
    assert r.status_code == 400
    assert r.json()["description"]["reason"] == "[1].dstypes[0]: 'rate' is not one of absolute, counter, derive, gauge"
    assert client.get("/v1/resource/generic").json() == []
    assert client.post(URL, content=b"[]", headers={"content-type": "text/plain"}).status_code == 415
    assert client.post(URL, content=b"[", headers={"content-type": "application/json"}).status_code == 400
    assert client.post(URL, json=[]).status_code == 202
