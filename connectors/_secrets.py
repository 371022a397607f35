"""Keeping secrets out of what is shown: a URL's password and its secret-looking parameters.

Pure text functions (no database library), so every connector, the registry's error for an
unknown source and the data service can mask a URL before it is shown, logged, stored in the
catalog or put in an error.
"""

from __future__ import annotations

import re
from urllib.parse import unquote_plus

MASK = "***"
# a parameter whose name contains one of these holds a secret (password=, sslpassword=, pwd=,
# api_key=, private_key=, aws_secret_access_key=, token=, X-Amz-Credential=, sig= ...)
_SECRET_NAME = re.compile(r"pass|pwd|secret|token|key|credential|auth|sig", re.IGNORECASE)
# scheme://user:password@ (a user name may hold '@'; the password runs to the next '@', as
# SQLAlchemy reads it)
_USERINFO = re.compile(r"(?P<pre>[A-Za-z][A-Za-z0-9+.\-]*://[^:/?#\s]*):(?P<pw>[^@]*)@")
# scheme://anything@ (a whole user part up to the last '@', for addresses that must show none)
_ANY_USERINFO = re.compile(r"(?P<pre>[A-Za-z][A-Za-z0-9+.\-]*://)[^?#\s]*@")
_PARAM = re.compile(r"(?P<sep>[?&;])(?P<name>[^=&;#?\s]+)=(?P<value>[^&;]*)")


def is_secret_name(name: str) -> bool:
    """Whether a URL parameter called ``name`` (percent-encoding undone) holds a secret."""
    return bool(_SECRET_NAME.search(unquote_plus(name)))


def redact_url(text: str, *, drop_user: bool = False) -> str:
    """``text`` with every URL password and secret-looking parameter value replaced by ``***``.

    ``drop_user`` removes the whole ``user:password@`` part instead (for addresses such as an
    object storage endpoint, where a user name may itself be a key).
    """
    if drop_user:
        out = _ANY_USERINFO.sub(lambda m: m.group("pre"), text)
    else:
        out = _USERINFO.sub(lambda m: f"{m.group('pre')}:{MASK}@", text)

    def param(m: re.Match[str]) -> str:
        if not is_secret_name(m.group("name")):
            return m.group(0)
        return f"{m.group('sep')}{m.group('name')}={MASK}"

    return _PARAM.sub(param, out) if "=" in out else out


def scrub(text: str, secrets: list[str]) -> str:
    """``text`` with each secret value replaced by ``***`` (short ones only as whole words, so a
    one-letter password does not garble the message)."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        if len(secret) >= 4:
            text = text.replace(secret, MASK)
        else:
            text = re.sub(rf"(?<!\w){re.escape(secret)}(?!\w)", MASK, text)
    return text
