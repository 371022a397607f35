"""Registry of model families. Adding one is one module and one line here."""

from __future__ import annotations

from automl.candidates._base import Candidate, FitContext
from automl.candidates._forest import ForestCandidate
from automl.candidates._knn import KNNCandidate
from automl.candidates._lightgbm import LightGBMCandidate
from automl.candidates._linear import LinearCandidate
from automl.candidates._xgboost import XGBoostCandidate
from automl.errors import ParameterError

REGISTRY: dict[str, type[Candidate]] = {
    LightGBMCandidate.name: LightGBMCandidate,
    LinearCandidate.name: LinearCandidate,
    ForestCandidate.name: ForestCandidate,
    XGBoostCandidate.name: XGBoostCandidate,
    KNNCandidate.name: KNNCandidate,
}


def get_candidate(name: str) -> type[Candidate]:
    """The candidate class registered as ``name``; unknown names list the valid ones."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise ParameterError(
            f"Unknown model family {name!r}. Use one of: {', '.join(sorted(REGISTRY))}."
        ) from None


def families_for(families: list[str], n_rows: int, chosen: bool) -> tuple[list[str], list[str]]:
    """The families that can be searched on ``n_rows`` search rows, and what to tell the user
    about the others (only when the user ``chosen`` the families; a preset's are skipped quietly).
    """
    usable, notes = [], []
    for f in families:
        limit = get_candidate(f).max_rows
        if limit is None or n_rows <= limit:
            usable.append(f)
        elif chosen:
            notes.append(
                f"The model family '{f}' was not searched: it works on at most {limit:,} rows "
                f"and this search has {n_rows:,}."
            )
    if not usable:
        raise ParameterError(
            f"None of the chosen model families can be searched on {n_rows:,} rows: "
            + " ".join(notes)
            + " Add another family to 'candidates' (for example 'lightgbm')."
        )
    return usable, notes


__all__ = ["REGISTRY", "Candidate", "FitContext", "families_for", "get_candidate"]
