"""A small, safe formula language for computed columns and row filters (parsed, never eval'ed).

Grammar (lowest to highest precedence)::

    expr    := or
    or      := and ("or" and)*
    and     := not ("and" not)*
    not     := "not" not | compare
    compare := sum (("=" | "==" | "!=" | "<>" | "<" | "<=" | ">" | ">=") sum)?
    sum     := product (("+" | "-" | "&") product)*      + adds numbers or joins text; & joins text
    product := unary (("*" | "/" | "%") unary)*
    unary   := "-" unary | power
    power   := atom ("^" unary)?                          right-associative
    atom    := number | "text" | 'text' | true | false | null | column | [column name]
             | name "(" (expr ("," expr)*)? ")" | "(" expr ")"

Columns are bare names (letters, digits, _) or any name in square brackets (``[Unit Price]``;
``]]`` inside brackets is a literal ``]``). Keywords and function names ignore case. Evaluation is
vectorized over a whole DataFrame: missing values propagate through arithmetic, comparisons with a
missing value are false, division by zero gives a missing value.

Hostile formulas are refused with a clear error, quickly and in bounded memory: the text is at
most ``MAX_LENGTH`` characters, brackets and functions nest at most ``MAX_DEPTH`` levels, the
tree of operations (``1 + 1 + ...`` is one level per ``+``) is at most ``MAX_TREE_DEPTH`` deep,
every function checks its arguments, and text results stay within the limits of
:mod:`automl.prep.text` (checked before each text is built).
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from automl.errors import ParameterError
from automl.prep.text import check_lengths, replace_text, text_lengths

MAX_LENGTH = 2000
MAX_DEPTH = 50  # brackets, functions and signs inside one another
# Values and operations inside one another, chains included (a + b + c is three levels deep): the
# evaluator takes two or three Python frames per level, so this stays far below Python's recursion
# limit (1,000 frames) whoever calls it; row_sum(a, b, ...) adds more columns than that.
MAX_TREE_DEPTH = 100

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<bracket>\[(?:[^\]]|\]\])*\])
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op><=|>=|!=|<>|==|[-+*/%^&=<>(),])
    """,
    re.VERBOSE,
)
_KEYWORDS = {"and", "or", "not", "true", "false", "null"}


@dataclass(frozen=True)
class Token:
    kind: str  # num, str, name, col, op, end
    text: str
    pos: int  # 0-based character offset


def _syntax(text: str, pos: int, what: str, fix: str) -> ParameterError:
    excerpt = text[max(0, pos - 15) : pos + 15]
    return ParameterError(f"Formula error at character {pos + 1}: {what} (near '{excerpt}'). {fix}")


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            ch = text[pos]
            if ch in "\"'":
                raise _syntax(
                    text, pos, "this text value is never closed", f"Add the closing {ch}."
                )
            if ch == "[":
                raise _syntax(text, pos, "this column name is never closed", "Add the closing ].")
            raise _syntax(
                text,
                pos,
                f"the character '{ch}' is not allowed",
                "Remove it, or put a column name containing it in [square brackets].",
            )
        kind = m.lastgroup or ""
        value = m.group()
        if kind == "bracket":
            tokens.append(Token("col", value[1:-1].replace("]]", "]"), pos))
        elif kind == "str":
            tokens.append(Token("str", _unescape(value[1:-1]), pos))
        elif kind != "ws":
            tokens.append(Token(kind, value, pos))
        pos = m.end()
    tokens.append(Token("end", "", len(text)))
    return tokens


def _unescape(body: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), body)


# ----------------------------------------------------------------------------------- nodes
@dataclass(frozen=True)
class Node:
    def to_text(self) -> str:
        raise NotImplementedError


@dataclass(frozen=True)
class Literal(Node):
    value: Any

    def to_text(self) -> str:
        v = self.value
        if v is None:
            return "null"
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        return repr(float(v)) if isinstance(v, float) else str(v)


@dataclass(frozen=True)
class Column(Node):
    name: str

    def to_text(self) -> str:
        return "[" + self.name.replace("]", "]]") + "]"


@dataclass(frozen=True)
class Unary(Node):
    op: str  # "-" or "not"
    operand: Node

    def to_text(self) -> str:
        sep = " " if self.op == "not" else ""
        return f"({self.op}{sep}{self.operand.to_text()})"


@dataclass(frozen=True)
class Binary(Node):
    op: str
    left: Node
    right: Node

    def to_text(self) -> str:
        return f"({self.left.to_text()} {self.op} {self.right.to_text()})"


@dataclass(frozen=True)
class Call(Node):
    name: str
    args: tuple[Node, ...]

    def to_text(self) -> str:
        return f"{self.name}({', '.join(a.to_text() for a in self.args)})"


