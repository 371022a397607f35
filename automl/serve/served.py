"""Which model a service answers with, and following it while the service runs.

``automl serve`` takes a model folder or ``model:NAME`` (a model of the workspace catalog,
``model:OWNER/NAME`` for one shared with the serving user). :func:`resolve_served` is the one
place that says which version of a catalog model is served. :class:`ServedModel` asks it again
every :data:`RESOLVE_SECONDS` on a background thread (and watches a folder's metadata file), loads
a new version there and swaps it in between requests; when the new one cannot be loaded it keeps
serving the one it has, and logs why.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from automl.artifact import META_FILE
from automl.errors import EaselError, ParameterError
from automl.model import Model
from automl.workspace.catalog import Workspace, split_ref

MODEL_PREFIX = "model:"
RESOLVE_SECONDS = 2.0  # how often the catalog is asked again (one small query)
log = logging.getLogger("easel.serve")


def resolve_served(ws: Workspace, name: str) -> tuple[Path, int]:
    """The folder and version a service of ``model:NAME`` answers with: the version in the
    production stage, else (no version promoted yet) the newest version."""
    rec = ws.chosen_model(name)
    return ws.model_dir(rec), rec.version


@dataclass(frozen=True)
class Loaded:
    """A loaded model and where it came from."""

    model: Model
    path: Path
    version: int | None  # None: a folder outside the catalog
    stamp: int  # its metadata file's modification time (ns): a re-save changes it
    owner: str | None  # the catalog's owner and name of the model (None: not in the catalog)
    name: str | None

    @property
    def label(self) -> str:
        if self.name is None:
            return self.path.name
        return f"{self.name}@{self.version}"


def _stamp(path: Path) -> int:
    try:
        return (path / META_FILE).stat().st_mtime_ns
    except OSError:
        return 0


def _load(path: Path) -> Model:
    model = Model.load(path)
    if model.is_forecast:
        raise ParameterError(
            "This model forecasts a time series: the service answers rows one by one. Use "
            "'automl forecast' for a forecast, or serve a model that predicts rows."
        )
    return model


class ServedModel:
    """The model a service answers with (``current``), kept up to date by :meth:`refresh`.

    ``ref`` is a folder or ``model:NAME``; ``ws`` the workspace as the serving user sees it (it
    resolves ``model:NAME`` and tells which catalog model a folder is). Loading the first model
    raises :class:`EaselError` for anything wrong; later ones never raise."""

    def __init__(
        self, ref: str, ws: Workspace | None, resolve_seconds: float = RESOLVE_SECONDS
    ) -> None:
        self.ref = str(ref)
        self.ws = ws
        self.resolve_seconds = float(resolve_seconds)
        self.problem = ""  # why the version to serve is not served (empty when it is)
        self._failed: tuple[Path, int | None, int] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.current = self._loaded(*self._where())

    @property
    def in_catalog(self) -> bool:
        return self.ref.startswith(MODEL_PREFIX)

    def _where(self) -> tuple[Path, int | None]:
        if self.in_catalog:
            name = self.ref[len(MODEL_PREFIX) :].strip()
            if not name or self.ws is None:
                raise ParameterError(
                    "Say which model to serve after 'model:', e.g. model:churn (a model of the "
                    "workspace), or give a model folder."
                )
            return resolve_served(self.ws, name)
        return Path(self.ref).resolve(), None

    def _catalog_name(self, path: Path, version: int | None) -> tuple[str | None, str | None]:
        """The owner and name of the catalog model at ``path`` (None, None for another folder)."""
        if self.in_catalog and self.ws is not None:
            owner, name = split_ref(self.ref[len(MODEL_PREFIX) :])
            return (self.ws.user if owner is None else owner), name
        if self.ws is None:
            return None, None
        try:
            rel = str(path.relative_to(self.ws.root))
        except ValueError:
            return None, None
        with self.ws._db() as db:
            row = db.execute("SELECT owner, name FROM models WHERE path=?", (rel,)).fetchone()
        return (row["owner"], row["name"]) if row else (None, None)

    def _loaded(self, path: Path, version: int | None) -> Loaded:
        stamp = _stamp(path)
        model = _load(path)
        owner, name = self._catalog_name(path, version)
        return Loaded(model, path, version, stamp, owner, name)

    def refresh(self) -> bool:
        """Serve the version to serve (or the re-saved folder) if it changed and loads; returns
        whether the model changed. Never raises: a problem is logged and kept in ``problem``."""
        try:
            path, version = self._where()
        except EaselError as exc:  # e.g. the model was deleted or renamed: keep serving
            self._note(f"The served model cannot be found any more ({exc}); still serving "
                       f"{self.current.label}.")  # fmt: skip
            return False
        except Exception as exc:  # the catalog is busy or unreadable for a moment
            self._note(f"The catalog could not be read ({type(exc).__name__}: {exc}).")
            return False
        key = (path, version, _stamp(path))
        now = self.current
        if key == (now.path, now.version, now.stamp):
            self.problem = ""
            return False
        if key == self._failed:
            return False
        try:
            loaded = self._loaded(path, version)
        except Exception as exc:  # any failure: keep the model that works
            self._failed = key
            shown = f"version {version}" if version is not None else f"the folder {path}"
            self._note(
                f"The new {shown} could not be loaded, so {now.label} is still served: "
                f"{exc if isinstance(exc, EaselError) else type(exc).__name__ + ': ' + str(exc)}"
            )
            return False
        self.current, self.problem, self._failed = loaded, "", None
        log.warning("now serving %s (%s)", loaded.label, loaded.path)
        return True

    def _note(self, message: str) -> None:
        if message != self.problem:
            log.error("%s", message)
        self.problem = message

    # ------------------------------------------------------------------ the watcher thread
    def start(self) -> None:
        if self._thread is None and self.resolve_seconds > 0:
            self._stop.clear()
            self._thread = threading.Thread(target=self._watch, name="easel-resolve", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _watch(self) -> None:
        while not self._stop.wait(self.resolve_seconds):
            started = time.monotonic()
            self.refresh()
            if time.monotonic() - started > 60:  # pragma: no cover - a slow disk, say so
                log.warning("checking for a new model version took over a minute")
