"""Reading a kept candidate's files as hostile input: bounded, checked, never half-trusted.

Every family reads its files through these helpers, so a damaged, cut or hand-edited file is one
:class:`~automl.errors.ArtifactError` that names the file and says what is wrong, before any
native library (LightGBM, XGBoost) or any numpy indexing sees a value from it.
"""

from __future__ import annotations

import json
import math
import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from automl.errors import ArtifactError

# A kept candidate's file is at most this big (measured: the largest model file of the peer
# benchmark, 3000 rounds of 127 leaves, is 38 MB of LightGBM text); past it, reading would cost
# memory a damaged file must not be able to claim.
MAX_FILE_BYTES = 1 << 30
# The arrays of one .npz, uncompressed, hold at most this many bytes (a k-NN model keeps at most
# 10,000 rows; a compressed file can claim far more than its size on disk).
MAX_ARRAY_BYTES = 1 << 31
# Trees deeper than this are refused: no Easel fit grows them (LightGBM's leaves are capped at
# 512, XGBoost's depth at 12), and explanations walk a tree recursively.
MAX_TREE_DEPTH = 1024
INT32_MAX = 2**31 - 1
_NUMBER = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")
_INTEGER = re.compile(r"^-?\d{1,10}$")


def damaged(path: Path, detail: str) -> ArtifactError:
    """The one message for a damaged candidate file: which file, what is wrong, what to do."""
    return ArtifactError(
        f"The model file '{path}' is damaged or was edited by hand: {detail}. Retrain the "
        "model (or restore the model folder from a copy)."
    )


def read_bytes(path: Path) -> bytes:
    """A candidate file's bytes: it must exist and be of a sane size."""
    if not path.is_file():
        raise damaged(path, "the file is missing")
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise damaged(path, f"it is {size / 2**30:.1f} GB, larger than any model Easel writes")
    if size == 0:
        raise damaged(path, "the file is empty")
    return path.read_bytes()


def read_text(path: Path) -> str:
    """A candidate file as UTF-8 text without NUL characters (a C reader would stop at one)."""
    try:
        text = read_bytes(path).decode("utf-8")
    except UnicodeDecodeError:
        raise damaged(path, "it is not a text file") from None
    if "\x00" in text:
        raise damaged(path, "it contains binary data")
    return text


def read_json(path: Path) -> Any:
    """A candidate file as JSON (no NaN or infinite numbers, bounded nesting)."""
    text = read_text(path)
    try:
        data = json.loads(text, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:
        if isinstance(exc, json.JSONDecodeError) and exc.pos >= len(text.rstrip()) - 1:
            raise damaged(path, "the file is cut short") from None
        raise damaged(path, "it is not valid JSON") from None
    check_plain(path, data)
    return data


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


def check_plain(path: Path, data: Any, max_depth: int = 32) -> None:
    """JSON data nested at most ``max_depth`` deep, with whole numbers that fit 64 bits and
    finite decimals: what a C++ JSON reader can take without overflowing."""
    stack: list[tuple[Any, int]] = [(data, 0)]
    while stack:
        value, depth = stack.pop()
        if depth > max_depth:
            raise damaged(path, "its data is nested deeper than any model Easel writes")
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)
        elif isinstance(value, bool) or value is None or isinstance(value, str):
            continue
        elif isinstance(value, int):
            if not -(2**63) <= value < 2**63:
                raise damaged(path, f"it holds a number too large to be real ({value:.3g})")
        elif isinstance(value, float) and not math.isfinite(value):
            raise damaged(path, "it holds a number too large to be real")


def as_int(path: Path, value: Any, what: str, low: int = 0, high: int = INT32_MAX) -> int:
    """``value`` (a JSON integer or the text of one) as an int in [low, high]."""
    if isinstance(value, str) and _INTEGER.match(value.strip()):
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int):
        raise damaged(path, f"{what} should be a whole number")
    if not low <= value <= high:
        raise damaged(path, f"{what} is {value}, outside {low} to {high}")
    return value


def number_tokens(
    path: Path, text: str, what: str, count: int, infinite: bool = False
) -> list[str]:
    """``count`` space-separated decimal numbers, returned as written: finite, or with
    ``infinite`` also ``inf`` and ``-inf`` (LightGBM writes them for some split thresholds)."""
    tokens = text.split()
    if len(tokens) != count:
        raise damaged(path, f"{what} has {len(tokens)} values where {count} are needed")
    for t in tokens:
        if infinite and t in ("inf", "-inf", "+inf"):
            continue
        if not _NUMBER.match(t) or not math.isfinite(float(t)):
            raise damaged(path, f"{what} holds '{t[:20]}', which is not a usable number")
    return tokens


