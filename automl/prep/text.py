"""Text made from user input, in bounded time and memory: size limits and patterns.

* **Size limits.** A formula or a recipe step can make text grow (``replace(x, "", y)`` inserts
  ``y`` between every character, and nesting it multiplies the length each time). Every operation
  that makes longer text checks the size of its result *before* building it
  (:func:`check_lengths`): at most :data:`MAX_TEXT_LENGTH` characters in one value and
  :data:`MAX_COLUMN_TEXT` characters in one computed column.
* **Patterns.** Users' patterns (find and replace, extract text) run on RE2, whose matching time
  grows linearly with the text (Python's ``re`` backtracks: ``(a+)+$`` takes seconds on 25
  characters and doubles with each one more). RE2 has no back-references (``\\1`` in a pattern)
  and no look-arounds; such patterns get a clear error (:func:`compile_pattern`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pandas as pd
import re2

from automl.errors import ParameterError

# One computed value: three times the longest text a spreadsheet cell holds (Excel: 32,767).
MAX_TEXT_LENGTH = 100_000
# One computed column: 100 million characters (100 MB to 400 MB of memory as Python text).
MAX_COLUMN_TEXT = 100_000_000
# The memory RE2 may use to compile one pattern (its default, 8 MB, refuses only absurd patterns).
PATTERN_MEMORY = 8 << 20
MAX_PATTERN_LENGTH = 1000

_TEMPLATE = re.compile(r"\\(g<([^>]*)>|[0-9]{1,2}|.)", re.S)


def text_too_long(what: str, longest: int, total: int | None = None) -> ParameterError:
    """The error for a result over a size limit, naming the limit."""
    if longest > MAX_TEXT_LENGTH:
        return ParameterError(
            f"{what} would make a text of {longest:,} characters in one row; the limit is "
            f"{MAX_TEXT_LENGTH:,} characters per value. Check what it replaces or joins (for "
            "example, replacing an empty text inserts the new text between every character)."
        )
    return ParameterError(
        f"{what} would make {total or 0:,} characters of text in the column; the limit is "
        f"{MAX_COLUMN_TEXT:,} characters per computed column. Use shorter texts, or fewer rows."
    )


def check_lengths(lengths: pd.Series | int, what: str) -> None:
    """Refuse a result whose values would have these ``lengths`` (a Series: one per row; an int:
    one value shared by every row) when it is over a limit."""
    if isinstance(lengths, pd.Series):
        if lengths.empty:
            return
        longest = int(lengths.max(skipna=True) if lengths.notna().any() else 0)
        total = int(lengths.sum(skipna=True))
        if longest > MAX_TEXT_LENGTH or total > MAX_COLUMN_TEXT:
            raise text_too_long(what, longest, total)
    elif lengths > MAX_TEXT_LENGTH:
        raise text_too_long(what, int(lengths))


def text_lengths(v: Any) -> pd.Series | int:
    """Characters in each value (missing counts as 0), or in one constant."""
    if isinstance(v, pd.Series):
        return v.astype(object).map(lambda x: len(x) if isinstance(x, str) else 0)
    return len(v) if isinstance(v, str) else 0


def replace_text(values: pd.Series, old: str, new: str, what: str) -> pd.Series:
    """Every ``old`` (plain text) in ``values`` replaced by ``new``; the result's size is checked
    before it is built."""
    acc = values.astype(object).str
    if len(new) > len(old):
        lengths = acc.len()
        count = lengths + 1 if old == "" else acc.count(re.escape(old))
        check_lengths(lengths + count * (len(new) - len(old)), what)
    return acc.replace(old, new, regex=False)


# ------------------------------------------------------------------------------ patterns
def _re2_message(exc: Exception) -> str:
    raw = exc.args[0] if exc.args else ""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    return text or "it cannot be read"


def compile_pattern(pattern: str, what: str, *, literal: bool = False, case: bool = True) -> Any:
    """``pattern`` compiled by RE2 (``literal``: the text as written), or a clear error naming
    ``what`` (e.g. "Find and replace")."""
    if not isinstance(pattern, str) or pattern == "":
        raise ParameterError(f"{what} needs the text or pattern to look for.")
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise ParameterError(
            f"{what}: the pattern is {len(pattern):,} characters long; the limit is "
            f"{MAX_PATTERN_LENGTH:,}."
        )
    options = re2.Options()
    options.log_errors = False
    options.max_mem = PATTERN_MEMORY
    options.literal = literal
    options.case_sensitive = case
    try:
        return re2.compile(_safe(pattern), options)
    except re2.error as exc:
        reason = _re2_message(exc)
        extra = ""
        if "escape" in reason or "(?" in pattern or "\\" in pattern:
            extra = (
                " Patterns cannot refer back to a group (\\1) or look ahead or behind "
                "((?=...), (?!...), (?<=...))."
            )
        raise ParameterError(
            f"{what}: '{pattern}' is not a valid pattern ({reason}).{extra} Turn off 'pattern' "
            "to look for the text as written."
        ) from None


def _safe(text: str) -> str:
    """Text RE2 can take (UTF-8): characters that cannot be encoded become '?'."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")


