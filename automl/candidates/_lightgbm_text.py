"""LightGBM's model text, read in Python first: parsed, checked, and rebuilt for LightGBM.

LightGBM's own reader trusts its input. A file cut short makes it read past the end of the text,
a child or feature number out of range makes prediction read or write outside its arrays, and a
loop between nodes never ends: the process aborts, crashes or hangs, and with it the app that
loaded the model. So :func:`checked_model_text` parses the file here, checks every number that
LightGBM uses to index memory (counts, children, features, category ranges) and that every tree
is a tree, and returns a text rebuilt from the checked values only, in the layout LightGBM writes
(no tree sizes, parameters or importances, which prediction does not need). Numbers are passed
on exactly as written, so predictions are the same as from the original file.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from automl.candidates._files import (
    INT32_MAX,
    as_int,
    check_binary_tree,
    damaged,
    int_tokens,
    number_tokens,
    read_text,
)

MAX_LEAVES = 131_072  # LightGBM's own limit on num_leaves
MAX_CLASSES = 10_000
UINT32_MAX = 2**32 - 1
# decision_type: bit 0 categorical, bit 1 missing values go left, bits 2-3 the missing-value kind
# (0 none, 1 zero, 2 NaN; 3 does not exist)
DECISION_TYPES = frozenset(c | d | (m << 2) for c in (0, 1) for d in (0, 2) for m in (0, 1, 2))
_HEADER_KEYS = (
    "version",
    "num_class",
    "num_tree_per_iteration",
    "label_index",
    "max_feature_idx",
    "objective",
    "average_output",
    "feature_names",
    "monotone_constraints",
    "feature_infos",
    "tree_sizes",
)
_TREE_KEYS = (
    "num_leaves",
    "num_cat",
    "split_feature",
    "split_gain",
    "threshold",
    "decision_type",
    "left_child",
    "right_child",
    "leaf_value",
    "leaf_weight",
    "leaf_count",
    "internal_value",
    "internal_weight",
    "internal_count",
    "cat_boundaries",
    "cat_threshold",
    "is_linear",
    "shrinkage",
)
_NAME = re.compile(r"^[^\s=\x00-\x1f]{1,1000}$")
_INFO = re.compile(r"^(none|\[[-+.\deE]+:[-+.\deE]+\]|-?\d+(:-?\d+)*)$")
_OBJECTIVES = {"binary": "binary", "multiclass": "multiclass", "regression": "regression"}


@dataclass
class ModelText:
    """What was checked: the outputs per round, the inputs, the objective, and the rebuilt text."""

    n_outputs: int
    n_features: int
    task: str  # binary, multiclass or regression (from the objective)
    text: str


def _key_values(path: Path, lines: list[str], where: str, keys: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in lines:
        key, eq, value = line.partition("=")
        if key == "average_output" and not eq:
            value = ""
        elif not eq:
            raise damaged(path, f"{where} has a line that is not 'name=value'")
        if key not in keys:
            raise damaged(path, f"{where} has an unknown entry '{key[:40]}'")
        if key in out:
            raise damaged(path, f"{where} gives '{key}' twice")
        out[key] = value
    return out


def _objective(path: Path, text: str, num_class: int) -> str:
    parts = text.split()
    name = parts[0] if parts else ""
    if name not in _OBJECTIVES:
        raise damaged(path, f"its objective '{text[:40]}' is not one Easel trains")
    if name == "binary":
        if len(parts) != 2 or not parts[1].startswith("sigmoid:"):
            raise damaged(path, "its objective should read 'binary sigmoid:<number>'")
        (value,) = number_tokens(path, parts[1][len("sigmoid:") :], "the sigmoid", 1)
        if float(value) <= 0:
            raise damaged(path, "its sigmoid is not a positive number")
    elif name == "multiclass":
        if len(parts) != 2 or parts[1] != f"num_class:{num_class}":
            raise damaged(path, f"its objective should read 'multiclass num_class:{num_class}'")
    elif len(parts) != 1:
        raise damaged(path, "its objective should read 'regression'")
    return name


def _split_sections(path: Path, text: str) -> tuple[list[str], list[list[str]]]:
    """The header lines and each tree's lines (after its 'Tree=i' line); checks the end."""
    lines = [ln[:-1] if ln.endswith("\r") else ln for ln in text.split("\n")]
    tail = [ln for ln in lines if ln.strip()]
    if not tail or not tail[-1].startswith("pandas_categorical:"):
        raise damaged(path, "the file is cut short (its last line is missing)")
    try:
        json.loads(tail[-1][len("pandas_categorical:") :])
    except ValueError:
        raise damaged(path, "the file is cut short (its last line is incomplete)") from None
    if lines[0] != "tree":
        raise damaged(path, "it does not start like a LightGBM model ('tree')")
    if "end of trees" not in lines:
        raise damaged(path, "the file is cut short (no 'end of trees')")
    if "parameters:" in lines and "end of parameters" not in lines:
        raise damaged(path, "the file is cut short (no 'end of parameters')")
    end = lines.index("end of trees")
    header: list[str] = []
    trees: list[list[str]] = []
    current: list[str] | None = None
    for i, line in enumerate(lines[1:end], start=1):
        if line.startswith("Tree="):
            if line != f"Tree={len(trees)}":
                raise damaged(path, f"line {i + 1} should start tree {len(trees)}")
            current = []
            trees.append(current)
        elif not line.strip():
            current = None
        elif current is not None:
            current.append(line)
        elif trees:
            raise damaged(path, f"line {i + 1} is outside any tree")
        else:
            header.append(line)
    return header, trees


