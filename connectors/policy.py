"""Where this server may read from: the administrator's source policy.

In team mode the people using Easel are not the people running the server, so the server must not
become a way to reach places its users could not reach themselves (databases on the internal
network, the cloud's instance metadata at 169.254.169.254, files on the server's disk, the
server's own cloud credentials). A :class:`SourcePolicy` says what is allowed; every connector
checks it before it opens anything (:func:`connectors.open_source` takes ``policy=``), and a
refusal is a :class:`~automl.errors.PolicyError` that names the host and what is allowed.

Hosts are compared as written: nothing is looked up over the network to check them. An entry is a
host name (``db.example.com``), a host and port (``db.example.com:5432``), a wildcard for the names
under a domain (``*.corp.example.com``, which never matches an IP address or ``localhost``), or an
IP address written out (``10.0.0.5``, ``[fd00::5]:5432``). So when a list is set, IP addresses,
``localhost`` and the link-local metadata addresses are refused unless listed exactly.

The default, :data:`PERMISSIVE` (every field at its default), allows everything: personal mode.

>>> policy = SourcePolicy(allowed_sql_hosts=("db.example.com", "*.corp.example.com"))
>>> policy.check_sql_host("sales.corp.example.com", 5432, scheme="postgresql")
>>> SourcePolicy.from_dict(policy.to_dict()) == policy
True
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, fields
from typing import Any

from automl.errors import ParameterError, PolicyError

MAX_ENTRIES = 500
MAX_ENTRY_CHARS = 260
AWS_S3_HOST = "s3.amazonaws.com"  # what "no endpoint" (Amazon S3 itself) is checked as
# ports assumed when a URL gives none, for entries written host:port
DEFAULT_PORTS = {
    "postgresql": 5432,
    "postgres": 5432,
    "redshift": 5439,
    "mysql": 3306,
    "mariadb": 3306,
    "mssql": 1433,
    "oracle": 1521,
    "snowflake": 443,
    "awsathena": 443,
    "http": 80,
    "https": 443,
}
_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
_NAME = re.compile(rf"^(?:\*\.)?{_LABEL}(?:\.{_LABEL})*$")
_NUMERIC_LABEL = re.compile(r"^(?:\d+|0x[0-9a-f]*)$")
_LIST_FIELDS = ("allowed_sql_hosts", "allowed_s3_endpoints")
_BOOL_FIELDS = ("allow_local_files", "allow_server_credentials")


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def normalize_host(host: str) -> str:
    """A host as compared: lower case, no trailing dot, no IPv6 brackets, IPs in their short
    form (``0:0::1`` -> ``::1``)."""
    text = host.strip().lower()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    text = text.rstrip(".")
    ip = _ip(text)
    return ip.compressed if ip is not None else text


def is_ip_like(host: str) -> bool:
    """An IP address, or a name a resolver may read as one (``127.1``, ``2130706433``,
    ``0x7f.1``): never matched by a wildcard entry."""
    text = normalize_host(host)
    if _ip(text) is not None or ":" in text:
        return True
    return bool(_NUMERIC_LABEL.match(text.rsplit(".", 1)[-1]))


def split_host_port(text: str) -> tuple[str, int | None]:
    """``host:port`` -> (host, port); ``[v6]:port`` for IPv6; a port that is not a number stays
    part of the host (so it matches nothing)."""
    text = text.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest.startswith(":") and rest[1:].isdigit():
            return host, int(rest[1:])
        return host, None
    if text.count(":") == 1:
        host, _, port = text.partition(":")
        if port.isdigit():
            return host, int(port)
    return text, None


def _parse_entry(entry: object, field_name: str) -> str:
    """One allowed host, validated and written in its normal form."""
    if not isinstance(entry, str):
        raise ParameterError(
            f"Each entry of '{field_name}' in the source policy must be a host name written as "
            f"text, such as db.example.com or db.example.com:5432. Got a {type(entry).__name__}."
        )
    shown = entry[:60] + ("..." if len(entry) > 60 else "")
    if not entry.strip() or len(entry) > MAX_ENTRY_CHARS:
        raise ParameterError(
            f"'{shown}' in '{field_name}' is not a host: write a host name such as "
            "db.example.com, db.example.com:5432 or *.corp.example.com."
        )
    host, port = split_host_port(entry)
    if port is not None and not 0 < port < 65536:
        raise ParameterError(
            f"'{shown}' in '{field_name}' has the port {port}; a port is a number from 1 to 65535."
        )
    norm = normalize_host(host)
    ip = _ip(norm)
    if ip is None:
        if not _NAME.match(norm) or norm == "*":
            raise ParameterError(
                f"'{shown}' in '{field_name}' is not a host: write a host name such as "
                "db.example.com, db.example.com:5432, *.corp.example.com or an IP address "
                "(letters, digits, '-', '.' and one leading '*.' only; no scheme or path)."
            )
        if norm.startswith("*.") and (is_ip_like(norm[2:]) or "." not in norm[2:]):
            raise ParameterError(
                f"'{shown}' in '{field_name}' is too wide: a wildcard must stand for the names "
                "under a domain, such as *.corp.example.com."
            )
    shown_host = f"[{norm}]" if ip is not None and ip.version == 6 else norm
    return f"{shown_host}:{port}" if port is not None else shown_host


def _entries(value: object, field_name: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise ParameterError(
            f"'{field_name}' in the source policy must be a list of host names (or null to "
            f"allow any). Got a {type(value).__name__}."
        )
    if len(value) > MAX_ENTRIES:
        raise ParameterError(
            f"'{field_name}' in the source policy lists {len(value):,} hosts; at most "
            f"{MAX_ENTRIES} are allowed. Use wildcards such as *.corp.example.com."
        )
    return tuple(dict.fromkeys(_parse_entry(e, field_name) for e in value))


def _matches(host: str, port: int | None, entry: str) -> bool:
    want_host, want_port = split_host_port(entry)
    want_host = normalize_host(want_host)
    if want_port is not None and port != want_port:
        return False
    if want_host.startswith("*."):
        plain_name = _NAME.match(host) is not None and "*" not in host
        return plain_name and host.endswith(want_host[1:]) and not is_ip_like(host)
    return host == want_host


def _listed(entries: tuple[str, ...]) -> str:
    shown = ", ".join(entries[:10]) + (
        f" and {len(entries) - 10} more" if len(entries) > 10 else ""
    )
    return shown or "none"


@dataclass(frozen=True)
class SourcePolicy:
    """Where this server may read from (see the module's documentation).

    ``allowed_sql_hosts``: the database servers a SQL URL may name (None: any).
    ``allowed_s3_endpoints``: the object storage services (None: any; Amazon S3 itself, used when
    no endpoint is given, is checked as ``s3.amazonaws.com``).
    ``allow_local_files``: whether paths on the server (files, SQLite and DuckDB databases) may be
    read; uploads are stored by Easel and always allowed.
    ``allow_server_credentials``: whether a user may choose the server's own cloud credentials
    (environment variables, ``~/.aws``, an instance role) instead of giving keys.
    """

    allowed_sql_hosts: tuple[str, ...] | None = None
    allowed_s3_endpoints: tuple[str, ...] | None = None
    allow_local_files: bool = True
    allow_server_credentials: bool = True

    def __post_init__(self) -> None:
        for name in _LIST_FIELDS:
            object.__setattr__(self, name, _entries(getattr(self, name), name))
        for name in _BOOL_FIELDS:
            value = getattr(self, name)
            if not isinstance(value, bool):
                raise ParameterError(
                    f"'{name}' in the source policy must be true or false. Got "
                    f"{str(value)[:40]!r} instead."
                )

    # ------------------------------------------------------------------ storing
    def to_dict(self) -> dict[str, Any]:
        """The policy as plain JSON values (lists, booleans, null)."""
        return {
            "allowed_sql_hosts": _as_list(self.allowed_sql_hosts),
            "allowed_s3_endpoints": _as_list(self.allowed_s3_endpoints),
            "allow_local_files": self.allow_local_files,
            "allow_server_credentials": self.allow_server_credentials,
        }

    @classmethod
    def from_dict(cls, data: object) -> SourcePolicy:
        """A policy from :meth:`to_dict`'s output, checked: an unknown setting, a wrong type or a
        malformed host is a :class:`~automl.errors.ParameterError` naming it."""
        if not isinstance(data, dict):
            raise ParameterError(
                "The source policy must be a JSON object with the settings "
                f"{', '.join(f.name for f in fields(cls))}. Got a {type(data).__name__}."
            )
        known = {f.name for f in fields(cls)}
        unknown = sorted(str(k)[:40] for k in data if k not in known)
        if unknown:
            raise ParameterError(
                f"The source policy has unknown settings: {', '.join(unknown[:5])}. Known "
                f"settings: {', '.join(sorted(known))}."
            )
        return cls(**data)

    @property
    def is_permissive(self) -> bool:
        """Whether this policy allows everything (personal mode)."""
        return self == PERMISSIVE

    # ------------------------------------------------------------------ checks
    def check_sql_host(self, host: str | None, port: int | None, *, scheme: str = "") -> None:
        """Refuse a database server that is not allowed (``host`` and ``port`` as the URL
        writes them; ``scheme`` gives the default port)."""
        allowed = self.allowed_sql_hosts
        if allowed is None:
            return
        if not host or not host.strip():
            raise PolicyError(
                "This server's administrator allows only these database servers: "
                f"{_listed(allowed)}. This URL names no server (it would connect to this "
                "machine): write the server in the URL, e.g. postgresql://user@host:5432/db."
            )
        self._check_host(host, port, scheme, allowed, "the database server")

    def check_s3_endpoint(
        self, host: str | None, port: int | None = None, scheme: str = ""
    ) -> None:
        """Refuse an object storage endpoint that is not allowed (``host`` None: Amazon S3)."""
        allowed = self.allowed_s3_endpoints
        if allowed is None:
            return
        self._check_host(
            host or AWS_S3_HOST, port, scheme or "https", allowed, "the storage service"
        )

    def _check_host(
        self, host: str, port: int | None, scheme: str, allowed: tuple[str, ...], what: str
    ) -> None:
        norm = normalize_host(host)
        written = port
        if port is None:
            port = DEFAULT_PORTS.get(scheme.lower().split("+", 1)[0])
        if any(_matches(norm, port, entry) for entry in allowed):
            return
        where = norm[:80] + (f":{written}" if written is not None else "")
        raise PolicyError(
            f"This server's administrator does not allow reading from {what} at {where}. "
            f"Allowed: {_listed(allowed)}. Use one of those, or ask the administrator to add it."
        )

    def check_local_file(self) -> None:
        """Refuse a path on the server when local files are not allowed."""
        if self.allow_local_files:
            return
        raise PolicyError(
            "This server's administrator does not allow reading files on the server (paths, "
            "SQLite or DuckDB database files). Upload the file on the Import page instead, or "
            "read from an allowed database or object storage."
        )

    def check_server_credentials(self) -> None:
        """Refuse the server's own cloud credentials when they are not allowed."""
        if self.allow_server_credentials:
            return
        raise PolicyError(
            "This server's administrator does not allow using the server's own cloud "
            "credentials. Give the access key and secret key, or choose anonymous access for a "
            "public bucket."
        )


def _as_list(entries: tuple[str, ...] | None) -> list[str] | None:
    return None if entries is None else list(entries)


PERMISSIVE = SourcePolicy()


def effective(policy: SourcePolicy | None) -> SourcePolicy:
    """``policy``, or :data:`PERMISSIVE` when none is given (personal mode)."""
    if policy is None:
        return PERMISSIVE
    if not isinstance(policy, SourcePolicy):
        raise ParameterError(
            f"The 'policy' parameter must be a SourcePolicy or None. Got a "
            f"{type(policy).__name__} instead."
        )
    return policy


__all__ = [
    "AWS_S3_HOST",
    "PERMISSIVE",
    "SourcePolicy",
    "effective",
    "is_ip_like",
    "normalize_host",
    "split_host_port",
]
