"""The FastAPI application of ``automl serve``: endpoints, keys, errors and metrics.

Every answer is JSON (or CSV from ``/predict/csv``, Prometheus text from ``/metrics``); an error
is ``{"error": "...", "problems": [...]}`` in plain words with its status, never a traceback.
Bodies are limited in bytes before they are parsed, rows per request by ``max_rows``; at most
:data:`SCORING_SLOTS` requests read and score at a time (the others wait their turn, unread), so
memory stays bounded however many clients call. In team mode every request but ``/health`` needs
an API key (:mod:`automl.serve.keys`) whose user may use the served model.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import anyio
import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.staticfiles import StaticFiles
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
)
from prometheus_client import generate_latest as prometheus_text
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from swagger_ui_bundle import swagger_ui_path

from automl._version import __version__
from automl.errors import EaselError, PolicyError
from automl.serve import DEFAULT_MAX_BODY_MB, DEFAULT_MAX_ROWS
from automl.serve import rows as rows_mod
from automl.serve.keys import key_user
from automl.serve.rows import RowsError
from automl.serve.served import ServedModel
from automl.words import PROBLEM_WORDS
from automl.workspace.users import SignInError, Team, User

if TYPE_CHECKING:
    from automl.batch import BatchResult

SCORING_SLOTS = max(2, os.cpu_count() or 2)
DOCS_ASSETS = "/docs-assets"
AUTH_CACHE_SECONDS = 2.0  # a revoked key or unshared model is refused within this time
_CACHE_LIMIT = 1000
ENDPOINTS = ("/predict", "/predict/csv", "/schema", "/health", "/metrics", "/docs", "/openapi.json")
log = logging.getLogger("easel.serve")


@dataclass(frozen=True)
class ServiceSettings:
    """How a service answers: limits, and ``team`` (None in personal mode: no keys).
    ``personal``: the workspace's team of a personal-mode service, asked whether users were
    added since it started (then it refuses every request: it cannot check keys)."""

    max_rows: int = DEFAULT_MAX_ROWS
    max_body_bytes: int = DEFAULT_MAX_BODY_MB * 1024 * 1024
    team: Team | None = None
    personal: Team | None = None


class _Metrics:
    def __init__(self) -> None:
        disable_created_metrics()  # no *_created series: counters and their buckets only
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "easel_requests",
            "Requests answered, by endpoint and status",
            ["endpoint", "status"],
            registry=self.registry,
        )
        self.errors = Counter(
            "easel_request_errors",
            "Requests answered with an error: 'client' (4xx) or 'server' (5xx)",
            ["endpoint", "kind"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "easel_request_seconds",
            "Time to answer a request, by endpoint",
            ["endpoint"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=self.registry,
        )
        self.rows = Counter(
            "easel_rows_scored", "Rows scored (JSON and CSV)", registry=self.registry
        )
        self.drift = Counter(
            "easel_batch_drift",
            "CSV batches by drift verdict against the training rows (none, some, severe)",
            ["verdict"],
            registry=self.registry,
        )

    def record(self, endpoint: str, status: int, seconds: float) -> None:
        self.requests.labels(endpoint, str(status)).inc()
        self.latency.labels(endpoint).observe(seconds)
        if status >= 400:
            self.errors.labels(endpoint, "server" if status >= 500 else "client").inc()


def _error(status: int, message: str, problems: list[dict[str, Any]] | None = None,
           headers: dict[str, str] | None = None) -> JSONResponse:  # fmt: skip
    body: dict[str, Any] = {"error": message}
    if problems:
        body["problems"] = problems
    return JSONResponse(body, status_code=status, headers=headers)


class _Guard:
    """Outermost layer: refuses a body whose declared length is over the limit before anything
    reads it, and times and counts every request for ``/metrics``."""

    def __init__(self, app: ASGIApp, metrics: _Metrics, max_body_bytes: int) -> None:
        self.app, self.metrics, self.max_body = app, metrics, max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        path = scope.get("path", "")
        endpoint = path if path in ENDPOINTS else "other"
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            length = dict(scope.get("headers") or []).get(b"content-length")
            if length is not None and (not length.isdigit() or int(length) > self.max_body):
                response = (
                    _too_large(self.max_body)
                    if length.isdigit()
                    else _error(400, "The request's Content-Length is not a number of bytes.")
                )
                await response(scope, receive, sending)
                return
            await self.app(scope, receive, sending)
        finally:
            self.metrics.record(endpoint, status, time.perf_counter() - started)


def _too_large_words(limit: int) -> str:
    return (
        f"The request is larger than this service accepts ({limit / 1024 / 1024:g} MB). Send "
        "fewer rows at a time."
    )


def _too_large(limit: int) -> JSONResponse:
    return _error(413, _too_large_words(limit))


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, refused with 413 as soon as it passes ``limit`` bytes (a body sent in chunks
    without a declared length is counted as it arrives)."""
    parts, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RowsError(_too_large_words(limit), status=413)
        parts.append(chunk)
    return b"".join(parts)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _parse_json(body: bytes) -> tuple[Any, bool]:
    """The parsed body, and whether Python's own reader read it: orjson reads well-formed JSON
    (about twice as fast); what it refuses (a number too large to be finite, broken characters,
    very deep nesting) goes to Python's reader, which says what is wrong or keeps the value for
    :func:`rows.read_rows` to name its row and column."""
    if not body.strip():
        raise RowsError(
            'The request has no body. Send JSON: {"rows": [{"column": value, ...}]}.', status=400
        )
    try:
        return orjson.loads(body), False
    except orjson.JSONDecodeError:
        return _parse_json_exactly(body), True


