"""API keys of the prediction service in team mode: each key belongs to one user and reaches
only the models that user may use.

A key is shown once, when it is made: ``easel_<id>_<secret>``, where ``<id>`` is 8 random hex
digits that find the key's row and ``<secret>`` 32 random bytes. The catalog keeps only the
SHA-256 of the whole key (table ``api_keys``, created here), compared in constant time.
A revoked key stays listed, marked revoked, and opens nothing.

A key belongs to one user record, not to a name: it keeps the ``created_at`` of the user it was
made for (``user_since``), so a user removed and later added again under the same name does not
inherit the keys of the first one (removing a user revokes their keys too, in ``Team.remove``).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any

from automl.errors import ParameterError
from automl.workspace.users import Team, User

_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    id INTEGER PRIMARY KEY AUTOINCREMENT, user TEXT NOT NULL, lookup TEXT NOT NULL UNIQUE,
    key_hash TEXT NOT NULL, created_at REAL NOT NULL, revoked_at REAL, user_since REAL)
"""
# Keys made before ``user_since`` existed: bound to the user of that name who existed when the
# key was made; a key whose user is gone, or was added again after it, is revoked.
_BIND_OLD = """
UPDATE api_keys SET user_since = (SELECT u.created_at FROM users u
    WHERE u.name = api_keys."user" AND u.created_at <= api_keys.created_at)
WHERE user_since IS NULL
"""
_REVOKE_UNBOUND = "UPDATE api_keys SET revoked_at=? WHERE user_since IS NULL AND revoked_at IS NULL"
PREFIX = "easel"
_KEY = re.compile(rf"{PREFIX}_([0-9a-f]{{8}})_([A-Za-z0-9_-]{{43}})")
_READY: set[str] = set()  # catalogs whose table this process has created


@dataclass(frozen=True)
class KeyRecord:
    """One API key as listed: never the key itself."""

    id: int
    user: str
    lookup: str  # the 8 hex digits after "easel_", to recognise a key
    created_at: float
    revoked_at: float | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def _table(team: Team) -> None:
    path = team.ws.catalog_where
    if team.ws.shared_catalog:  # made by its first revision (automl/workspace/migrations)
        return
    if path not in _READY:
        with team.ws._db(lock=True) as db:
            db.execute(_SCHEMA)
            if "user_since" not in {r[1] for r in db.execute("PRAGMA table_info(api_keys)")}:
                db.execute("ALTER TABLE api_keys ADD COLUMN user_since REAL")
            db.execute(_BIND_OLD)
            db.execute(_REVOKE_UNBOUND, (time.time(),))
        _READY.add(path)


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _record(row: Any) -> KeyRecord:
    return KeyRecord(
        int(row["id"]), row["user"], row["lookup"], row["created_at"], row["revoked_at"]
    )


def create_key(team: Team, user: str, by: str = "") -> tuple[KeyRecord, str]:
    """A new key for ``user``: (its record, the key). The key is not stored: show it once."""
    if not team.active():
        raise ParameterError(
            "This workspace has no users (personal mode): the prediction service needs no key "
            "and answers only this computer. Add users first (automl users add NAME --role admin "
            "--password-env VAR) to give keys to people."
        )
    owner = team.get(user)
    _table(team)
    for _ in range(5):  # 8 hex digits: a clash is rare, and retried
        lookup = secrets.token_hex(4)
        key = f"{PREFIX}_{lookup}_{secrets.token_urlsafe(32)}"
        with team.ws._db(lock=True) as db:
            if db.execute("SELECT 1 FROM api_keys WHERE lookup=?", (lookup,)).fetchone():
                continue
            key_id = db.insert(
                'INSERT INTO api_keys ("user", lookup, key_hash, created_at, user_since) '
                "VALUES (?,?,?,?,?)",
                (owner.name, lookup, _digest(key), time.time(), owner.created_at),
            )
        team.ws.audit("key create", owner.name, f"key {key_id}", user=by)
        return get_key(team, key_id), key
    raise ParameterError("No new key could be made just now: try again.")  # pragma: no cover


def get_key(team: Team, key_id: int) -> KeyRecord:
    _table(team)
    with team.ws._db() as db:
        row = db.execute("SELECT * FROM api_keys WHERE id=?", (int(key_id),)).fetchone()
    if row is None:
        raise ParameterError(
            f"There is no API key {key_id}. See the keys with `automl keys list --user NAME`."
        )
    return _record(row)


def list_keys(team: Team, user: str | None = None) -> list[KeyRecord]:
    """The keys of ``user`` (every user's when None), oldest first."""
    _table(team)
    where, args = ('WHERE "user"=?', (team.get(user).name,)) if user else ("", ())
    with team.ws._db() as db:
        rows = db.execute(f"SELECT * FROM api_keys {where} ORDER BY id", args).fetchall()
    return [_record(r) for r in rows]


def revoke_key(team: Team, key_id: int, by: str = "") -> KeyRecord:
    """Stop key ``key_id`` from opening anything (services notice within seconds)."""
    rec = get_key(team, key_id)
    if rec.active:
        with team.ws._db() as db:
            db.execute("UPDATE api_keys SET revoked_at=? WHERE id=?", (time.time(), rec.id))
        team.ws.audit("key revoke", rec.user, f"key {rec.id}", user=by)
    return get_key(team, key_id)


def key_user(team: Team, key: str | None) -> User | None:
    """The user an API key belongs to, while it is not revoked and that user (the one it was
    made for, not a later user of the same name) exists; else None."""
    if not key or len(key) > 200:
        return None
    m = _KEY.fullmatch(key)
    if m is None:
        return None
    _table(team)
    with team.ws._db() as db:
        row = db.execute(
            'SELECT "user", key_hash, user_since FROM api_keys WHERE lookup=? '
            "AND revoked_at IS NULL",
            (m[1],),
        ).fetchone()
    if row is None or not hmac.compare_digest(row["key_hash"], _digest(key)):
        return None
    try:
        user = team.get(row["user"])
    except ParameterError:  # the user was removed since
        return None
    if row["user_since"] is None or user.created_at != row["user_since"]:
        return None  # a new user of the same name: the key was the removed one's
    return user
