"""The app's tests: their servers and browsers may use every core."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module", autouse=True)
def _every_core(every_core: None) -> None:
    """(see tests/conftest.py, ``every_core``)"""