def _tree(path: Path, i: int, lines: list[str], n_features: int) -> str:
    """Check one tree; return its block, rebuilt in LightGBM's own order."""
    where = f"tree {i}"
    kv = _key_values(path, lines, where, _TREE_KEYS)
    for key in ("num_leaves", "num_cat", "leaf_value"):
        if key not in kv:
            raise damaged(path, f"{where} has no {key}")
    n = as_int(path, kv["num_leaves"], f"{where}'s leaf count", 1, MAX_LEAVES)
    m = n - 1
    num_cat = as_int(path, kv["num_cat"], f"{where}'s category split count", 0, m)
    if as_int(path, kv.get("is_linear", "0"), f"{where}'s is_linear", 0, 1):
        raise damaged(path, f"{where} is a linear tree, which Easel never trains")
    out: dict[str, str] = {"num_leaves": str(n), "num_cat": str(num_cat)}
    for key in _TREE_KEYS[2:14]:
        if key not in kv:
            if n > 1:
                raise damaged(path, f"{where} has no {key}")
            kv[key] = "0" if key.startswith("leaf_") else ""  # one leaf: no splits
    split_features = kv["split_feature"]
    features = int_tokens(path, split_features, f"{where}'s split inputs", m, 0, n_features - 1)
    decisions = int_tokens(path, kv["decision_type"], f"{where}'s split kinds", m, 0, 127)
    left = int_tokens(path, kv["left_child"], f"{where}'s branches", m, -INT32_MAX, INT32_MAX)
    right = int_tokens(path, kv["right_child"], f"{where}'s branches", m, -INT32_MAX, INT32_MAX)
    thresholds = number_tokens(path, kv["threshold"], f"{where}'s thresholds", m, infinite=True)
    for d in decisions:
        if d not in DECISION_TYPES:
            raise damaged(path, f"{where} has a split of unknown kind ({d})")
    if n > 1:
        _check_shape(path, where, left, right, n)
    out["split_feature"] = " ".join(map(str, features))
    gains = number_tokens(path, kv["split_gain"], f"{where}'s gains", m, infinite=True)
    out["split_gain"] = " ".join(gains)
    out["threshold"] = " ".join(thresholds)
    out["decision_type"] = " ".join(map(str, decisions))
    out["left_child"] = " ".join(map(str, left))
    out["right_child"] = " ".join(map(str, right))
    for key, size in (
        ("leaf_value", n),
        ("leaf_weight", n),
        ("internal_value", m),
        ("internal_weight", m),
    ):
        infinite = key != "leaf_value"  # only leaf values make predictions
        out[key] = " ".join(number_tokens(path, kv[key], f"{where}'s {key}", size, infinite))
    for key, size in (("leaf_count", n), ("internal_count", m)):
        counts = int_tokens(path, kv[key], f"{where}'s {key}", size, 0, INT32_MAX)
        out[key] = " ".join(map(str, counts))
    cat_splits = [j for j, d in enumerate(decisions) if d & 1]
    if cat_splits and num_cat == 0:
        raise damaged(path, f"{where} has category splits but no category lists")
    if num_cat > 0:
        for key in ("cat_boundaries", "cat_threshold"):
            if key not in kv:
                raise damaged(path, f"{where} has no {key}")
        bounds = int_tokens(
            path, kv["cat_boundaries"], f"{where}'s category lists", num_cat + 1, 0, INT32_MAX
        )
        size = len(kv["cat_threshold"].split())
        if (
            bounds[0] != 0
            or bounds[-1] != size
            or any(a > b for a, b in zip(bounds, bounds[1:], strict=False))
        ):
            raise damaged(path, f"{where}'s category lists do not fit together")
        bits = int_tokens(path, kv["cat_threshold"], f"{where}'s categories", size, 0, UINT32_MAX)
        for j in cat_splits:
            t = float(thresholds[j])
            if not 0 <= t < num_cat or t != int(t):
                raise damaged(path, f"{where} points to category list {t:g}, which does not exist")
        out["cat_boundaries"] = " ".join(map(str, bounds))
        out["cat_threshold"] = " ".join(map(str, bits))
    out["is_linear"] = "0"
    out["shrinkage"] = " ".join(
        number_tokens(path, kv.get("shrinkage", "1"), f"{where}'s shrinkage", 1)
    )
    body = "".join(f"{k}={out[k]}\n" for k in _TREE_KEYS if k in out)
    return f"Tree={i}\n{body}\n\n"


