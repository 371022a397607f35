"""Registry of model families. Adding one is one module and one :func:`register` line here.

A family is a :class:`Candidate` subclass: :func:`register` checks it once, with a clear error
for what is missing, so a family that registers runs in every search and every contract test
(``tests/contract/test_families.py`` runs over :data:`REGISTRY`). Presets name the families they
search (``automl/presets.py``); a family they do not name is searched when a user asks for it
(``candidates=[...]``), with one tuning share per search cycle unless the preset gives another.
"""

from __future__ import annotations

import inspect
import re
from typing import TypeVar

from automl.candidates._base import ENCODINGS, Candidate, FitContext
from automl.candidates._forest import ForestCandidate
from automl.candidates._knn import KNNCandidate
from automl.candidates._lightgbm import LightGBMCandidate
from automl.candidates._linear import LinearCandidate
from automl.candidates._xgboost import XGBoostCandidate
from automl.errors import ParameterError, invalid_parameter

REGISTRY: dict[str, type[Candidate]] = {}
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_TEXT_ATTRIBUTES = ("label", "explained_by")
C = TypeVar("C", bound=type[Candidate])


def _check(cls: type[Candidate]) -> None:
    """Raise ParameterError naming the first rule the family ``cls`` breaks."""
    if not (inspect.isclass(cls) and issubclass(cls, Candidate)):
        raise invalid_parameter("family", "register", "a subclass of Candidate", cls)
    owner = f"the model family {cls.__name__}"
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not _NAME.match(name):
        raise invalid_parameter(
            "name", owner, "a short lower-case name (letters, digits, '_'; e.g. 'lightgbm')", name
        )
    for attr in _TEXT_ATTRIBUTES:
        value = getattr(cls, attr, None)
        if not isinstance(value, str) or not value.strip():
            raise invalid_parameter(attr, owner, "a non-empty text", value)
    encoding = getattr(cls, "encoding", None)
    if encoding not in ENCODINGS:
        rule = "one of " + ", ".join(repr(e) for e in ENCODINGS)
        raise invalid_parameter("encoding", owner, rule, encoding)
    max_rows = cls.max_rows
    if max_rows is not None and (
        isinstance(max_rows, bool) or not isinstance(max_rows, int) or max_rows < 1
    ):
        raise invalid_parameter("max_rows", owner, "a positive whole number or None", max_rows)
    for flag in ("cheap", "grows"):
        if not isinstance(getattr(cls, flag), bool):
            raise invalid_parameter(flag, owner, "True or False", getattr(cls, flag))
    missing = set(getattr(cls, "__abstractmethods__", ()))
    if cls.contributions is Candidate.contributions:
        missing.add("contributions")  # not abstract in the ABC, but explanations need it
    if missing:
        raise ParameterError(
            f"The model family {cls.__name__} must implement {', '.join(sorted(missing))} (see "
            "automl/candidates/_base.py); they are missing."
        )
    if name in REGISTRY and REGISTRY[name] is not cls:
        raise ParameterError(
            f"A model family named {name!r} is already registered ({REGISTRY[name].__name__}); "
            f"give {cls.__name__} another name."
        )


def register(cls: C) -> C:
    """Check the model family ``cls`` and add it to :data:`REGISTRY` under ``cls.name``.

    Returns ``cls``, so it can decorate the class. Registering the same class twice is harmless;
    another class under a taken name is an error.
    """
    _check(cls)
    REGISTRY[cls.name] = cls
    return cls


register(LightGBMCandidate)
register(LinearCandidate)
register(ForestCandidate)
register(XGBoostCandidate)
register(KNNCandidate)


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


__all__ = [
    "ENCODINGS",
    "REGISTRY",
    "Candidate",
    "FitContext",
    "families_for",
    "get_candidate",
    "register",
]
