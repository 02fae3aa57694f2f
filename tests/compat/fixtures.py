"""The fixture names the upstream gabbi files ask for.

Upstream, Gnocchi's and Aodh's `ConfigFixture` build a fresh service per file and Aodh's
`CORSConfigFixture` allows the origin http://valid.example.com; here the test starts a fresh
`telescale serve` per file, with those settings, before the suite runs, so the fixtures themselves have
nothing left to do.
"""

from gabbi import fixture


class ConfigFixture(fixture.GabbiFixture):
    def start_fixture(self) -> None:
        pass

    def stop_fixture(self) -> None:
        pass


class CORSConfigFixture(fixture.GabbiFixture):
    def start_fixture(self) -> None:
        pass

    def stop_fixture(self) -> None:
        pass
