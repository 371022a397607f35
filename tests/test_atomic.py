"""Nothing half-written is left behind: writes through a temporary, and the temporaries of
writers killed outright (kill -9) are removed once their writer is gone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pandas as pd
import pytest

from automl.atomic import atomic_path, sweep_stale, temp_path
from automl.errors import EaselError
from automl.workspace import Workspace

HOURS_AGO = 7 * 3600


def killed_writer(target: Path) -> Path:
    """A writer killed outright (kill -9) while it filled its temporary for ``target``."""
    code = (
        "import os, signal, sys\n"
        "from automl.atomic import temp_path\n"
        "tmp = temp_path(sys.argv[1])\n"
        "tmp.write_text('half a file')\n"
        "print(tmp, flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    res = subprocess.run(
        [sys.executable, "-c", code, str(target)], capture_output=True, text=True, check=False
    )
    assert res.returncode == -signal.SIGKILL, res.stderr
    tmp = Path(res.stdout.strip())
    assert tmp.exists() and tmp.parent == target.parent
    return tmp


def aged(path: Path, seconds: float) -> Path:
    """Set the modification time of ``path`` and all it holds ``seconds`` back."""
    when = time.time() - seconds
    for p in [*path.rglob("*"), path] if path.is_dir() else [path]:
        os.utime(p, (when, when))
    return path


def test_temporaries_of_killed_builds_and_scorings_are_removed_when_the_workspace_opens(
    tmp_path: Path,
):
    ws = Workspace(tmp_path / "ws")
    models, predictions = ws.root / "models", ws.root / "predictions"
    model_id = uuid.uuid4().hex
    killed = killed_writer(models / model_id)  # a build killed while saving its model
    scored = killed_writer(predictions / "session-rows-scored.csv")  # a scoring killed
    # what Model.save and add_dataset name their temporaries today: no process id, so judged by
    # age; a model folder untouched for hours has no writer left
    old_model = models / f".{uuid.uuid4().hex}.tmp-1a2b3c4d"
    (old_model / "candidates" / "0").mkdir(parents=True)
    (old_model / "candidates" / "0" / "model.txt").write_text("half")
    aged(old_model, HOURS_AGO)
    old_dataset = ws.root / "datasets" / f"{uuid.uuid4().hex}.tmp"
    old_dataset.write_bytes(b"PAR1 half")
    aged(old_dataset, HOURS_AGO)
    # a save in progress (recent, or its process alive), a finished model, a file not named by
    # Easel: kept
    saving = models / f".{uuid.uuid4().hex}.tmp-5e6f7a8b"
    (saving / "candidates").mkdir(parents=True)
    alive = temp_path(models / uuid.uuid4().hex)  # this process is alive
    alive.mkdir()
    aged(alive, HOURS_AGO - 600)
    finished = models / model_id
    finished.mkdir()
    aged(finished, HOURS_AGO)
    kept = predictions / "notes.tmp"
    kept.write_text("not a name Easel gives")
    aged(kept, HOURS_AGO)

    Workspace(ws.root)
    assert not killed.exists() and not scored.exists()
    assert not old_model.exists() and not old_dataset.exists()
    assert saving.exists() and alive.exists() and finished.exists() and kept.exists()


def test_sweep_in_a_users_folder_removes_only_the_targets_own_temporaries(tmp_path: Path):
    out = tmp_path / "scored.csv"
    mine = killed_writer(out)
    theirs = killed_writer(tmp_path / "budget.xlsx")
    lookalike = tmp_path / ".scored.csv.tmp-not-ours"
    lookalike.write_text("someone else's")
    aged(lookalike, HOURS_AGO)
    assert sweep_stale(tmp_path, of=out.name) == [mine]
    assert theirs.exists() and lookalike.exists()


@pytest.mark.parametrize("error", [KeyboardInterrupt, OSError])
def test_an_interrupted_write_leaves_the_old_file_as_it_was(tmp_path: Path, error: type):
    out = tmp_path / "forecast.csv"
    out.write_text("yesterday's forecast")
    with pytest.raises(error), atomic_path(out) as tmp:
        pd.DataFrame({"a": range(1000)}).to_csv(tmp, index=False)
        raise error()
    assert out.read_text() == "yesterday's forecast"
    assert [p.name for p in tmp_path.iterdir()] == ["forecast.csv"]


def test_a_workspace_under_a_file_is_refused_naming_the_file(tmp_path: Path):
    (tmp_path / "notes").write_text("mine")
    with pytest.raises(EaselError, match="'[^']*notes' is a file, not a folder"):
        Workspace(tmp_path / "notes" / "deeper" / "ws")
