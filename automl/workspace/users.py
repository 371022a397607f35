"""Team mode: users, roles, sign-in, settings and the audit log, in the workspace catalog.

A workspace with no user is in *personal mode*: no sign-in, everything owned by ''. As soon as
the first user is added (it must be an admin) the workspace is in *team mode*: every page asks
for a sign-in, every object has an owner, and the CLI needs ``--user`` for what it creates or
lists. The objects made in personal mode pass to that first admin.

Roles (what each may do is :data:`PERMISSIONS`):

``admin``
    everything, including users, settings and the audit log; reads every user's objects.
``analyst``
    imports, prepares, builds and predicts with their own work and what is shared with them.
``viewer``
    predicts with the models shared with them, nothing else.

Passwords are hashed with Argon2id (argon2-cffi). A wrong password and an unknown user name get
the same answer; after :data:`FREE_FAILURES` failures in a row for one name, each further try
must wait twice as long as the last (up to :data:`MAX_WAIT` seconds).
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any

from automl.errors import EaselError, ParameterError
from automl.workspace.catalog import EVERYONE, Workspace

ROLES = ("admin", "analyst", "viewer")
PERMISSIONS = {
    "admin": {"predict", "build", "import", "share", "manage_users", "settings", "audit"},
    "analyst": {"predict", "build", "import", "share"},
    "viewer": {"predict"},
}
MIN_PASSWORD = 10
SESSION_SECONDS = 12 * 3600  # a browser stays signed in this long (or until it signs out)
FREE_FAILURES = 3
MAX_WAIT = 60.0
SSO_ROLE_SETTING = "sso_default_role"
POLICY_SETTING = "source_policy"
# team mode until an admin says otherwise: any database host or S3 endpoint, but never the
# server's own files or its own cloud credentials (the users are not the server's operators)
TEAM_POLICY = {"allow_local_files": False, "allow_server_credentials": False}
WRONG = "Wrong user name or password."
LOOPBACK = ("127.0.0.1", "::1", "localhost")
_USER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$")


class SignInError(EaselError):
    """A sign-in was refused (wrong name or password, or too many failures)."""


@dataclass(frozen=True)
class User:
    name: str
    role: str
    email: str = ""
    created_at: float = 0.0

    def can(self, action: str) -> bool:
        return action in PERMISSIONS.get(self.role, set())

    @property
    def permissions(self) -> frozenset[str]:
        return frozenset(PERMISSIONS.get(self.role, set()))

    @property
    def admin(self) -> bool:
        return self.role == "admin"


def is_loopback(address: str | None) -> bool:
    """Whether a server address only serves this computer (what personal mode allows: the app
    and the prediction service refuse any other address while the workspace has no users)."""
    text = (address or "").strip().strip("[]")
    if text in LOOPBACK:
        return True
    try:
        return ipaddress.ip_address(text).is_loopback
    except ValueError:
        return False


def check_user_name(name: str) -> str:
    name = str(name).strip()
    if not _USER.match(name):
        raise ParameterError(
            f"The user name {name!r} is not allowed: use 1-32 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit."
        )
    return name


def check_role(role: str) -> str:
    if role not in ROLES:
        raise ParameterError(f"Unknown role {role!r}: use one of {', '.join(ROLES)}.")
    return role


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise ParameterError(
            f"The password is too short: use at least {MIN_PASSWORD} characters (a few words "
            "make a good one)."
        )
    if len(password) > 1024:
        raise ParameterError("The password is too long: use at most 1,024 characters.")
    return password


def _hasher() -> Any:
    from argon2 import PasswordHasher

    return PasswordHasher()


class Team:
    """The users of one workspace and what goes with them (settings, audit log)."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws

    # ------------------------------------------------------------------ mode
    def active(self) -> bool:
        """Team mode: the workspace has at least one user."""
        with self.ws._db() as db:
            return db.execute("SELECT 1 FROM users LIMIT 1").fetchone() is not None

    def workspace(self, user: User) -> Workspace:
        """The workspace as ``user`` sees it."""
        return self.ws.as_user(user.name, admin=user.admin)

    # ------------------------------------------------------------------ users
    def users(self) -> list[User]:
        with self.ws._db() as db:
            rows = db.execute(
                "SELECT name, role, email, created_at FROM users ORDER BY name"
            ).fetchall()
        return [User(**dict(r)) for r in rows]

    def get(self, name: str) -> User:
        with self.ws._db() as db:
            r = db.execute(
                "SELECT name, role, email, created_at FROM users WHERE name=?", (str(name),)
            ).fetchone()
        if r is None:
            raise ParameterError(
                f"There is no user named '{name}'. See the users with `automl users list`."
            )
        return User(**dict(r))

    def add(self, name: str, role: str, password: str = "", email: str = "", by: str = "") -> User:
        """Add a user. The first user must be an admin, and takes over what was made before
        sign-in was turned on. ``password`` may be empty only for a single sign-on user."""
        name, role = check_user_name(name), check_role(role)
        digest = _hasher().hash(check_password(password)) if password else ""
        with self.ws._db(lock=True) as db:
            first = db.execute("SELECT 1 FROM users LIMIT 1").fetchone() is None
            if first and role != "admin":
                raise ParameterError(
                    "The first user must be an admin (--role admin), so that someone can manage "
                    "the others."
                )
            if db.execute("SELECT 1 FROM users WHERE lower(name)=lower(?)", (name,)).fetchone():
                raise ParameterError(f"There is already a user named '{name}'.")
            db.execute(
                "INSERT INTO users (name, role, password_hash, email, created_at) "
                "VALUES (?,?,?,?,?)",
                (name, role, digest, email.strip().lower(), time.time()),
            )
            if first:  # personal-mode work passes to the first admin
                for table in ("datasets", "models", "jobs"):
                    db.execute(f"UPDATE {table} SET owner=? WHERE owner=''", (name,))
                db.execute("UPDATE shares SET owner=? WHERE owner=''", (name,))
                if "automations" in db.tables():  # automl.workspace.automations
                    db.execute("UPDATE automations SET owner=? WHERE owner=''", (name,))
        self.ws.audit("user add", name, f"role {role}", user=by)
        return self.get(name)

    def remove(self, name: str, by: str = "") -> None:
        """Remove a user (their datasets and models stay, reachable by admins): their shares,
        browser sessions and API keys end with them. The last admin cannot be removed."""
        user = self.get(name)
        with self.ws._db(lock=True) as db:
            if user.admin:
                admins = db.execute("SELECT COUNT(*) FROM users WHERE role='admin'").fetchone()[0]
                if admins <= 1:
                    raise ParameterError(
                        f"'{name}' is the only admin: add another admin before removing them."
                    )
            db.execute("DELETE FROM users WHERE name=?", (user.name,))
            db.execute("DELETE FROM shares WHERE grantee=?", (user.name,))
            self._end_sessions(db, user.name)
            if "api_keys" in db.tables():  # automl.serve.keys: a removed user's keys open nothing
                db.execute(
                    'UPDATE api_keys SET revoked_at=? WHERE "user"=? AND revoked_at IS NULL',
                    (time.time(), user.name),
                )
        self.ws.audit("user remove", user.name, user=by)

    def set_password(self, name: str, password: str, by: str = "") -> None:
        user = self.get(name)
        digest = _hasher().hash(check_password(password))
        with self.ws._db() as db:
            db.execute("UPDATE users SET password_hash=? WHERE name=?", (digest, user.name))
            db.execute("DELETE FROM signin_failures WHERE name=?", (user.name.lower(),))
            self._end_sessions(db, user.name)  # signed-in browsers must sign in again
        self.ws.audit("user password", user.name, user=by)

    def set_role(self, name: str, role: str, by: str = "") -> None:
        user, role = self.get(name), check_role(role)
        with self.ws._db(lock=True) as db:
            if user.admin and role != "admin":
                admins = db.execute("SELECT COUNT(*) FROM users WHERE role='admin'").fetchone()[0]
                if admins <= 1:
                    raise ParameterError(f"'{name}' is the only admin: keep at least one admin.")
            db.execute("UPDATE users SET role=? WHERE name=?", (role, user.name))
        self.ws.audit("user role", user.name, f"role {role}", user=by)

    # ------------------------------------------------------------------ sign-in
    def wait_seconds(self, name: str) -> float:
        """How long sign-ins as ``name`` must wait after repeated failures (0 = none)."""
        with self.ws._db() as db:
            r = db.execute(
                "SELECT failures, last_failure FROM signin_failures WHERE name=?",
                (str(name).lower(),),
            ).fetchone()
        if r is None or r["failures"] < FREE_FAILURES:
            return 0.0
        wait = min(MAX_WAIT, 2.0 ** (r["failures"] - FREE_FAILURES + 1))
        return max(0.0, r["last_failure"] + wait - time.time())

    def sign_in(self, name: str, password: str) -> User:
        """The user, when ``password`` is theirs; otherwise :class:`SignInError` (the same
        message for an unknown name and a wrong password)."""
        from argon2.exceptions import InvalidHashError, VerificationError

        name = str(name).strip()
        wait = self.wait_seconds(name)
        if wait > 0:
            self.ws.audit("sign in", name, "refused: too many failures", ok=False, user=name)
            raise SignInError(
                f"Too many failed sign-ins for this user name. Wait {wait:.0f} seconds and try "
                "again."
            )
        with self.ws._db() as db:
            r = db.execute("SELECT password_hash FROM users WHERE name=?", (name,)).fetchone()
        digest = r["password_hash"] if r is not None else ""
        ok = False
        hasher = _hasher()
        try:  # an unknown name costs the same as a wrong password
            ok = hasher.verify(digest or _DUMMY.get(hasher), password[:1024])
        except (VerificationError, InvalidHashError):
            ok = False
        ok = ok and bool(digest)
        key = name.lower()
        with self.ws._db() as db:
            if ok:
                db.execute("DELETE FROM signin_failures WHERE name=?", (key,))
            else:
                db.execute(
                    "INSERT INTO signin_failures (name, failures, last_failure) VALUES (?,1,?) "
                    "ON CONFLICT(name) DO UPDATE SET failures=signin_failures.failures+1, "
                    "last_failure=?",
                    (key, time.time(), time.time()),
                )
        self.ws.audit("sign in", name, "" if ok else "wrong user name or password", ok, user=name)
        if not ok:
            raise SignInError(WRONG)
        return self.get(name)

    def sso_user(self, email: str, display: str = "") -> User:
        """The user an identity provider signed in, found by e-mail; created on first sign-in
        with the role an admin set for single sign-on (viewer unless set)."""
        email = str(email).strip().lower()
        if not re.match(r"^[^@\s]{1,64}@[^@\s]{1,255}$", email):
            raise SignInError("The identity provider gave no usable e-mail address.")
        with self.ws._db() as db:
            r = db.execute("SELECT name FROM users WHERE email=?", (email,)).fetchone()
        if r is not None:
            user = self.get(r["name"])
        else:
            base = re.sub(r"[^A-Za-z0-9._-]", "-", email.split("@")[0]).strip("-._")[:28] or "user"
            taken = {u.name.lower() for u in self.users()}
            name, n = base, 2
            while name.lower() in taken:
                name, n = f"{base}-{n}", n + 1
            role = str(self.setting(SSO_ROLE_SETTING, "viewer"))
            if not self.active():
                role = "admin"  # the first user of a workspace is its admin
            user = self.add(name, role, email=email, by="single sign-on")
        self.ws.audit("sign in", user.name, f"single sign-on {email}", user=user.name)
        return user

    # ------------------------------------------------------------------ browser sessions
    def new_session(self, name: str) -> str:
        """A random token that keeps a browser signed in as ``name`` for
        :data:`SESSION_SECONDS`; only its hash is stored."""
        user = self.get(name)
        token = secrets.token_urlsafe(32)
        now = time.time()
        with self.ws._db() as db:
            db.execute("DELETE FROM sessions WHERE expires_at < ?", (now,))
            db.execute(
                'INSERT INTO sessions (token_hash, "user", created_at, expires_at) '
                "VALUES (?,?,?,?)",
                (_digest(token), user.name, now, now + SESSION_SECONDS),
            )
        return token

    def session_user(self, token: str | None) -> User | None:
        """The user a browser's token belongs to, while it is valid (else None)."""
        if not token or len(token) > 200:
            return None
        with self.ws._db() as db:
            r = db.execute(
                'SELECT "user" FROM sessions WHERE token_hash=? AND expires_at >= ?',
                (_digest(token), time.time()),
            ).fetchone()
        if r is None:
            return None
        try:
            return self.get(r["user"])
        except EaselError:
            return None

    def end_session(self, token: str | None) -> None:
        if token:
            with self.ws._db() as db:
                db.execute("DELETE FROM sessions WHERE token_hash=?", (_digest(token),))

    def _end_sessions(self, db: Any, name: str) -> None:
        db.execute('DELETE FROM sessions WHERE "user"=?', (name,))

    # ------------------------------------------------------------------ settings
    def setting(self, key: str, default: Any = None) -> Any:
        with self.ws._db() as db:
            r = db.execute("SELECT value FROM settings WHERE key=?", (key,)).fetchone()
        return json.loads(r["value"]) if r is not None else default

    def set_setting(self, key: str, value: Any, by: str = "") -> None:
        if key == SSO_ROLE_SETTING:
            check_role(str(value))
        with self.ws._db() as db:
            db.execute(
                "INSERT INTO settings (key, value) VALUES (?,?) "
                "ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                (key, json.dumps(value)),
            )
        self.ws.audit("setting", key, json.dumps(value)[:200], user=by)

    def source_policy(self) -> Any:
        """Where this server may read from (:class:`connectors.policy.SourcePolicy`): the
        admin's policy in team mode (:data:`TEAM_POLICY` until set), anything in personal mode."""
        from connectors.policy import SourcePolicy

        if not self.active():
            return SourcePolicy()
        return SourcePolicy.from_dict(self.setting(POLICY_SETTING, TEAM_POLICY))

    def set_source_policy(self, policy: Any, by: str = "") -> None:
        self.set_setting(POLICY_SETTING, policy.to_dict(), by=by)

    # ------------------------------------------------------------------ audit
    def audit_log(self, since: float | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        """Audit lines, newest first (``since``: a Unix time)."""
        with self.ws._db() as db:
            rows = db.execute(
                'SELECT at, "user", action, target, detail, ok FROM audit WHERE at >= ? '
                "ORDER BY id DESC LIMIT ?",
                (since or 0.0, int(limit)),
            ).fetchall()
        return [dict(r) for r in rows]


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class _Dummy:
    """A hash to verify unknown names against, so they take as long as real ones."""

    value = ""

    def get(self, hasher: Any) -> str:
        if not self.value:
            self.value = hasher.hash("not a password of anyone")
        return self.value


_DUMMY = _Dummy()

__all__ = [
    "EVERYONE",
    "PERMISSIONS",
    "ROLES",
    "SignInError",
    "Team",
    "User",
    "check_password",
    "check_role",
    "check_user_name",
    "is_loopback",
]