def _parse_json_exactly(body: bytes) -> Any:
    try:
        return json.loads(body, parse_constant=_no_constant)
    except UnicodeDecodeError as exc:
        raise RowsError(
            f"The request body is not UTF-8 text (byte {exc.start + 1} is not UTF-8): send JSON "
            "encoded as UTF-8, as JSON requires.",
            status=400,
        ) from None
    except ValueError as exc:
        if "integer string conversion" not in str(exc):
            raise _not_json(exc) from None
        raise RowsError(
            "The request holds a number with thousands of digits: no model can read it. Send "
            "numbers as they are measured (at most about 300 digits).",
        ) from None
    except RecursionError as exc:
        raise _not_json(exc) from None


def _not_json(exc: Exception) -> RowsError:
    where = f" ({exc.msg} at character {exc.pos})" if isinstance(exc, json.JSONDecodeError) else ""
    return RowsError(
        f"The request body is not valid JSON{where}. Send "
        '{"rows": [{"column": value, ...}]} with the header Content-Type: application/json.',
        status=400,
    )


def _reasons(request: Request) -> int:
    text = request.query_params.get("reasons", "0").strip()
    if not (text.isascii() and text.isdigit() and int(text) <= rows_mod.MAX_REASONS):
        raise RowsError(
            f"'reasons' must be a whole number from 0 to {rows_mod.MAX_REASONS} (how many of "
            f"each row's most influential columns to give). Got '{text[:20]}'."
        )
    return int(text)


class _Access:
    """Who may call: nobody needs a key in personal mode; in team mode a valid key whose user
    may use the served model. Answers are cached for :data:`AUTH_CACHE_SECONDS`."""

    def __init__(
        self, team: Team | None, served: ServedModel, personal: Team | None = None
    ) -> None:
        self.team, self.served, self.personal = team, served, personal
        self._users: dict[str, tuple[float, User]] = {}
        self._allowed: dict[tuple[str, str | None, str | None], tuple[float, bool]] = {}
        self._team_since = (0.0, False)  # (checked until, the workspace has users)

    def check(self, request: Request) -> None:
        if self.team is None:
            if self.personal is not None and self._users_added():
                raise SignInError(
                    "This service was started in personal mode, and its workspace has users "
                    "now (team mode): it answers nobody until it is started again with --user "
                    "NAME, when every caller needs an API key (automl keys create --user NAME)."
                )
            return
        scheme, _, key = request.headers.get("authorization", "").partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or not key:
            raise SignInError(
                "This service needs an API key: send the header 'Authorization: Bearer KEY'. An "
                "administrator makes one with: automl keys create --user NAME."
            )
        user = self._user(key)
        if user is None:
            raise SignInError(
                "This API key is not valid: it is mistyped, was revoked, or its user was "
                "removed. Ask an administrator for a new one (automl keys create --user NAME)."
            )
        if not self._may_use(user):
            raise PolicyError(
                f"{user.name} may not use this model: only its owner, the users it is shared "
                "with, and admins may. Ask its owner to share it with you."
            )

    def _users_added(self) -> bool:
        until, added = self._team_since
        now = time.monotonic()
        if not added and now >= until:
            assert self.personal is not None
            try:
                added = self.personal.active()
            except Exception:  # the catalog is busy for a moment: ask again next time
                return False
            self._team_since = (now + AUTH_CACHE_SECONDS, added)
        return added

    def _user(self, key: str) -> User | None:
        now = time.monotonic()
        hit = self._users.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        assert self.team is not None
        user = key_user(self.team, key)
        if user is not None:
            if len(self._users) >= _CACHE_LIMIT:
                self._users.clear()
            self._users[key] = (now + AUTH_CACHE_SECONDS, user)
        return user

    def _may_use(self, user: User) -> bool:
        loaded = self.served.current
        cache_key = (user.name, loaded.owner, loaded.name)
        now = time.monotonic()
        hit = self._allowed.get(cache_key)
        if hit is not None and hit[0] > now:
            return hit[1]
        assert self.team is not None
        ok = user.can("predict")
        if ok and loaded.name is not None:  # a catalog model: the catalog's sharing rules
            ws = self.team.workspace(user)
            ok = bool(ws.model_versions(f"{loaded.owner}/{loaded.name}"))
        if len(self._allowed) >= _CACHE_LIMIT:
            self._allowed.clear()
        self._allowed[cache_key] = (now + AUTH_CACHE_SECONDS, ok)
        return ok


