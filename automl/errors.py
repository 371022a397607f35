"""One exception family for everything a user can get wrong.

Messages are written for an analyst: what is wrong, where (column, row, file), and what to do.
"""

from __future__ import annotations


class EaselError(Exception):
    """Base class of every error Easel raises for a user mistake or unusable input."""


class DataError(EaselError):
    """The input data cannot be read or used (empty, unreadable, too few rows)."""


class TargetError(EaselError):
    """The chosen target column cannot be learned (missing, constant, too many classes...)."""


class SchemaError(EaselError):
    """Rows given for prediction do not match the columns the model was trained on."""


class ArtifactError(EaselError):
    """A model directory is missing, damaged, or of an unknown schema version."""


class ParameterError(EaselError, ValueError):
    """A parameter passed to the public API has an invalid value."""


class NotFittedError(EaselError, AttributeError):
    """A method that needs a fitted model was called before ``fit``."""


class BudgetError(EaselError):
    """The time budget is too small to train even one model."""


class PolicyError(EaselError):
    """The server's administrator does not allow this (a data source, a host, a credential)."""


class ClusterError(EaselError):
    """The Dask cluster given with ``--cluster`` (or ``EASEL_DASK_SCHEDULER``) cannot be reached
    or used: no scheduler at the address, no workers, or workers that run another Easel."""


class EaselWarning(UserWarning):
    """Something was done to the input that the user should know about (e.g. values ignored)."""


def invalid_parameter(name: str, owner: str, rule: str, value: object) -> ParameterError:
    """Build the one message template used for parameter validation."""
    return ParameterError(
        f"The '{name}' parameter of {owner} must be {rule}. Got {value!r} instead."
    )
