"""The prediction service: ``automl serve`` answers predictions over HTTP (FastAPI + uvicorn).

A front door beside the command line and the app: it reads a model through :class:`Model`
and the workspace, and holds no ML of its own. Its parts:

- :mod:`automl.serve.served`: which model is served (a folder, or ``model:NAME`` of the
  catalog, re-resolved while the service runs so a new version is followed without restart);
- :mod:`automl.serve.rows`: the rows a request sends, checked and read as the model's columns,
  and the answers as JSON; the request's schema for the OpenAPI document;
- :mod:`automl.serve.keys`: API keys of team mode (only their hashes are stored);
- :mod:`automl.serve.service`: the FastAPI application (endpoints, errors, metrics);
- :mod:`automl.serve.commands`: ``automl serve`` and ``automl keys``;
- :mod:`automl.serve.launcher`: services the Models page starts and stops in the background.

Importing this package loads nothing (``automl --help`` stays quick): FastAPI, uvicorn and
the engine are imported by the modules that need them.
"""

DEFAULT_MAX_ROWS = 10_000  # rows per request (--max-rows)
DEFAULT_MAX_BODY_MB = 32  # the largest request body (--max-body-mb)
