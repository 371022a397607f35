"""The small contract every model family implements.

A candidate family declares its encoding (``tree`` or ``linear``), a few default configurations
tried before any tuning, and an Optuna search space that scales with the data. A fitted candidate
predicts scores (binary: P(positive); multiclass: one column per class; regression: values) and
saves itself to files that run no code when loaded.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import optuna

from automl.candidates._files import mismatch_of

if TYPE_CHECKING:
    from automl.candidates._compiled import CompiledTrees

# How a family wants its features: "tree" (ordinal codes, missing values kept) or "linear"
# (one-hot, centred and scaled); the preprocessor builds one matrix per encoding in use.
ENCODINGS = ("tree", "linear")


@dataclass(frozen=True)
class FitContext:
    """What a fit needs besides the data: the task, the class count, a deadline, the seed."""

    task: str
    n_classes: int
    deadline: float
    seed: int = 0
    threads: int = 2
    # the same training and validation rows as other fits of this search (a sample of growing
    # samples): a family may keep what it builds from them for the next fit (``reuse`` holds it,
    # ``rows_key`` says which rows these are)
    reuse: dict[str, Any] | None = None
    rows_key: tuple[int, ...] | None = None

    def seconds_left(self) -> float:
        return self.deadline - time.monotonic()


class RoundClock:
    """For boosting callbacks: is the next round likely to finish after ``deadline``?"""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.start = time.monotonic()

    def next_round_late(self, rounds_done: int) -> bool:
        now = time.monotonic()
        return now + (now - self.start) / max(rounds_done, 1) > self.deadline


class Candidate(ABC):
    """One model family: search space, fit, predict, save and load."""

    name: ClassVar[str]
    label: ClassVar[str]
    encoding: ClassVar[str]  # one of ENCODINGS
    explained_by: ClassVar[str]  # how contributions() is computed, in words for reports
    # Search rows above which the family is not searched (its cost grows too fast); None: any.
    max_rows: ClassVar[int | None] = None
    # Trials take a fraction of a second: its default configurations run before the others'.
    cheap: ClassVar[bool] = False
    # On tables larger than the search sample, its best configurations move on to larger samples
    # (its cost must grow about in proportion to the rows, and it must honour the deadline).
    grows: ClassVar[bool] = False
    # Boosting rounds a fit with validation rows does past its best one (early stopping): a
    # trial's fold does them, a fit of its best rounds (a refit) does not.
    patience: ClassVar[int] = 0

    def __init__(self, params: dict[str, Any]) -> None:
        self.params = dict(params)
        self.fitted_: Any = None
        self.n_iterations_: int | None = None
        # loaded from files: (task, score columns, inputs) as the files say, for mismatch()
        self.file_shape_: tuple[str, int, int] | None = None

    @classmethod
    @abstractmethod
    def default_configs(cls, task: str, n_rows: int) -> list[dict[str, Any]]:
        """Configurations tried first, in order, before the search proposes any."""

    @classmethod
    def anchor_configs(cls, task: str) -> list[dict[str, Any]]:
        """For a family that grows: configurations that learn from all the rows of a big table
        whatever the small samples ranked first, in order (they also run on the first sample,
        which times them). A small sample ranks configurations for its own size; these are
        known to use many rows well within a short fit."""
        return []

    @classmethod
    @abstractmethod
    def suggest(cls, trial: optuna.Trial, task: str, n_rows: int) -> dict[str, Any]:
        """Sample one configuration from the search space."""

    @classmethod
    def suggest_growing(cls, trial: optuna.Trial, task: str, n_rows: int) -> dict[str, Any]:
        """For a family that grows: sample one configuration for a big table's first sample
        (the search space of :meth:`suggest` unless the family bounds what a small sample
        can rank)."""
        return cls.suggest(trial, task, n_rows)

    @classmethod
    def growing_config(cls, params: dict[str, Any]) -> dict[str, Any]:
        """For a family that grows: a default configuration as it runs on a big table's first
        sample (within :meth:`suggest_growing`'s space)."""
        return params

    @abstractmethod
    def fit(
        self,
        X: Any,
        y: np.ndarray,
        ctx: FitContext,
        X_val: Any = None,
        y_val: np.ndarray | None = None,
        categorical: list[int] | None = None,
    ) -> Candidate:
        """Fit; with validation data, boosting stops early. Must respect ``ctx.deadline``."""

    @abstractmethod
    def predict_scores(self, X: Any) -> np.ndarray:
        """Binary: P(positive) per row; multiclass: (rows, classes); regression: values."""

    @abstractmethod
    def save(self, directory: Path) -> None:
        """Write the fitted model into ``directory`` (created by the caller)."""

    @classmethod
    @abstractmethod
    def load(cls, directory: Path, params: dict[str, Any]) -> Candidate:
        """Read a model written by :meth:`save`. The files are hostile input: check them
        (``automl/candidates/_files.py``) and raise ArtifactError for any damage, before a
        native library reads them or prediction indexes arrays with their numbers."""

    def mismatch(self, task: str, n_classes: int, n_features: int) -> str | None:
        """Why this loaded model cannot serve a model of ``task`` with ``n_classes`` classes
        and ``n_features`` encoded inputs (in words, for an error message), or None if it can.
        The files' own shape (``file_shape_``, set by :meth:`load`) must be the model's."""
        if self.file_shape_ is None:
            return None
        return mismatch_of(self.file_shape_, task, n_classes, n_features)

    def contributions(self, X: Any) -> np.ndarray:
        """Per-row additive contributions of each encoded feature to the raw score (log-odds for
        classes, the target's units for numbers): shape (rows, features + 1, outputs), the last
        feature being the base value. Contributions plus base sum to the raw score."""
        raise NotImplementedError

    def importances(self, n_features: int) -> np.ndarray:
        """Non-negative importance per feature (for column impact); zeros if unknown."""
        return np.zeros(n_features)

    def compiled_trees(self) -> CompiledTrees | None:
        """This model compiled to native code for fast batch scoring (see ``_compiled``), or None
        when the family has no compiled form."""
        return None

    def score_compiled(self, trees: CompiledTrees) -> None:
        """Score with ``trees`` once they are compiled and checked (families with a compiled
        form only)."""
        raise NotImplementedError

    @classmethod
    def batched_rows(cls, n_rows: int, encode: Callable[[int, int], np.ndarray]) -> Any:
        """``n_rows`` rows that this family's ``fit`` reads a batch at a time, ``encode(start,
        stop)`` giving the dense rows ``start:stop`` (a fit on every row of a big table then
        holds no dense matrix of them all); None when its fit needs the dense matrix."""
        return None

    def fixed_iterations(self) -> dict[str, Any]:
        """Parameters that reproduce this fit without validation data (e.g. the tree count)."""
        return dict(self.params)