def replacement(template: str, regex: Any, what: str) -> Callable[[Any], str]:
    """The replacement for each match: ``template`` as written, or (a pattern) with ``\\1`` or
    ``\\g<name>`` standing for a group of the match."""
    pieces: list[str | int] = []
    groups = int(regex.groups)
    names = dict(regex.groupindex)
    pos = 0
    for m in _TEMPLATE.finditer(template):
        pieces.append(template[pos : m.start()])
        ref = m.group(2) if m.group(2) is not None else m.group(1)
        if m.group(2) is not None or ref.isdigit():
            key: int | str = int(ref) if ref.isdigit() else names.get(ref, -1)
            if not isinstance(key, int) or not 0 <= key <= groups:
                raise ParameterError(
                    f"{what}: the replacement refers to group '{ref}', but the pattern has "
                    f"{groups} group(s) in parentheses. Write \\1 for the first group."
                )
            pieces.append(key)
        else:
            pieces.append({"n": "\n", "t": "\t", "r": "\r", "\\": "\\"}.get(ref, "\\" + ref))
        pos = m.end()
    pieces.append(template[pos:])

    def expand(match: Any) -> str:
        return "".join(p if isinstance(p, str) else (match.group(p) or "") for p in pieces)

    return expand


def substitute(values: pd.Series, regex: Any, repl: Callable[[Any], str], what: str) -> pd.Series:
    """Every match of ``regex`` in ``values`` (text or missing) replaced by ``repl(match)``; stops
    with :func:`text_too_long` as soon as a value or the column gets over a limit."""
    total = 0
    out: list[Any] = []
    for v in values.tolist():
        if not isinstance(v, str):
            out.append(None)
            continue
        text = _safe(v)
        grown = [len(text)]

        def counted(match: Any, grown: list[int] = grown) -> str:
            piece = repl(match)
            grown[0] += len(piece) - (match.end() - match.start())
            if grown[0] > MAX_TEXT_LENGTH:
                raise text_too_long(what, grown[0])
            return piece

        new = regex.sub(counted, text)
        total += len(new)
        if total > MAX_COLUMN_TEXT:
            raise text_too_long(what, len(new), total)
        out.append(new)
    return pd.Series(out, index=values.index, dtype=object)


def extract(values: pd.Series, regex: Any) -> pd.Series:
    """The first match of ``regex`` in each value (its group, if it has one); missing where none."""
    group = 1 if regex.groups else 0
    out: list[Any] = []
    for v in values.tolist():
        m = regex.search(_safe(v)) if isinstance(v, str) else None
        out.append(m.group(group) if m is not None else None)
    return pd.Series(out, index=values.index, dtype=object)
