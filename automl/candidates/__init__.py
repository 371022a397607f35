"""Registry of model families. Adding one is one module and one line here."""

from __future__ import annotations

from automl.candidates._base import Candidate, FitContext
from automl.candidates._forest import ForestCandidate
from automl.candidates._lightgbm import LightGBMCandidate
from automl.candidates._linear import LinearCandidate
from automl.candidates._xgboost import XGBoostCandidate
from automl.errors import ParameterError

REGISTRY: dict[str, type[Candidate]] = {
    LightGBMCandidate.name: LightGBMCandidate,
    LinearCandidate.name: LinearCandidate,
    ForestCandidate.name: ForestCandidate,
    XGBoostCandidate.name: XGBoostCandidate,
}


def get_candidate(name: str) -> type[Candidate]:
    """The candidate class registered as ``name``; unknown names list the valid ones."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise ParameterError(
            f"Unknown model family {name!r}. Use one of: {', '.join(sorted(REGISTRY))}."
        ) from None


__all__ = ["REGISTRY", "Candidate", "FitContext", "get_candidate"]
