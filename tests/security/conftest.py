"""The attacker's view: one real hub over a demo world (``tongban demo`` then ``tongban serve``
on a free loopback port, ``dev`` mode so the development IdP hands out staff and citizen
tokens), shared by the security tests of a session. Tests that need a hub configured otherwise
(prod mode, no settings) start their own with :func:`tests.servers.serving`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.servers import DemoHub, demo_hub


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoHub]:
    with demo_hub(tmp_path_factory.mktemp("security-hub")) as hub:
        yield hub