def create_app(served: ServedModel, settings: ServiceSettings | None = None) -> FastAPI:
    """The service of ``served`` (start its watcher with the app: the lifespan does)."""
    settings = settings or ServiceSettings()
    metrics = _Metrics()
    access = _Access(settings.team, served, settings.personal)
    slots = anyio.Semaphore(SCORING_SLOTS)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        served.start()
        try:
            yield
        finally:
            served.stop()

    app = FastAPI(
        title="Easel prediction service",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
    )
    app.state.served, app.state.settings, app.state.metrics = served, settings, metrics

    async def scored(request: Request, work: Callable[[bytes, int], Any]) -> Any:
        access.check(request)
        reasons = _reasons(request)
        async with slots:
            body = await _read_body(request, settings.max_body_bytes)
            return await run_in_threadpool(work, body, reasons)

    @app.get("/health")
    def health() -> dict[str, Any]:
        loaded = served.current
        return {
            "status": "degraded" if served.problem else "ok",
            "version": loaded.version,
        }

    @app.get("/schema")
    def schema(request: Request) -> dict[str, Any]:
        access.check(request)
        loaded = served.current
        model = loaded.model
        out: dict[str, Any] = {
            "model": loaded.label,
            "version": loaded.version,
            "target": model.target,
            "predicts": PROBLEM_WORDS.get(model.task, model.task),
            "max_rows": settings.max_rows,
            "columns": [c.to_dict() for c in rows_mod.columns(model)],
        }
        if model.task != "regression":
            out["classes"] = [str(rows_mod._json_value(c)) for c in model.classes]
        if served.problem:
            out["notice"] = served.problem
        return out

    def predict_json(body: bytes, reasons: int) -> Response:
        loaded = served.current
        cols = rows_mod.columns(loaded.model)
        parsed, exact = _parse_json(body)
        reread = None if exact else (lambda: _parse_json_exactly(body))
        frame = rows_mod.read_rows(parsed, cols, settings.max_rows, reread)
        answers = rows_mod.answer(loaded.model, frame, reasons)
        metrics.rows.inc(len(answers))
        payload = {"model": loaded.label, "version": loaded.version, "predictions": answers}
        return Response(orjson.dumps(payload), media_type="application/json")

    @app.post("/predict")
    async def predict(request: Request) -> Response:
        response: Response = await scored(request, predict_json)
        return response

    def predict_csv(body: bytes, reasons: int) -> Response:
        loaded = served.current
        with tempfile.TemporaryDirectory(prefix="easel-serve-") as tmp:
            source, out = Path(tmp) / "rows.csv", Path(tmp) / "predictions.csv"
            source.write_bytes(body)
            result = _score_csv(loaded.model, source, out, settings.max_rows, reasons)
            data = out.read_bytes()
        metrics.rows.inc(result.rows)
        # drift of the batch against the training rows: in the answer's headers (column names
        # percent-encoded: headers carry only Latin-1) and counted by verdict in /metrics
        verdict = result.drift.verdict if result.drift is not None else "not measured"
        moved = [c.name for c in result.drift.columns if c.drifted] if result.drift else []
        metrics.drift.labels(verdict).inc()
        headers = {
            "X-Easel-Drift": verdict,
            "X-Easel-Drift-Columns": ",".join(quote(name, safe="") for name in moved[:20]),
        }
        return Response(data, media_type="text/csv; charset=utf-8", headers=headers)

    @app.post("/predict/csv")
    async def predict_csv_route(request: Request) -> Response:
        response: Response = await scored(request, predict_csv)
        return response

    @app.get("/metrics")
    def metrics_route(request: Request) -> Response:
        access.check(request)
        return Response(prometheus_text(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    documents: dict[tuple[Any, ...], dict[str, Any]] = {}

    def openapi() -> dict[str, Any]:
        loaded = served.current
        key = (loaded.path, loaded.version, loaded.stamp)
        if key not in documents:
            documents.clear()
            base = get_openapi(
                title=f"Easel prediction service: {loaded.label}",
                version=__version__,
                description=_description(loaded.model, settings),
                routes=app.routes,
            )
            documents[key] = document(base, loaded.model, settings)
        return documents[key]

    @app.get("/openapi.json", include_in_schema=False)
    def openapi_route(request: Request) -> JSONResponse:
        access.check(request)
        return JSONResponse(openapi())

    @app.get("/docs", include_in_schema=False)
    def docs(request: Request) -> HTMLResponse:
        access.check(request)
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="Easel prediction service",
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS}/favicon-32x32.png",
        )

    # the documentation page's script and style, from the installed package: the page works
    # offline and loads nothing from other sites
    app.mount(DOCS_ASSETS, StaticFiles(directory=swagger_ui_path), name="docs-assets")

    _handlers(app)
    app.add_middleware(_Guard, metrics=metrics, max_body_bytes=settings.max_body_bytes)
    return app


