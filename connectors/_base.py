"""The small interface every data source implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

import pandas as pd

if TYPE_CHECKING:
    from connectors.policy import SourcePolicy


@dataclass(frozen=True)
class SourceRequest:
    """What :func:`connectors.open_source` was given: the source text and every option a front
    door can pass. Each connector takes the options that apply to it and rejects the ones that
    cannot (a table for a file, a sheet for a database ...). Secrets are left out of ``repr``.

    ``anonymous`` reads a public bucket without keys; ``server_credentials`` is the explicit
    choice of the server's own cloud credentials when no keys are given; ``policy`` says where
    this server may read from (None: anywhere, as in personal mode)."""

    source: str
    table: str | None = None
    query: str | None = None
    sheet: str | int | None = None
    limit: int | None = None
    password: str | None = field(default=None, repr=False)
    endpoint_url: str | None = None
    access_key: str | None = field(default=None, repr=False)
    secret_key: str | None = field(default=None, repr=False)
    max_bytes: int | None = None
    anonymous: bool = False
    server_credentials: bool = False
    policy: SourcePolicy | None = field(default=None, repr=False)


class Connector(ABC):
    """Reads one source into a pandas DataFrame. Options live in a small typed dataclass.

    A connector that checks a :class:`~connectors.policy.SourcePolicy` before it opens anything
    sets ``enforces_policy``; :func:`connectors.open_source` refuses a restricting policy for a
    kind that does not, so a new connector cannot become a way around the administrator's rules.
    """

    kind: str
    enforces_policy: ClassVar[bool] = False

    @classmethod
    @abstractmethod
    def from_request(cls, request: SourceRequest) -> Connector:
        """The connector for ``request`` (errors for options that do not apply to this kind)."""

    @abstractmethod
    def read(self) -> pd.DataFrame:
        """The whole source as a DataFrame (errors: :class:`automl.errors.DataError`)."""

    @abstractmethod
    def describe(self) -> str:
        """A human description of the source, never containing credentials."""

    def reading_note(self) -> str:
        """After :meth:`read`, how the source was interpreted, in plain words (a text file's
        separator, decimal mark and character encoding); "" when there is nothing to say."""
        return ""

    def iter_chunks(self, chunk_rows: int) -> Iterator[pd.DataFrame]:
        """The source in chunks of at most ``chunk_rows`` rows. This default cuts one whole read
        into pieces (no memory saved); sources that can stream override it."""
        df = self.read()
        for start in range(0, max(len(df), 1), chunk_rows):
            yield df.iloc[start : start + chunk_rows]
