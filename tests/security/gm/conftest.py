"""A gm hub binds the audit tree's and the subject map's hash for its whole process
(``merkle.use_profile``, ``vmap.use_profile``): every test here leaves the process as it found
it, under intl, for the tests after it on the same worker."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from exchange.audit import merkle, vmap


@pytest.fixture(autouse=True)
def _intl_tree_afterwards() -> Iterator[None]:
    yield
    merkle.use_profile("intl")
    vmap.use_profile("intl")
