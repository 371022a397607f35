"""The code the tree compiler (lleaves) generates for each tree, made faster for batch scoring.

Imported only by the compiler's own process (:mod:`._compiled`), never by a scoring process.
Two changes to lleaves' code generation, each measured on 200,000 rows of the interactions
table (docs/benchmarks.md, "Scale"), each giving the same predictions (checked against
LightGBM's own before compiled trees score anything):

- **A categorical split reads its category bits from a constant array in memory.** lleaves
  writes them as a vector value that the generated code builds again on the stack at every
  such split (a column of 2,500 categories has 79 words of bits): 986 trees of 7 leaves, three
  quarters of their splits categorical, 1.10 -> 0.70 CPU-seconds.
- **The bottom of each tree is evaluated without branches**: in a subtree of at most
  :data:`SELECT_LEAVES` leaves every split is compared and the leaf picked by selects, where a
  branch per split would be mispredicted about every other row. The same 986 trees 0.70 -> 0.61
  CPU-seconds; 89 trees of 31 leaves 0.32 -> 0.24 (with every split of those trees evaluated,
  0.43: the subtrees' size is bounded).
"""

from __future__ import annotations

from typing import Any

SELECT_LEAVES = 16
NAME = f"selects<={SELECT_LEAVES},bitsets-in-memory"  # part of the compiled cache's key


def _leaves(node: Any) -> int:
    """The leaves under ``node``, counted once per node (kept on it: lleaves asks for every
    node of a tree, and a deep tree walked again at each node would take its depth times as
    long)."""
    count = getattr(node, "_easel_leaves", None)
    if count is None:
        count = 1 if node.is_leaf else _leaves(node.left) + _leaves(node.right)
        node._easel_leaves = count
    return int(count)


def install() -> bool:
    """Make lleaves generate the faster code; False (lleaves' own code then) when its code
    generator is not the one this was written for."""
    try:
        from lleaves.compiler.codegen import codegen as cg
        from llvmlite import ir

        numerical = cg._populate_numerical_node_block
        lleaves_node = cg.gen_node
        INT, BOOL, iconst, leaf_value = cg.INT, cg.BOOL, cg.iconst, cg.get_fdtype_const
    except (ImportError, AttributeError):
        return False
    if getattr(lleaves_node, "easel", False):
        return True
    bitsets: dict[tuple[int, ...], Any] = {}

    def bitset(module: Any, words: list[int]) -> Any:
        """One constant array per distinct set of category bits in the module."""
        key = (id(module), *(int(w) for w in words))
        if key not in bitsets:
            kind = ir.ArrayType(INT, len(words))
            var = ir.GlobalVariable(module, kind, name=f"easel_categories_{len(bitsets)}")
            var.global_constant = True
            var.linkage = "private"
            var.unnamed_addr = True
            var.initializer = ir.Constant(kind, [ir.Constant(INT, int(w)) for w in words])
            bitsets[key] = var
        return bitsets[key]

    def category_bit(func: Any, builder: Any, node: Any, value: Any) -> Any:
        """Bit ``value`` of the split's category bits (``value`` known to be in range)."""
        word_at = builder.gep(
            bitset(func.module, node.cat_threshold),
            [iconst(0), builder.udiv(value, iconst(32))],
            inbounds=True,
        )
        word = builder.load(word_at)
        return builder.trunc(builder.lshr(word, builder.urem(value, iconst(32))), BOOL)

    def categorical(
        func: Any, builder: Any, bit_builder: Any, node: Any, bit_block: Any, right_block: Any
    ) -> Any:
        """lleaves' categorical split (a missing or negative category, coded as the smallest
        integer, or one above the bits, goes right), reading the bits from memory."""
        value = func.args[node.split_feature]
        known = builder.icmp_unsigned("<", value, iconst(32 * len(node.cat_threshold)))
        builder.cbranch(known, bit_block, right_block)
        return category_bit(func, bit_builder, node, value)

    def goes_left(func: Any, builder: Any, node: Any, use_fp64: bool) -> Any:
        if not node.decision_type.is_categorical:
            return numerical(func, builder, node, use_fp64)
        value = func.args[node.split_feature]
        known = builder.icmp_unsigned("<", value, iconst(32 * len(node.cat_threshold)))
        safe = builder.select(known, value, iconst(0))
        return builder.and_(known, category_bit(func, builder, node, safe))

    def selected(func: Any, builder: Any, node: Any, use_fp64: bool) -> Any:
        if node.is_leaf:
            return leaf_value(node.value, use_fp64)
        return builder.select(
            goes_left(func, builder, node, use_fp64),
            selected(func, builder, node.left, use_fp64),
            selected(func, builder, node.right, use_fp64),
        )

    def gen_node(func: Any, node_block: Any, node: Any, use_fp64: bool) -> None:
        if not node.is_leaf and _leaves(node) <= SELECT_LEAVES:
            builder = ir.IRBuilder(node_block)
            builder.ret(selected(func, builder, node, use_fp64))
        else:  # lleaves' branches, whose children come back here
            lleaves_node(func, node_block, node, use_fp64)

    gen_node.easel = True  # type: ignore[attr-defined]
    cg.gen_node = gen_node
    cg._populate_categorical_node_block = categorical
    return True
