"""XGBoost's model JSON, read in Python first: parsed, checked, and handed to XGBoost re-written.

XGBoost's reader checks lengths but trusts the numbers in them: a child, parent or feature number
out of range makes prediction read outside its arrays, a loop between nodes never ends, a huge
category number asks for gigabytes, and a file cut short comes back as a message with a native
stack trace in it. So :func:`checked_model_json` parses the file with Python's JSON reader,
checks the learner, the objective and every tree (lengths, node numbers, one tree per tree,
features below the input count, category lists), and returns the same data written again as
plain JSON: XGBoost reads only what was checked.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from automl.candidates._files import as_int, check_binary_tree, damaged, read_json

MAX_FEATURES = 10_000_000
MAX_CLASSES = 10_000
MAX_CATEGORY = 65_535  # Easel's category codes stay far below (at most 1,001 levels)
_OBJECTIVES = {
    "binary:logistic": "binary",
    "multi:softprob": "multiclass",
    "reg:squarederror": "regression",
}
_FEATURE_TYPES = frozenset({"q", "c", "float", "int", "i"})
_NUMBER_ARRAYS = ("loss_changes", "sum_hessian", "base_weights", "split_conditions")
_INT_ARRAYS = ("left_children", "right_children", "parents", "split_indices", "default_left")
_ROOT_PARENTS = (-1, 2**31 - 1)


@dataclass
class ModelJson:
    """What was checked: outputs, inputs, the task of the objective, and the bytes to load."""

    n_outputs: int
    n_features: int
    task: str
    data: bytearray


def _get(path: Path, obj: Any, key: str, where: str, kind: type | tuple[type, ...]) -> Any:
    if not isinstance(obj, dict) or key not in obj:
        raise damaged(path, f"{where} has no '{key}'")
    value = obj[key]
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise damaged(path, f"'{key}' in {where} has the wrong type")
    return value


def _ints(path: Path, values: Any, what: str, count: int | None, low: int, high: int) -> list[int]:
    if not isinstance(values, list):
        raise damaged(path, f"{what} should be a list")
    if count is not None and len(values) != count:
        raise damaged(path, f"{what} has {len(values)} values where {count} are needed")
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int) or not low <= v <= high:
            raise damaged(path, f"{what} holds {str(v)[:20]}, not a whole number in range")
    return values


def _numbers(path: Path, values: Any, what: str, count: int) -> None:
    if not isinstance(values, list) or len(values) != count:
        raise damaged(path, f"{what} should hold {count} numbers")
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise damaged(path, f"{what} holds something that is not a number")


def _tree(path: Path, i: int, tree: Any, n_features: int) -> None:
    where = f"tree {i}"
    param = _get(path, tree, "tree_param", where, dict)
    n = as_int(path, _get(path, param, "num_nodes", where, str), f"{where}'s node count", 1)
    if as_int(path, param.get("num_deleted", "0"), f"{where}'s deleted nodes", 0) != 0:
        raise damaged(path, f"{where} has deleted nodes, which Easel's models never have")
    if as_int(path, param.get("num_feature", "0"), f"{where}'s input count", 0) != n_features:
        raise damaged(path, f"{where} expects another number of inputs than the model")
    if as_int(path, param.get("size_leaf_vector", "1"), f"{where}'s leaf size", 0) > 1:
        raise damaged(path, f"{where} has several outputs per leaf, which Easel never trains")
    if tree.get("id") != i:
        raise damaged(path, f"{where} is numbered {str(tree.get('id'))[:20]}")
    for key in _NUMBER_ARRAYS:
        _numbers(path, tree.get(key), f"{where}'s {key}", n)
    left = _ints(path, tree.get("left_children"), f"{where}'s left branches", n, -1, n - 1)
    right = _ints(path, tree.get("right_children"), f"{where}'s right branches", n, -1, n - 1)
    parents = _ints(path, tree.get("parents"), f"{where}'s parents", n, -1, 2**31 - 1)
    split_in = _ints(
        path, tree.get("split_indices"), f"{where}'s split inputs", n, 0, n_features - 1
    )
    _ints(path, tree.get("default_left"), f"{where}'s missing-value branches", n, 0, 1)
    del split_in
    for k in range(n):
        if (left[k] == -1) != (right[k] == -1):
            raise damaged(path, f"{where}'s node {k} has one branch only")
    check_binary_tree(path, where, left, right, lambda k: left[k] == -1, n)
    if parents[0] not in _ROOT_PARENTS:
        raise damaged(path, f"{where}'s first node should have no parent")
    for k in range(n):
        if left[k] != -1 and (parents[left[k]] != k or parents[right[k]] != k):
            raise damaged(path, f"{where}'s node {k} is not its branches' parent")
    if "split_type" in tree:
        _categories(path, where, tree, n, left)


def _categories(path: Path, where: str, tree: dict[str, Any], n: int, left: list[int]) -> None:
    kinds = _ints(path, tree.get("split_type"), f"{where}'s split kinds", n, 0, 1)
    nodes = _ints(path, tree.get("categories_nodes"), f"{where}'s category nodes", None, 0, n - 1)
    segments = _ints(
        path, tree.get("categories_segments"), f"{where}'s category lists", len(nodes), 0, 2**62
    )
    sizes = _ints(
        path, tree.get("categories_sizes"), f"{where}'s category list sizes", len(nodes), 1, 2**62
    )
    cats = _ints(path, tree.get("categories"), f"{where}'s categories", None, 0, MAX_CATEGORY)
    if nodes != sorted(set(nodes)) or nodes != [k for k in range(n) if kinds[k] == 1]:
        raise damaged(path, f"{where}'s category splits do not match its split kinds")
    for k, start, size in zip(nodes, segments, sizes, strict=True):
        if left[k] == -1:
            raise damaged(path, f"{where}'s node {k} is a leaf with a category split")
        if start + size > len(cats):
            raise damaged(path, f"{where}'s category list of node {k} runs past the end")


def checked_model_json(path: Path) -> ModelJson:
    """Parse and check ``path`` (XGBoost's model.json); the bytes XGBoost may safely load."""
    data = read_json(path)
    version = _get(path, data, "version", "the file", list)
    _ints(path, version, "the XGBoost version", 3, 0, 10_000)
    learner = _get(path, data, "learner", "the file", dict)
    param = _get(path, learner, "learner_model_param", "the learner", dict)
    n_features = as_int(
        path,
        _get(path, param, "num_feature", "the learner", str),
        "the input count",
        1,
        MAX_FEATURES,
    )
    num_class = as_int(
        path, _get(path, param, "num_class", "the learner", str), "the class count", 0, MAX_CLASSES
    )
    if as_int(path, param.get("num_target", "1"), "the target count", 1) != 1:
        raise damaged(path, "it predicts several targets at once, which Easel never trains")
    if not isinstance(param.get("base_score", ""), str):
        raise damaged(path, "its base score has the wrong type")
    objective = _get(path, learner, "objective", "the learner", dict)
    name = _get(path, objective, "name", "the objective", str)
    if name not in _OBJECTIVES:
        raise damaged(path, f"its objective '{name[:40]}' is not one Easel trains")
    task = _OBJECTIVES[name]
    if task == "multiclass":
        soft = _get(path, objective, "softmax_multiclass_param", "the objective", dict)
        if as_int(path, soft.get("num_class"), "the objective's class count", 0) != num_class:
            raise damaged(path, "its objective and its learner disagree on the class count")
        if num_class < 2:
            raise damaged(path, "it predicts several classes but has fewer than two")
    elif num_class > 1:
        raise damaged(path, f"its objective '{name}' does not match its {num_class} classes")
    outputs = max(num_class, 1)
    for key in ("feature_names", "feature_types"):
        values = learner.get(key, [])
        if not isinstance(values, list) or len(values) not in (0, n_features):
            raise damaged(path, f"it should list {n_features} input {key.split('_')[1]}")
        if not all(isinstance(v, str) and len(v) <= 1000 for v in values):
            raise damaged(path, f"its input {key.split('_')[1]} should be texts")
    if not all(t in _FEATURE_TYPES for t in learner.get("feature_types", [])):
        raise damaged(path, "it lists an input type XGBoost does not have")
    attributes = learner.get("attributes", {})
    if not isinstance(attributes, dict) or not all(isinstance(v, str) for v in attributes.values()):
        raise damaged(path, "its attributes should be texts")
    booster = _get(path, learner, "gradient_booster", "the learner", dict)
    if booster.get("name") != "gbtree":
        raise damaged(path, "its booster is not the tree booster Easel trains")
    model = _get(path, booster, "model", "the booster", dict)
    gbp = _get(path, model, "gbtree_model_param", "the booster", dict)
    n_trees = as_int(path, gbp.get("num_trees"), "the tree count", 1)
    if as_int(path, gbp.get("num_parallel_tree", "1"), "the trees per round", 1) != 1:
        raise damaged(path, "it grows several trees per class and round, which Easel never does")
    cats = model.get("cats", {})  # pandas categories to re-code: Easel trains on codes
    if not isinstance(cats, dict) or any(v != [] for v in cats.values()):
        raise damaged(path, "it holds category names to re-code, which Easel's models never do")
    trees = _get(path, model, "trees", "the booster", list)
    if len(trees) != n_trees:
        raise damaged(path, f"it announces {n_trees} trees but holds {len(trees)}")
    groups = _ints(path, model.get("tree_info"), "the tree classes", n_trees, 0, outputs - 1)
    if "iteration_indptr" in model:
        indptr = _ints(path, model["iteration_indptr"], "the rounds", None, 0, n_trees)
        if (
            len(indptr) < 2
            or indptr[0] != 0
            or indptr[-1] != n_trees
            or any(b - a != outputs for a, b in zip(indptr, indptr[1:], strict=False))
        ):
            raise damaged(path, f"its rounds do not hold {outputs} tree(s) each")
    if n_trees % outputs or any(g != k % outputs for k, g in enumerate(groups)):
        raise damaged(path, f"its trees are not whole rounds of {outputs} class(es)")
    for i, tree in enumerate(trees):
        _tree(path, i, tree, n_features)
    text = json.dumps(data, allow_nan=False, ensure_ascii=True, separators=(",", ":"))
    return ModelJson(outputs, n_features, task, bytearray(text.encode("ascii")))