def int_tokens(path: Path, text: str, what: str, count: int, low: int, high: int) -> list[int]:
    """``count`` space-separated whole numbers, each in [low, high]."""
    tokens = text.split()
    if len(tokens) != count:
        raise damaged(path, f"{what} has {len(tokens)} values where {count} are needed")
    out = []
    for t in tokens:
        if not _INTEGER.match(t):
            raise damaged(path, f"{what} holds '{t[:20]}', which is not a whole number")
        v = int(t)
        if not low <= v <= high:
            raise damaged(path, f"{what} holds {v}, outside {low} to {high}")
        out.append(v)
    return out


def check_binary_tree(
    path: Path, where: str, left: list[int], right: list[int], is_leaf: Any, n_nodes: int
) -> None:
    """Nodes ``0..n_nodes-1`` form one tree rooted at 0: every node is reached exactly once
    (no loop, no shared or orphan node) and no deeper than :data:`MAX_TREE_DEPTH`. ``left``
    and ``right`` hold node numbers; ``is_leaf(i)`` says whether node i has no children."""
    seen = bytearray(n_nodes)
    frontier = [0]
    seen[0] = 1
    reached = 1
    depth = 0
    while frontier:
        nxt = []
        for node in frontier:
            if is_leaf(node):
                continue
            for child in (left[node], right[node]):
                if not 0 <= child < n_nodes:
                    raise damaged(path, f"{where} points to node {child}, which does not exist")
                if seen[child]:
                    raise damaged(path, f"{where} reaches node {child} twice (a loop)")
                seen[child] = 1
                reached += 1
                nxt.append(child)
        frontier = nxt
        if frontier:
            depth += 1
            if depth > MAX_TREE_DEPTH:
                raise damaged(path, f"{where} is deeper than {MAX_TREE_DEPTH} levels")
    if reached != n_nodes:
        raise damaged(path, f"{where} has {n_nodes - reached} node(s) no branch leads to")


def load_npz(
    path: Path, spec: dict[str, tuple[str, int]], infinite: tuple[str, ...] = ()
) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz`` file, read without pickle after checking, from the file's
    headers, that it holds exactly the arrays of ``spec`` (name -> (kinds, dimensions); kinds
    as numpy's ``dtype.kind`` letters, e.g. "iu" for integers) within :data:`MAX_ARRAY_BYTES`.
    Decimal arrays must be finite, except those in ``infinite`` (where infinity means something,
    such as scikit-learn's threshold of a split between missing and present values)."""
    read_bytes(path)  # exists, sane size
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
            total = 0
            for name in names:
                with zf.open(name) as member:
                    version = np.lib.format.read_magic(member)
                    if version == (1, 0):
                        shape, _, dtype = np.lib.format.read_array_header_1_0(member)
                    else:
                        shape, _, dtype = np.lib.format.read_array_header_2_0(member)
                total += int(np.prod(shape, dtype=np.float64)) * dtype.itemsize
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError):
        raise damaged(path, "it is not a readable array file (cut short or overwritten)") from None
    found = sorted(n[: -len(".npy")] for n in names if n.endswith(".npy"))
    if found != sorted(spec) or len(names) != len(spec):
        raise damaged(
            path, f"it holds the arrays {', '.join(found) or 'none'}, not {', '.join(sorted(spec))}"
        )
    if total > MAX_ARRAY_BYTES:
        raise damaged(path, f"its arrays would take {total / 2**30:.1f} GB of memory")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in spec}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile):
        raise damaged(path, "its arrays cannot be read (cut short or overwritten)") from None
    for name, (kinds, ndim) in spec.items():
        arr = arrays[name]
        if arr.dtype.kind not in kinds or arr.ndim != ndim:
            raise damaged(path, f"the array '{name}' has the wrong type or shape")
        if arr.dtype.kind == "f" and name not in infinite and not np.all(np.isfinite(arr)):
            raise damaged(path, f"the array '{name}' holds missing or infinite numbers")
    return arrays


def outputs_for(task: str, n_classes: int) -> int:
    """Score columns of a task: one per class for 3+ classes, else one."""
    return n_classes if task == "multiclass" else 1


def _what(task: str, outputs: int) -> str:
    if task == "regression":
        return "numbers"
    return "2 categories" if task == "binary" else f"{outputs} categories"


def mismatch_of(
    found: tuple[str, int, int], task: str, n_classes: int, n_features: int
) -> str | None:
    """Compare what a candidate's file holds, ``(task, outputs, inputs)``, with the model's
    metadata; a sentence for the error message, or None when they agree."""
    file_task, outputs, inputs = found
    want = outputs_for(task, n_classes)
    if file_task != task or outputs != want:
        return (
            f"it predicts {_what(file_task, outputs)} where the model predicts {_what(task, want)}"
        )
    if inputs != n_features:
        return f"it reads {inputs} inputs where the model prepares {n_features}"
    return None
