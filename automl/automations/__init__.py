"""Automations: what Easel does without a click.

* "score new versions": each new version of a dataset is scored with a model's production
  version, and the answers saved as a dataset of their own (lineage ``scored``);
* "refresh": a dataset imported from a database, object storage or a server file is read again
  from its recorded source every N hours or days.

The catalog side (tables, leases, runs) is :mod:`automl.workspace.automations`; this package
adds them with their checks and runs the due ones (:func:`run_due`), for ``automl automations``
(``commands.py``), the app's Automations page, Home page and background runner. Names load on
first use, so ``automl --help`` loads no machine-learning library.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from automl.automations.runner import (
        BackgroundRunner,
        Outcome,
        add_refresh,
        add_score,
        background_every,
        model_for_automation,
        run_due,
        score_version,
        start_background,
    )
    from automl.workspace.automations import (
        Automation,
        AutomationStore,
        every_text,
        parse_every,
    )

_STORE = ("Automation", "AutomationStore", "every_text", "parse_every")
__all__ = [
    "Automation",
    "AutomationStore",
    "BackgroundRunner",
    "Outcome",
    "add_refresh",
    "add_score",
    "background_every",
    "every_text",
    "model_for_automation",
    "parse_every",
    "run_due",
    "score_version",
    "start_background",
]


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module 'automl.automations' has no attribute {name!r}")
    where = "automl.workspace.automations" if name in _STORE else "automl.automations.runner"
    return getattr(importlib.import_module(where), name)