# --------------------------------------------------------------------------------- parser
_COMPARE = {"=": "=", "==": "=", "!=": "!=", "<>": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0
        self.depth = 0

    def peek(self) -> Token:
        return self.tokens[self.i]

    def next(self) -> Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def word(self, *words: str) -> bool:
        tok = self.peek()
        return tok.kind == "name" and tok.text.lower() in words

    def op(self, *ops: str) -> bool:
        tok = self.peek()
        return tok.kind == "op" and tok.text in ops

    def parse(self) -> Node:
        if self.peek().kind == "end":
            raise ParameterError("The formula is empty. Write an expression such as price * 2.")
        node = self.or_()
        tok = self.peek()
        if tok.kind != "end":
            raise _syntax(
                self.text,
                tok.pos,
                f"unexpected '{tok.text}'",
                "Check for a missing operator (+, -, and, ...) or an extra ')'.",
            )
        return node

    def _enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ParameterError(
                f"The formula is nested too deeply (more than {MAX_DEPTH} levels). Split it into "
                "several formula columns."
            )

    def or_(self) -> Node:
        node = self.and_()
        while self.word("or"):
            self.next()
            node = Binary("or", node, self.and_())
        return node

    def and_(self) -> Node:
        node = self.not_()
        while self.word("and"):
            self.next()
            node = Binary("and", node, self.not_())
        return node

    def not_(self) -> Node:
        if self.word("not"):
            self.next()
            self._enter()
            node = Unary("not", self.not_())
            self.depth -= 1
            return node
        return self.compare()

    def compare(self) -> Node:
        node = self.sum()
        if self.peek().kind == "op" and self.peek().text in _COMPARE:
            op = _COMPARE[self.next().text]
            node = Binary(op, node, self.sum())
            if self.peek().kind == "op" and self.peek().text in _COMPARE:
                tok = self.peek()
                raise _syntax(
                    self.text,
                    tok.pos,
                    "two comparisons in a row",
                    "Join them with and, e.g. a < b and b < c.",
                )
        return node

    def sum(self) -> Node:
        node = self.product()
        while self.op("+", "-", "&"):
            op = self.next().text
            node = Binary(op, node, self.product())
        return node

    def product(self) -> Node:
        node = self.unary()
        while self.op("*", "/", "%"):
            op = self.next().text
            node = Binary(op, node, self.unary())
        return node

    def unary(self) -> Node:
        if self.op("-"):
            self.next()
            self._enter()
            node = Unary("-", self.unary())
            self.depth -= 1
            return node
        return self.power()

    def power(self) -> Node:
        node = self.atom()
        if self.op("^"):
            self.next()
            self._enter()
            node = Binary("^", node, self.unary())
            self.depth -= 1
        return node

    def atom(self) -> Node:
        tok = self.next()
        if tok.kind == "num":
            v = float(tok.text)
            if not math.isfinite(v):
                raise _syntax(
                    self.text, tok.pos, "this number is too large", "Use a smaller number."
                )
            return Literal(int(v) if re.fullmatch(r"\d+", tok.text) else v)
        if tok.kind == "str":
            return Literal(tok.text)
        if tok.kind == "col":
            if not tok.text.strip():
                raise _syntax(self.text, tok.pos, "empty column name []", "Write the column name.")
            return Column(tok.text)
        if tok.kind == "name":
            low = tok.text.lower()
            if self.op("("):
                return self.call(tok)
            if low in ("true", "false"):
                return Literal(low == "true")
            if low == "null":
                return Literal(None)
            if low in _KEYWORDS:
                raise _syntax(
                    self.text,
                    tok.pos,
                    f"'{tok.text}' needs a value before it",
                    "Check the formula around it.",
                )
            return Column(tok.text)
        if tok.kind == "op" and tok.text == "(":
            self._enter()
            node = self.or_()
            self.depth -= 1
            close = self.next()
            if close.kind != "op" or close.text != ")":
                raise _syntax(self.text, tok.pos, "this '(' is never closed", "Add a ')'.")
            return node
        if tok.kind == "end":
            raise _syntax(
                self.text,
                tok.pos,
                "the formula ends too early",
                "Finish the expression (a value is missing after the last operator).",
            )
        raise _syntax(self.text, tok.pos, f"unexpected '{tok.text}'", "A value is missing here.")

    def call(self, name_tok: Token) -> Node:
        name = name_tok.text.lower()
        if name not in FUNCTIONS:
            near = difflib.get_close_matches(name, list(FUNCTIONS), n=1)
            hint = f" Did you mean {near[0]}?" if near else ""
            raise _syntax(
                self.text,
                name_tok.pos,
                f"there is no function '{name_tok.text}'",
                f"{hint.strip()} See the list of functions.".strip(),
            )
        open_tok = self.next()
        self._enter()
        args: list[Node] = []
        if not self.op(")"):
            while True:
                args.append(self.or_())
                if self.op(","):
                    self.next()
                    continue
                break
        close = self.next()
        self.depth -= 1
        if close.kind != "op" or close.text != ")":
            raise _syntax(
                self.text,
                open_tok.pos,
                f"the '(' of {name}( is never closed",
                "Add a ')' or a ',' between arguments.",
            )
        lo, hi, _ = FUNCTIONS[name]
        if len(args) < lo or (hi is not None and len(args) > hi):
            want = f"{lo}" if lo == hi else f"{lo} or more" if hi is None else f"{lo} to {hi}"
            raise _syntax(
                self.text,
                name_tok.pos,
                f"{name}() takes {want} argument(s) but got {len(args)}",
                f"Usage: {FUNCTIONS[name][2]}",
            )
        if name == "case" and len(args) % 2 == 0:
            raise _syntax(
                self.text,
                name_tok.pos,
                "case() needs condition, value pairs and a final default",
                'Example: case(score > 90, "A", score > 80, "B", "C").',
            )
        return Call(name, tuple(args))


# ------------------------------------------------------------------------------ evaluation
Value = Any  # a pandas Series, or a Python scalar for constants


def _is_series(v: Value) -> bool:
    return isinstance(v, pd.Series)


def _num(v: Value, what: str) -> Value:
    if _is_series(v):
        if pd.api.types.is_bool_dtype(v):
            return v.astype(float)
        if pd.api.types.is_numeric_dtype(v):
            return v.astype(float)
        if pd.api.types.is_datetime64_any_dtype(v):
            raise ParameterError(
                f"{what} needs numbers but got dates. Use year(), month(), days_between() ... to "
                "turn dates into numbers first."
            )
        conv = pd.to_numeric(v, errors="coerce")
        if conv.notna().sum() < v.notna().sum():
            bad = v[v.notna() & conv.isna()].iloc[0]
            raise ParameterError(
                f"{what} needs numbers but got text such as {str(bad)!r}. Use number(...) to read "
                "numbers from text, or change the column's type."
            )
        return conv.astype(float)
    if v is None:
        return math.nan
    if isinstance(v, bool):
        return float(v)
    if isinstance(v, int | float):
        return float(v)
    raise ParameterError(f"{what} needs numbers but got the text {v!r}.")


def _text(v: Value) -> Value:
    if _is_series(v):
        if pd.api.types.is_float_dtype(v):
            whole = v.dropna()
            if len(whole) and bool(np.isfinite(whole).all() and (whole == np.round(whole)).all()):
                return v.map(lambda x: str(int(x)), na_action="ignore").astype(object)
        return v.astype("string").astype(object).where(v.notna(), None)
    if v is None:
        return None
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _bool(v: Value) -> Value:
    if _is_series(v):
        if pd.api.types.is_bool_dtype(v):
            return v.fillna(False).astype(bool)
        if pd.api.types.is_numeric_dtype(v):
            return (v.fillna(0) != 0).astype(bool)
        raise ParameterError(
            "and / or / not / if need true-or-false values; a text column was given. Compare it "
            'with something, e.g. city = "Paris".'
        )
    if v is None:
        return False
    if isinstance(v, str):
        raise ParameterError(f"and / or / not / if need true-or-false values, not the text {v!r}.")
    return bool(v)


def _is_textish(v: Value) -> bool:
    if _is_series(v):
        return bool(
            pd.api.types.is_object_dtype(v)
            or pd.api.types.is_string_dtype(v)
            or isinstance(v.dtype, pd.CategoricalDtype)
        )
    return isinstance(v, str)


def _dates(v: Value, what: str = "this function") -> pd.Series:
    if not _is_series(v) and v is not None and not isinstance(v, str):
        raise ParameterError(
            f"{what} needs dates, but got {_shown(v)}. Give a date column or a date in quotes, "
            'e.g. "2024-01-31".'
        )
    s = v if _is_series(v) else pd.Series([v])
    if pd.api.types.is_datetime64_any_dtype(s):
        return s
    if pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
        raise ParameterError(
            f"{what} needs dates, but got a column of numbers. Give a column of dates, or change "
            "its type to date first."
        )
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pd.to_datetime(s, errors="coerce", format="mixed")


def _where(cond: Value, a: Value, b: Value, index: pd.Index) -> Value:
    c = _bool(cond)
    a_s = a if _is_series(a) else pd.Series([a] * len(index), index=index, dtype=object)
    b_s = b if _is_series(b) else pd.Series([b] * len(index), index=index, dtype=object)
    if not _is_series(c):
        return a_s if c else b_s
    out = a_s.astype(object).where(c, b_s.astype(object))
    return out.infer_objects()


def _compare(op: str, a: Value, b: Value) -> Value:
    if _is_textish(a) or _is_textish(b):
        # text compares with text; a number compared with text compares as text
        if not (_is_textish(a) and _is_textish(b)):
            a, b = _text(a), _text(b)
    else:
        if _is_series(a) and pd.api.types.is_datetime64_any_dtype(a) and isinstance(b, str):
            b = _timestamp(b, op)
        elif _is_series(b) and pd.api.types.is_datetime64_any_dtype(b) and isinstance(a, str):
            a = _timestamp(a, op)
        elif not (_is_series(a) and pd.api.types.is_datetime64_any_dtype(a)):
            a, b = _num(a, f"'{op}'"), _num(b, f"'{op}'")
    fn: dict[str, Callable[[Any, Any], Any]] = {
        "=": lambda x, y: x == y,
        "!=": lambda x, y: x != y,
        "<": lambda x, y: x < y,
        "<=": lambda x, y: x <= y,
        ">": lambda x, y: x > y,
        ">=": lambda x, y: x >= y,
    }
    missing_a = (
        a.isna() if _is_series(a) else (a is None or (isinstance(a, float) and math.isnan(a)))
    )
    missing_b = (
        b.isna() if _is_series(b) else (b is None or (isinstance(b, float) and math.isnan(b)))
    )
    if not _is_series(a) and not _is_series(b):
        if missing_a or missing_b:
            return False
        return bool(fn[op](a, b))
    try:
        if _is_textish(a) or _is_textish(b):
            aa = a.fillna("") if _is_series(a) else ("" if a is None else a)
            bb = b.fillna("") if _is_series(b) else ("" if b is None else b)
            res = fn[op](aa, bb)
        else:
            res = fn[op](a, b)
    except TypeError:
        raise ParameterError(
            f"Cannot compare these values with '{op}' (e.g. a date with a number)."
        ) from None
    res = pd.Series(res, index=(a if _is_series(a) else b).index).astype(bool)
    return res & ~missing_a & ~missing_b


def _timestamp(text: str, op: str) -> Any:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        when = pd.to_datetime(pd.Series([text]), errors="coerce", format="mixed").iloc[0]
    if text.strip() and pd.isna(when):
        raise ParameterError(
            f"'{op}' compares dates with the text {text!r}, which is not a date. Write a date such "
            'as "2024-01-31".'
        )
    return when


def _shown(v: Value) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "a missing value (null)"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return f"the text {v[:40]!r}"
    if isinstance(v, float):
        return f"the number {v:g}"
    return f"the number {v}" if isinstance(v, int) else "a value of another kind"


def _join_text(ta: Value, tb: Value, what: str) -> Value:
    la, lb = text_lengths(ta), text_lengths(tb)
    if isinstance(la, pd.Series):
        check_lengths(la + lb, what)
    elif isinstance(lb, pd.Series):
        check_lengths(lb + la, what)
    else:
        check_lengths(la + lb, what)
    return ta + tb if _is_series(ta) else tb.radd(ta)


def _arith(op: str, a: Value, b: Value) -> Value:
    if op == "&" or (op == "+" and (_is_textish(a) or _is_textish(b))):
        ta, tb = _text(a), _text(b)
        if op == "+" and not (_is_textish(a) and _is_textish(b)):
            raise ParameterError(
                "'+' between text and a number is ambiguous: use & to join text (a & b), or "
                "number(...) to read the text as a number."
            )
        if not _is_series(ta) and not _is_series(tb):
            return None if ta is None or tb is None else _join_text(ta, tb, f"'{op}'")
        return _join_text(ta, tb, f"'{op}'")
    if _is_series(a) and pd.api.types.is_datetime64_any_dtype(a) and op == "-":
        d = _dates(b, "'-' after a date")
        if not _is_series(b):
            d = pd.Series([d.iloc[0]] * len(a), index=a.index)
        return (a - d.to_numpy()).dt.total_seconds() / 86400.0
    x, y = _num(a, f"'{op}'"), _num(b, f"'{op}'")
    with np.errstate(all="ignore"):
        if op == "+":
            return x + y
        if op == "-":
            return x - y
        if op == "*":
            return x * y
        if op == "/":
            return _nan_inf(x / y) if _is_series(x) or _is_series(y) else _div(x, y)
        if op == "%":
            if _is_series(x) or _is_series(y):
                return _nan_inf(x % y)
            return math.nan if y == 0 or math.isnan(y) or math.isnan(x) else x % y
        if op == "^":
            if _is_series(x) or _is_series(y):
                return _nan_inf(np.power(x, y))
            try:
                r = x**y
                return math.nan if isinstance(r, complex) or math.isinf(r) else r
            except (OverflowError, ZeroDivisionError):
                return math.nan
    raise AssertionError(op)


def _div(x: float, y: float) -> float:
    if y == 0 or math.isnan(y) or math.isnan(x):
        return math.nan
    return x / y


def _nan_inf(v: Value) -> Value:
    if _is_series(v):
        return v.replace([np.inf, -np.inf], np.nan)
    return v


def _rowwise(args: list[Value], index: pd.Index, fn: str) -> pd.Series:
    frame = pd.concat(
        [
            pd.Series(_num(a, f"{fn}()"), index=index) if not _is_series(a) else _num(a, f"{fn}()")
            for a in args
        ],
        axis=1,
    )
    if fn == "row_count":
        return frame.notna().sum(axis=1).astype(float)
    return getattr(
        frame,
        {
            "row_sum": "sum",
            "row_mean": "mean",
            "row_min": "min",
            "row_max": "max",
            "min": "min",
            "max": "max",
        }[fn],
    )(axis=1, **({"min_count": 1} if fn == "row_sum" else {}))


def _fixed(
    v: Value,
    fn: str,
    what: str,
    *,
    whole: bool = True,
    lo: float | None = None,
    hi: float | None = None,
) -> float:
    """A function argument that must be one fixed number (not a column): present, a number,
    whole if ``whole``, between ``lo`` and ``hi``; else an error naming ``fn`` and ``what``."""
    kind = "whole number" if whole else "number"
    if _is_series(v):
        raise ParameterError(
            f"{fn}(): {what} must be a fixed {kind} such as 3, not a column or a value that "
            "changes from row to row."
        )
    if v is None or isinstance(v, bool | str) or not isinstance(v, int | float) or math.isnan(v):
        raise ParameterError(f"{fn}(): {what} must be a {kind} such as 3, but got {_shown(v)}.")
    x = float(v)
    bounded = math.isfinite(x) and (lo is None or x >= lo) and (hi is None or x <= hi)
    if (whole and not x.is_integer()) or not bounded:
        if lo is not None and hi is not None:
            rule = f"a {kind} from {lo:g} to {hi:g}"
        elif lo is not None:
            rule = f"a {kind} of at least {lo:g}"
        else:
            rule = f"a {kind}"
        raise ParameterError(f"{fn}(): {what} must be {rule}, but got {_shown(v)}.")
    return x


def _fixed_text(v: Value, fn: str, what: str, missing_ok: bool = False) -> str:
    """A function argument that must be one fixed text (a number is read as its text)."""
    if _is_series(v):
        raise ParameterError(
            f'{fn}(): {what} must be a fixed value in quotes, such as "abc", not a column.'
        )
    if v is None:
        if missing_ok:
            return ""
        raise ParameterError(
            f'{fn}(): {what} is missing (null); give a text in quotes, such as "abc".'
        )
    return str(_text(v))


def _series(v: Value, index: pd.Index) -> pd.Series:
    return v if _is_series(v) else pd.Series([v] * len(index), index=index, dtype=object)


def _math1(name: str, fn: Callable[[Any], Any]) -> Callable[[list[Value], pd.Index], Value]:
    def run(args: list[Value], index: pd.Index) -> Value:
        x = _num(args[0], f"{name}()")
        with np.errstate(all="ignore"):
            out = fn(pd.Series(x, index=index) if not _is_series(x) else x)
        return _nan_inf(pd.Series(out, index=index))

    return run


def _count(v: Value, fn: str, what: str, least: int) -> int:
    """A count of characters: a fixed whole number of at least ``least`` (no text is longer than
    a billion characters, so a larger count means "all")."""
    return int(min(_fixed(v, fn, what, lo=least), 1e9))


def _str_fn(name: str) -> Callable[[list[Value], pd.Index], Value]:
    def run(args: list[Value], index: pd.Index) -> Value:
        s = _series(_text(args[0]), index).astype(object)
        acc = s.str
        if name == "len":
            return acc.len().astype(float)
        if name in ("lower", "upper"):
            return getattr(acc, name)()
        if name == "trim":
            return acc.strip()
        if name in ("left", "right"):
            k = _count(args[1], name, "the number of characters (2nd value)", 0)
            if name == "left":
                return acc[:k]
            return acc[-k:] if k > 0 else acc[:0]
        if name == "substr":
            start = _count(args[1], name, "the start (2nd value)", 1) - 1
            if len(args) < 3:
                return acc[start:]
            return acc[start : start + _count(args[2], name, "the length (3rd value)", 0)]
        needle = _fixed_text(args[1], name, "the text to look for (2nd value)")
        if name == "contains":
            return acc.contains(needle, regex=False).fillna(False).astype(bool)
        if name == "starts_with":
            return acc.startswith(needle).fillna(False).astype(bool)
        if name == "ends_with":
            return acc.endswith(needle).fillna(False).astype(bool)
        if name == "replace":
            new = _fixed_text(args[2], name, "the new text (3rd value)", missing_ok=True)
            return replace_text(s, needle, new, "replace()")
        raise AssertionError(name)

    return run


def _date_part(part: str) -> Callable[[list[Value], pd.Index], Value]:
    def run(args: list[Value], index: pd.Index) -> Value:
        d = _dates(args[0], f"{part}()")
        v = d.dt.day_of_week if part == "weekday" else getattr(d.dt, part)
        values = v.astype(float).to_numpy()
        if len(values) != len(index):  # a constant date: the same part in every row
            values = np.repeat(values[:1], len(index))
        return pd.Series(values, index=index)

    return run


def _coalesce(args: list[Value], index: pd.Index) -> Value:
    out = args[0] if _is_series(args[0]) else pd.Series([args[0]] * len(index), index=index)
    for a in args[1:]:
        out = out.astype(object).where(out.notna(), a).infer_objects()
    return out


def _concat(args: list[Value], index: pd.Index) -> Value:
    parts = [_text(a) for a in args]
    lengths = pd.Series(0, index=index, dtype="int64")
    for p in parts:
        lengths = lengths + text_lengths(p)
    check_lengths(lengths, "concat()")
    out = pd.Series([""] * len(index), index=index, dtype=object)
    for p in parts:
        out = out + (p.fillna("") if _is_series(p) else ("" if p is None else p))
    return out


MAX_DIGITS = 15  # a float holds about 15 significant digits


def _round(args: list[Value], index: pd.Index) -> Value:
    x = _num(args[0], "round()")
    digits = 0
    if len(args) > 1:
        what = "the number of decimals (2nd value)"
        digits = int(_fixed(args[1], "round", what, lo=-MAX_DIGITS, hi=MAX_DIGITS))
    return (x if _is_series(x) else pd.Series(x, index=index)).round(digits)


def _log(args: list[Value], index: pd.Index) -> Value:
    x = _num(args[0], "log()")
    s = x if _is_series(x) else pd.Series(x, index=index)
    with np.errstate(all="ignore"):
        out = np.log(s.where(s > 0))
        if len(args) > 1:
            base = _num(args[1], "log() (the base, 2nd value)")
            if _is_series(base):  # a base per row: missing where it is no base
                out = out / np.log(base.where((base > 0) & (base != 1)))
            else:
                b = _fixed(base, "log", "the base (2nd value)", whole=False)
                if b <= 0 or b == 1:
                    raise ParameterError(
                        f"log(): the base (2nd value) must be a positive number other than 1, "
                        f"such as 2 or 10, but got {_shown(b)}."
                    )
                out = out / math.log(b)
    return _nan_inf(out)


def _days_between(args: list[Value], index: pd.Index) -> Value:
    a, b = _dates(args[0], "days_between()"), _dates(args[1], "days_between()")
    if len(a) != len(index):
        a = pd.Series([a.iloc[0]] * len(index), index=index)
    if len(b) != len(index):
        b = pd.Series([b.iloc[0]] * len(index), index=index)
    return pd.Series(
        ((b.to_numpy() - a.to_numpy()) / np.timedelta64(1, "D")).astype(float), index=index
    )


_IMPL: dict[str, Callable[[list[Value], pd.Index], Value]] = {
    "abs": _math1("abs", np.abs),
    "floor": _math1("floor", np.floor),
    "ceil": _math1("ceil", np.ceil),
    "sqrt": _math1("sqrt", lambda s: np.sqrt(s.where(s >= 0))),
    "exp": _math1("exp", np.exp),
    "log10": _math1("log10", lambda s: np.log10(s.where(s > 0))),
    "log": _log,
    "round": _round,
    "pow": lambda a, i: _arith("^", a[0], a[1]),
    "min": lambda a, i: _rowwise(a, i, "min"),
    "max": lambda a, i: _rowwise(a, i, "max"),
    "row_sum": lambda a, i: _rowwise(a, i, "row_sum"),
    "row_mean": lambda a, i: _rowwise(a, i, "row_mean"),
    "row_min": lambda a, i: _rowwise(a, i, "row_min"),
    "row_max": lambda a, i: _rowwise(a, i, "row_max"),
    "row_count": lambda a, i: _rowwise(a, i, "row_count"),
    "is_missing": lambda a, i: (
        a[0].isna() if _is_series(a[0]) else pd.Series([a[0] is None] * len(i), index=i)
    ),
    "coalesce": _coalesce,
    "number": lambda a, i: pd.to_numeric(
        _text(a[0]) if _is_series(a[0]) else pd.Series([a[0]] * len(i), index=i), errors="coerce"
    ).astype(float),
    "text": lambda a, i: (
        _text(a[0]) if _is_series(a[0]) else pd.Series([_text(a[0])] * len(i), index=i)
    ),
    "concat": _concat,
    "year": _date_part("year"),
    "month": _date_part("month"),
    "day": _date_part("day"),
    "weekday": _date_part("weekday"),
    "hour": _date_part("hour"),
    "days_between": _days_between,
}
for _name in (
    "len",
    "lower",
    "upper",
    "trim",
    "left",
    "right",
    "substr",
    "contains",
    "starts_with",
    "ends_with",
    "replace",
):
    _IMPL[_name] = _str_fn(_name)

FUNCTIONS: dict[str, tuple[int, int | None, str]] = {
    "if": (3, 3, "if(condition, value if true, value if false)"),
    "case": (3, None, "case(cond1, value1, cond2, value2, ..., default)"),
    "abs": (1, 1, "abs(x): absolute value"),
    "round": (1, 2, "round(x, digits): round to digits decimals (default 0)"),
    "floor": (1, 1, "floor(x): round down"),
    "ceil": (1, 1, "ceil(x): round up"),
    "sqrt": (1, 1, "sqrt(x): square root (missing for negative x)"),
    "log": (1, 2, "log(x) natural logarithm, log(x, base) (missing for x <= 0)"),
    "log10": (1, 1, "log10(x): base-10 logarithm"),
    "exp": (1, 1, "exp(x): e to the power x"),
    "pow": (2, 2, "pow(x, y): x to the power y (same as x ^ y)"),
    "min": (2, None, "min(a, b, ...): smallest of the values in each row"),
    "max": (2, None, "max(a, b, ...): largest of the values in each row"),
    "row_sum": (1, None, "row_sum(a, b, ...): sum across columns, ignoring missing"),
    "row_mean": (1, None, "row_mean(a, b, ...): mean across columns, ignoring missing"),
    "row_min": (1, None, "row_min(a, b, ...): minimum across columns, ignoring missing"),
    "row_max": (1, None, "row_max(a, b, ...): maximum across columns, ignoring missing"),
    "row_count": (1, None, "row_count(a, b, ...): how many of the values are present"),
    "is_missing": (1, 1, "is_missing(x): true where x has no value"),
    "coalesce": (2, None, "coalesce(a, b, ...): the first value that is present"),
    "number": (1, 1, "number(x): read a number from text (unreadable -> missing)"),
    "text": (1, 1, "text(x): the value as text"),
    "len": (1, 1, "len(t): number of characters"),
    "lower": (1, 1, "lower(t): lower case"),
    "upper": (1, 1, "upper(t): upper case"),
    "trim": (1, 1, "trim(t): remove spaces at both ends"),
    "left": (2, 2, "left(t, n): first n characters"),
    "right": (2, 2, "right(t, n): last n characters"),
    "substr": (2, 3, "substr(t, start, length): characters from start (1 = first)"),
    "contains": (2, 2, 'contains(t, "x"): true where t contains x'),
    "starts_with": (2, 2, 'starts_with(t, "x"): true where t starts with x'),
    "ends_with": (2, 2, 'ends_with(t, "x"): true where t ends with x'),
    "replace": (3, 3, 'replace(t, "old", "new"): replace every old with new'),
    "concat": (1, None, "concat(a, b, ...): join values as text (missing -> empty)"),
    "year": (1, 1, "year(date)"),
    "month": (1, 1, "month(date): 1-12"),
    "day": (1, 1, "day(date): day of the month"),
    "weekday": (1, 1, "weekday(date): 0 = Monday ... 6 = Sunday"),
    "hour": (1, 1, "hour(date)"),
    "days_between": (2, 2, "days_between(start, end): days from start to end"),
}


class Expression:
    """A parsed formula. ``Expression.parse(text, columns)`` checks it; ``evaluate(df)`` runs it."""

    def __init__(self, text: str, node: Node) -> None:
        self.text = text
        self.node = node
        self.columns = frozenset(_column_names(node))

    @classmethod
    def parse(cls, text: str, columns: Sequence[str] | None = None) -> Expression:
        if not isinstance(text, str):
            raise ParameterError(f"A formula must be text. Got {type(text).__name__}.")
        if len(text) > MAX_LENGTH:
            raise ParameterError(
                f"The formula is {len(text):,} characters long; the limit is {MAX_LENGTH:,}. "
                "Split it into several formula columns."
            )
        try:
            node = _Parser(text).parse()
        except RecursionError:
            raise ParameterError(
                f"The formula is nested too deeply (more than {MAX_DEPTH} levels)."
            ) from None
        check_depth(node)
        expr = cls(text, node)
        if columns is not None:
            expr.check_columns(columns)
        return expr

    def check_columns(self, columns: Sequence[str]) -> None:
        have = [str(c) for c in columns]
        for name in sorted(self.columns):
            if name not in have:
                lower = {c.lower(): c for c in have}
                near = (
                    [lower[name.lower()]]
                    if name.lower() in lower
                    else difflib.get_close_matches(name, have, n=2)
                )
                hint = f" Did you mean {' or '.join(_ref(n) for n in near)}?" if near else ""
                raise ParameterError(
                    f"The formula uses a column '{name}' that the data does not have.{hint} "
                    "Names with spaces or symbols go in [square brackets]."
                )

    def to_text(self) -> str:
        return self.node.to_text()

    def evaluate(self, df: pd.DataFrame) -> pd.Series:
        self.check_columns([str(c) for c in df.columns])
        value = _Evaluator(df).eval(self.node)
        if _is_series(value):
            return value.reindex(df.index) if not value.index.equals(df.index) else value
        return pd.Series([value] * len(df), index=df.index, dtype=object).infer_objects()


def _ref(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) else f"[{name}]"


def _children(node: Node) -> tuple[Node, ...]:
    if isinstance(node, Unary):
        return (node.operand,)
    if isinstance(node, Binary):
        return (node.left, node.right)
    if isinstance(node, Call):
        return node.args
    return ()


def _too_deep() -> ParameterError:
    return ParameterError(
        f"The formula has too many operations inside one another (more than {MAX_TREE_DEPTH} "
        "levels, e.g. that many values added one after the other). Split it into several formula "
        "columns, or add many columns with row_sum(a, b, ...)."
    )


def check_depth(node: Node) -> None:
    """Refuse a tree deeper than ``MAX_TREE_DEPTH`` (walked without recursion)."""
    stack = [(node, 1)]
    while stack:
        n, depth = stack.pop()
        if depth > MAX_TREE_DEPTH:
            raise _too_deep()
        stack.extend((c, depth + 1) for c in _children(n))


def _column_names(node: Node) -> list[str]:
    """Every column the tree reads, left to right (walked without recursion)."""
    names: list[str] = []
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, Column):
            names.append(n.name)
        stack.extend(reversed(_children(n)))
    return names


