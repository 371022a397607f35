"""Registry: each source kind maps to ``"module:Class"`` and says how it recognizes a source.

:func:`connectors.open_source` walks the registry, newest registration first, and builds the first
kind whose ``recognizes`` accepts the source text, so a new kind can claim sources that a built-in
fallback (a database URL, a local path) would otherwise take. Recognizers are cheap tests on the
text (a scheme, a URL shape, "a local path") that import nothing, so opening a CSV file never loads
a database driver; the connector module is imported only when its kind is chosen. Adding a source
is one module with a :class:`~connectors._base.Connector` subclass plus one :func:`register` call.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass

from automl.errors import DataError, PolicyError
from connectors._base import Connector, SourceRequest
from connectors._secrets import redact_url
from connectors.policy import effective

_DATABASE_URL = re.compile(r"^[A-Za-z][A-Za-z0-9]*(\+[A-Za-z0-9_]+)?://")
# schemes that look like ``dialect://`` but are never databases
_NOT_DATABASES = ("s3://", "http://", "https://", "file://")


@dataclass(frozen=True)
class SourceKind:
    """One registered kind of source.

    ``target`` is ``"module:Class"`` (imported on first use); ``recognizes`` tells from the source
    text whether this kind reads it; ``example`` shows the user what such a source looks like;
    ``requires`` names the package to install when the module cannot be imported.
    """

    kind: str
    target: str
    recognizes: Callable[[str], bool]
    example: str
    requires: str | None = None


def has_scheme(*schemes: str) -> Callable[[str], bool]:
    """A recognizer for sources written ``scheme://...`` (case-insensitive)."""
    prefixes = tuple(f"{s.lower()}://" for s in schemes)
    return lambda text: text.strip().lower().startswith(prefixes)


def is_database_url(source: str) -> bool:
    """Whether ``source`` looks like a SQLAlchemy URL (``dialect[+driver]://...``)."""
    text = source.strip()
    return _DATABASE_URL.match(text) is not None and not text.lower().startswith(_NOT_DATABASES)


def is_local_path(source: str) -> bool:
    """Whether ``source`` is a path on this machine (anything without a ``scheme://``)."""
    return "://" not in source


REGISTRY: dict[str, SourceKind] = {}


def register(
    kind: str,
    target: str,
    *,
    recognizes: Callable[[str], bool],
    example: str,
    requires: str | None = None,
) -> None:
    """Register ``target`` (``"module:Class"``) for sources of ``kind``.

    Kinds are tried newest first; registering an existing kind again replaces it and keeps its
    place. ``recognizes`` must import nothing (it runs for every source opened).
    """
    module, sep, name = target.partition(":")
    if not (module and sep and name):
        raise ValueError(f"A connector target is written 'module:Class'; got {target!r}.")
    REGISTRY[kind] = SourceKind(kind, target, recognizes, example, requires)


def get_connector(kind: str) -> type[Connector]:
    """The connector class for ``kind``; unknown kinds list the known ones."""
    if kind not in REGISTRY:
        raise DataError(
            f"Source kind not known: {kind!r}. Known kinds: {', '.join(sorted(REGISTRY))}."
        )
    entry = REGISTRY[kind]
    module, _, name = entry.target.partition(":")
    try:
        imported = importlib.import_module(module)
    except ImportError as exc:
        if entry.requires is None:
            raise
        raise DataError(
            f"Reading {kind} sources needs the package '{entry.requires}' ({exc}). Install it "
            f"with 'pip install {entry.requires}'."
        ) from None
    cls: type[Connector] = getattr(imported, name)
    return cls


def kind_of(source: str) -> str:
    """The first registered kind that recognizes ``source``; a clear error listing the supported
    kinds of source when none does."""
    order = list(reversed(REGISTRY.values()))
    for entry in order:
        if entry.recognizes(source):
            return entry.kind
    supported = "; ".join(f"{e.kind}: {e.example}" for e in order)
    shown = redact_url(source[:300], drop_user=True)
    raise DataError(f"Source not known: '{shown}'. Supported sources are {supported}.")


def connect(request: SourceRequest) -> Connector:
    """The connector for ``request``, built by the kind that recognizes its source. The
    connector checks ``request.policy`` before it opens anything; a kind that cannot check a
    policy is refused under a restricting one."""
    kind = kind_of(request.source)
    cls = get_connector(kind)
    if not effective(request.policy).is_permissive and not cls.enforces_policy:
        raise PolicyError(
            f"This server's administrator restricts where data may be read from, and {kind} "
            "sources cannot be checked against those rules, so they are not allowed here."
        )
    return cls.from_request(request)


# Built-in sources, tried in the reverse order: s3, then any other URL as a database, then a path.
register(
    "file",
    "connectors.files:FileConnector",
    recognizes=is_local_path,
    example="a file path such as data/sales.csv (.csv, .parquet, .json, .xlsx ...)",
)
register(
    "sql",
    "connectors.sql:SqlConnector",
    recognizes=is_database_url,
    example="a database URL such as sqlite:///shop.db or postgresql://user@host/db",
    requires="sqlalchemy",
)
register(
    "s3",
    "connectors.s3:S3Connector",
    recognizes=has_scheme("s3"),
    example="an object storage address such as s3://bucket/path/file.csv",
)