def _check_shape(path: Path, where: str, left: list[int], right: list[int], n: int) -> None:
    """Internal nodes 0..n-2, leaves as ~leaf (-1..-n): one tree over them all. Leaves become
    nodes n-1..2n-2 for the shared check."""
    m = n - 1
    for c in (*left, *right):
        if not -n <= c < m:
            kind = f"leaf {~c}" if c < 0 else f"split {c}"
            raise damaged(path, f"{where} points to {kind}, which does not exist")

    def node(c: int) -> int:
        return c if c >= 0 else m + ~c

    lefts = [node(c) for c in left] + [0] * n
    rights = [node(c) for c in right] + [0] * n
    check_binary_tree(path, where, lefts, rights, lambda k: k >= m, 2 * n - 1)


def checked_model_text(path: Path, text: str | None = None) -> ModelText:
    """Parse and check ``path`` (LightGBM's model.txt), or ``text`` (named ``path`` in
    messages); the text LightGBM may safely load."""
    header_lines, tree_lines = _split_sections(path, read_text(path) if text is None else text)
    head = _key_values(path, header_lines, "the header", _HEADER_KEYS)
    for key in ("version", "num_class", "max_feature_idx", "feature_names", "feature_infos"):
        if key not in head:
            raise damaged(path, f"the header has no {key}")
    if "objective" not in head:
        raise damaged(path, "the header has no objective")
    if not re.match(r"^v\d{1,3}$", head["version"]):
        raise damaged(path, f"its version '{head['version'][:20]}' is not a LightGBM version")
    num_class = as_int(path, head["num_class"], "the class count", 1, MAX_CLASSES)
    per_round = as_int(
        path, head.get("num_tree_per_iteration", str(num_class)), "trees per round", 1, MAX_CLASSES
    )
    if per_round != num_class:
        raise damaged(path, f"it grows {per_round} trees per round for {num_class} classes")
    label_index = as_int(path, head.get("label_index", "0"), "the label column", 0)
    n_features = as_int(path, head["max_feature_idx"], "the last input number", 0, 10_000_000) + 1
    names = head["feature_names"].split(" ")
    infos = head["feature_infos"].split(" ")
    if len(names) != n_features or not all(_NAME.match(x) for x in names):
        raise damaged(path, f"it should name {n_features} inputs; it names {len(names)}")
    if len(infos) != n_features or not all(_INFO.match(x) for x in infos):
        raise damaged(path, f"it should describe {n_features} inputs; it describes {len(infos)}")
    task = _objective(path, head["objective"], num_class)
    if (task == "multiclass") != (num_class > 1):
        raise damaged(path, f"its objective '{task}' does not match its {num_class} classes")
    if not tree_lines or len(tree_lines) % per_round:
        raise damaged(path, f"it has {len(tree_lines)} trees, not whole rounds of {per_round}")
    if "tree_sizes" in head and len(head["tree_sizes"].split()) != len(tree_lines):
        raise damaged(path, "the file is cut short (fewer trees than it announces)")
    out = [
        "tree",
        f"version={head['version']}",
        f"num_class={num_class}",
        f"num_tree_per_iteration={per_round}",
        f"label_index={label_index}",
        f"max_feature_idx={n_features - 1}",
        f"objective={' '.join(head['objective'].split())}",
    ]
    if "average_output" in head:
        out.append("average_output")
    out.append("feature_names=" + " ".join(names))
    if "monotone_constraints" in head:
        values = int_tokens(
            path, head["monotone_constraints"], "the monotone constraints", n_features, -1, 1
        )
        out.append("monotone_constraints=" + " ".join(map(str, values)))
    out.append("feature_infos=" + " ".join(infos))
    text = "\n".join(out) + "\n\n"
    text += "".join(_tree(path, i, lines, n_features) for i, lines in enumerate(tree_lines))
    text += "end of trees\n\npandas_categorical:null\n"
    return ModelText(n_outputs=per_round, n_features=n_features, task=task, text=text)