class _Evaluator:
    def __init__(self, df: pd.DataFrame) -> None:
        self.df = df
        self.index = df.index
        self.names = {str(c): c for c in df.columns}
        self.depth = 0

    def eval(self, node: Node) -> Value:
        self.depth += 1
        if self.depth > MAX_TREE_DEPTH:
            raise _too_deep()
        try:
            return self._eval(node)
        finally:
            self.depth -= 1

    def _eval(self, node: Node) -> Value:
        if isinstance(node, Literal):
            return node.value
        if isinstance(node, Column):
            col = self.df[self.names[node.name]]
            if isinstance(col, pd.DataFrame):
                raise ParameterError(
                    f"The data has several columns named '{node.name}', so the formula cannot "
                    "tell which one it uses. Rename them so each column has its own name."
                )
            return col
        if isinstance(node, Unary):
            v = self.eval(node.operand)
            if node.op == "-":
                return -_num(v, "'-'")
            b = _bool(v)
            return ~b if _is_series(b) else not b
        if isinstance(node, Binary):
            a = self.eval(node.left)
            b = self.eval(node.right)
            if node.op in ("and", "or"):
                x, y = _bool(a), _bool(b)
                if node.op == "and":
                    return x & y if _is_series(x) or _is_series(y) else x and y
                return x | y if _is_series(x) or _is_series(y) else x or y
            if node.op in ("=", "!=", "<", "<=", ">", ">="):
                return _compare(node.op, a, b)
            return _arith(node.op, a, b)
        if isinstance(node, Call):
            if node.name == "if":
                c, a, b = (self.eval(x) for x in node.args)
                return _where(c, a, b, self.index)
            if node.name == "case":
                args = [self.eval(x) for x in node.args]
                out = args[-1]
                for i in range(len(args) - 3, -1, -2):
                    out = _where(args[i], args[i + 1], out, self.index)
                return out
            return _IMPL[node.name]([self.eval(a) for a in node.args], self.index)
        raise AssertionError(node)
