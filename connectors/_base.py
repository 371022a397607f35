"""The small interface every data source implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator

import pandas as pd


class Connector(ABC):
    """Reads one source into a pandas DataFrame. Options live in a small typed dataclass."""

    kind: str

    @abstractmethod
    def read(self) -> pd.DataFrame:
        """The whole source as a DataFrame (errors: :class:`automl.errors.DataError`)."""

    @abstractmethod
    def describe(self) -> str:
        """A human description of the source, never containing credentials."""

    def iter_chunks(self, chunk_rows: int) -> Iterator[pd.DataFrame]:
        """The source in chunks of at most ``chunk_rows`` rows (default: one chunk)."""
        yield self.read()
