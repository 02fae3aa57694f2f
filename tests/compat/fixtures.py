"""The fixture names the upstream gabbi files ask for.

Upstream, `ConfigFixture` builds a fresh Gnocchi per file; here the test starts a fresh `telescale serve`
per file before the suite runs, so the fixture itself has nothing left to do.
"""

from gabbi import fixture


class ConfigFixture(fixture.GabbiFixture):
    def start_fixture(self) -> None:
        pass

    def stop_fixture(self) -> None:
        pass
