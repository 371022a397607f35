"""Registry: a source kind maps to ``"module:Class"``; new sources register without core changes."""

from __future__ import annotations

import importlib

from automl.errors import DataError
from connectors._base import Connector

REGISTRY: dict[str, str] = {
    "file": "connectors.files:FileConnector",
    "sql": "connectors.sql:SqlConnector",
    "s3": "connectors.s3:S3Connector",
}


def register(kind: str, target: str) -> None:
    """Register ``target`` (``"module:Class"``) for sources of ``kind``."""
    REGISTRY[kind] = target


def get_connector(kind: str) -> type[Connector]:
    """The connector class for ``kind``; unknown kinds list the known ones."""
    if kind not in REGISTRY:
        raise DataError(
            f"Source kind not known: {kind!r}. Known kinds: {', '.join(sorted(REGISTRY))}."
        )
    module, _, name = REGISTRY[kind].partition(":")
    cls: type[Connector] = getattr(importlib.import_module(module), name)
    return cls