def _score_csv(model: Any, source: Path, out: Path, max_rows: int, reasons: int) -> BatchResult:
    """Score a CSV file as ``automl predict`` does (the same reader, answers and writer)."""
    from automl.batch import DEFAULT_CHUNK_ROWS, score_chunks
    from connectors import Rows, iter_file_batches

    seen = 0

    def limited() -> Any:
        nonlocal seen
        for chunk in iter_file_batches(source, min(DEFAULT_CHUNK_ROWS, max_rows + 1)):
            seen += chunk.table.num_rows if isinstance(chunk, Rows) else len(chunk)
            if seen > max_rows:
                raise RowsError(
                    f"The file has more than {max_rows:,} rows; this service scores at most "
                    f"{max_rows:,} at a time. Send it in parts, or score it with 'automl "
                    "predict'.",
                    status=413,
                )
            yield chunk

    return score_chunks(model, limited(), out, reasons=reasons)


def _description(model: Any, settings: ServiceSettings) -> str:
    what = PROBLEM_WORDS.get(model.task, model.task)
    text = (
        f"Predicts **{model.target}** ({what}) from rows of the model's columns. `GET /schema` "
        f"lists the columns, their types, categories and typical values. At most "
        f"{settings.max_rows:,} rows per request."
    )
    if settings.team is not None:
        text += " Every request except /health needs the header `Authorization: Bearer KEY`."
    return text


_ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {"type": "string", "description": "what is wrong and how to fix it"},
        "problems": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "row": {"type": "integer", "description": "counted from 0"},
                    "column": {"type": "string"},
                    "problem": {"type": "string"},
                },
            },
        },
    },
}
_ERROR_WORDS = {
    "400": "The body is not valid JSON",
    "401": "No API key, or one that is not valid (team mode)",
    "403": "The key's user may not use this model (team mode)",
    "413": "Too many rows, or a body too large",
    "422": "A row misses a column or has a value that cannot be read",
}


def _errors(*codes: str) -> dict[str, Any]:
    return {
        c: {
            "description": _ERROR_WORDS[c],
            "content": {"application/json": {"schema": _ERROR_SCHEMA}},
        }
        for c in codes
    }


def _answer_schema(model: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "type": "object",
        "required": ["prediction"],
        "properties": {"prediction": {"description": f"the predicted {model.target}"}},
    }
    if model.task != "regression":
        item["required"] += ["confidence", "probabilities"]
        item["properties"]["confidence"] = {"type": "number", "minimum": 0, "maximum": 1}
        item["properties"]["probabilities"] = {
            "type": "object",
            "additionalProperties": {"type": "number"},
        }
    item["properties"]["reasons"] = {
        "type": "array",
        "items": {
            "type": "object",
            "properties": {
                "column": {"type": "string"},
                "value": {},
                "contribution": {"type": "number"},
                "direction": {"type": "string", "enum": ["raises", "lowers", "none"]},
            },
        },
    }
    return {
        "type": "object",
        "required": ["model", "predictions"],
        "properties": {
            "model": {"type": "string"},
            "version": {"type": ["integer", "null"]},
            "predictions": {"type": "array", "items": item},
        },
    }


