"""Session-state keys shared by pages, named in one place (page-local keys carry a page prefix)."""

from __future__ import annotations

WORKSPACE = "workspace"  # automl.workspace.Workspace of this app
SESSION_ID = "session_id"  # per-browser-session id (keeps uploads apart)
CURRENT_JOB = "current_job"  # id of the build job this session is following
CURRENT_MODEL = "current_model"  # "name@version" picked on Analyze/Predict
CURRENT_DATASET = "current_dataset"  # dataset picked on Build
USER = "user"  # automl.workspace.users.User signed in (team mode only)