def document(base: dict[str, Any], model: Any, settings: ServiceSettings) -> dict[str, Any]:
    """The OpenAPI document with the model's own columns: the /predict body's schema and an
    example request of typical values, the CSV body's header, the answers' shape."""
    cols = rows_mod.columns(model)
    example = {"rows": [rows_mod.example_row(cols)]}
    header = ",".join(json.dumps(c.name) if "," in c.name else c.name for c in cols)
    values = ",".join("" if c.typical is None else str(c.typical) for c in cols)
    reasons = {
        "name": "reasons",
        "in": "query",
        "required": False,
        "description": "add each row's N most influential columns (0: none)",
        "schema": {"type": "integer", "minimum": 0, "maximum": rows_mod.MAX_REASONS},
    }
    team = ("401", "403") if settings.team is not None else ()
    paths = base["paths"]
    paths["/predict"]["post"].update(
        summary="Predict rows sent as JSON",
        parameters=[reasons],
        requestBody={
            "required": True,
            "content": {
                "application/json": {
                    "schema": rows_mod.request_schema(cols, settings.max_rows),
                    "example": example,
                }
            },
        },
        responses={
            "200": {
                "description": "one answer per row, in order",
                "content": {"application/json": {"schema": _answer_schema(model)}},
            },
            **_errors("400", *team, "413", "422"),
        },
    )
    paths["/predict/csv"]["post"].update(
        summary="Predict a CSV file: the same columns as 'automl predict' writes",
        parameters=[reasons],
        requestBody={
            "required": True,
            "content": {
                "text/csv": {"schema": {"type": "string"}, "example": f"{header}\n{values}\n"}
            },
        },
        responses={
            "200": {
                "description": "the rows with the added columns (prediction, ...)",
                "content": {"text/csv": {"schema": {"type": "string"}}},
            },
            **_errors("400", *team, "413", "422"),
        },
    )
    paths["/schema"]["get"].update(
        summary="The model's columns, types, categories and typical values",
        responses={
            "200": {
                "description": "the columns",
                "content": {"application/json": {"schema": {"type": "object"}}},
            },  # fmt: skip
            **_errors(*team),
        },
    )
    paths["/health"]["get"].update(
        summary="Whether the service runs (needs no key)",
        responses={
            "200": {
                "description": "ok, or degraded when a newer version failed to load",
                "content": {"application/json": {"schema": {"type": "object"}}},
            }  # fmt: skip
        },
    )
    paths["/metrics"]["get"].update(
        summary="Prometheus metrics",
        responses={
            "200": {
                "description": "Prometheus text format",
                "content": {"text/plain": {"schema": {"type": "string"}}},
            },  # fmt: skip
            **_errors(*team),
        },
    )
    if settings.team is not None:
        base.setdefault("components", {})["securitySchemes"] = {
            "key": {"type": "http", "scheme": "bearer", "description": "an Easel API key"}
        }
        base["security"] = [{"key": []}]
        paths["/health"]["get"]["security"] = []
    return base


def _handlers(app: FastAPI) -> None:
    @app.exception_handler(RowsError)
    async def rows_error(request: Request, exc: RowsError) -> JSONResponse:
        return _error(exc.status, str(exc), exc.problems)

    @app.exception_handler(SignInError)
    async def sign_in_error(request: Request, exc: SignInError) -> JSONResponse:
        return _error(401, str(exc), headers={"WWW-Authenticate": "Bearer"})

    @app.exception_handler(PolicyError)
    async def policy_error(request: Request, exc: PolicyError) -> JSONResponse:
        return _error(403, str(exc))

    @app.exception_handler(EaselError)
    async def easel_error(request: Request, exc: EaselError) -> JSONResponse:
        return _error(422, str(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(422, "The request is not in the form this service takes. See /docs.")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            return _error(
                404,
                f"There is nothing at {request.url.path[:100]}. This service answers POST "
                "/predict, POST /predict/csv, GET /schema, GET /health, GET /metrics and GET "
                "/docs.",
            )
        if exc.status_code == 405:
            return _error(
                405, f"{request.method} is not how {request.url.path} is called: see /docs."
            )
        return _error(exc.status_code, str(exc.detail))

    @app.exception_handler(Exception)
    async def failed(request: Request, exc: Exception) -> JSONResponse:
        log.error("request to %s failed", request.url.path, exc_info=exc)
        return _error(
            500,
            "The service could not answer this request because of an error of its own; it was "
            "logged on the server. Try again, or tell the service's administrator.",
        )
