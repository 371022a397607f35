"""The code the tree compiler (lleaves) generates for a model's trees, made faster for batch
scoring.

Imported only by the compiler's own process (:mod:`._compiled`), never by a scoring process.
Changes to lleaves' code generation, each measured on 200,000 rows of the interactions table
(docs/benchmarks.md, "Scale"; ``benchmarks.tree_code``), each giving LightGBM's predictions
(checked against LightGBM's own before compiled trees score anything):

- **The rows are read as float32, in tiles of LANES rows, and trees of at most
  VECTOR_MAX_LEAVES leaves on average evaluate every split of a tile's rows at once.** lleaves
  reads float64 rows (the encoder's float32 rows were copied to float64 for every member of an
  ensemble), walks one row at a time down branches that are mispredicted about every other
  split, and passes every column to every tree as an argument. Here a tile holds each column's
  values for LANES rows together; a tree compares all its splits for the tile's rows with vector
  instructions and picks each row's leaf by selects, without a branch. 515 trees of 31 leaves,
  one thread: lleaves 2.15 CPU-seconds, Easel's previous code (below, one row at a time) 1.13-1.29,
  tiles 0.58; 230 trees of 7 leaves: lleaves 0.46, tiles 0.10. A float32 value is compared with
  the largest float32 at most the split's threshold, which gives the float64 comparison's
  answer, so the comparisons are those of LightGBM.
- Trees of more leaves (every split would cost more than walking down) are walked one row at a
  time, each tree given a pointer to its row, with two changes to lleaves' code:
  **a categorical split reads its category bits from a constant array in memory** (lleaves
  builds a vector value of them again on the stack at every such split: a column of 2,500
  categories has 79 words of bits; 986 trees of 7 leaves, three quarters of their splits
  categorical, 1.10 -> 0.70 CPU-seconds), and **the bottom of each tree is evaluated without
  branches**: in a subtree of at most :data:`SELECT_LEAVES` leaves every split is compared and
  the leaf picked by selects (the same 986 trees 0.70 -> 0.61 CPU-seconds; 89 trees of 31 leaves
  0.32 -> 0.24).
"""

from __future__ import annotations

import struct
from typing import Any

SELECT_LEAVES = 16
ENTRY = "forest_root"  # (float32 tiles, float64 out, first tile, end tile, tiles)
LANES_SYMBOL = "easel_lanes"  # the rows of a tile (an int32 constant in the compiled code)
LANES = 8
VECTOR_MAX_LEAVES = 64
ZERO = 1e-35  # LightGBM's kZeroThreshold (a float32): within it of zero is zero
OPT_LEVEL = 3  # LLVM's optimisation of the compiled code (as lleaves)


# part of the compiled cache's key
NAME = (
    f"selects<={SELECT_LEAVES},bitsets-in-memory,float32-rows,"
    f"tiles-of-{LANES}<={VECTOR_MAX_LEAVES}-leaves"
)


def lanes_for(leaves: int, trees: int) -> int:
    """The rows of a tile: LANES when the trees have at most VECTOR_MAX_LEAVES leaves on
    average (every split of a tree is evaluated, for LANES rows at once, without branches),
    else 1 (one row at a time, branches at the top of the trees)."""
    return LANES if trees > 0 and leaves <= VECTOR_MAX_LEAVES * trees else 1


def float32_at_most(threshold: float) -> float:
    """The largest float32 at most ``threshold``: a float32 value is at most ``threshold``
    exactly when it is at most this."""
    import numpy as np

    with np.errstate(over="ignore"):
        near = np.float32(threshold)
    if float(near) > threshold:
        near = np.nextafter(near, np.float32(-np.inf))
    return float(near)


def _leaves(node: Any) -> int:
    """The leaves under ``node``, counted once per node (kept on it: lleaves asks for every
    node of a tree, and a deep tree walked again at each node would take its depth times as
    long)."""
    count = getattr(node, "_easel_leaves", None)
    if count is None:
        count = 1 if node.is_leaf else _leaves(node.left) + _leaves(node.right)
        node._easel_leaves = count
    return int(count)


def _double(value: float) -> str:
    """A float64 constant as LLVM writes it (its bits in hexadecimal)."""
    return "0x" + struct.pack(">d", float(value)).hex().upper()


def _int32(value: int) -> int:
    """A word of category bits (unsigned in the model text) as LLVM's signed i32."""
    value = int(value) & 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


class _TileTree:
    """The LLVM text of one tree evaluated for a tile of LANES rows: every split compared for
    all of them (without branches) and the leaf picked by selects. LightGBM's decisions:

    - a number: a missing value goes the split's default way ("missing" is NaN, or for "zero
      is missing" also a value within 1e-35 of zero), a NaN that is not "missing" is read as
      0.0; the float32 value is compared with the largest float32 at most the threshold (the
      same answer as LightGBM's float64 comparison);
    - a category: the value truncated to an integer; a NaN, a negative one, or one past the
      split's bits goes right.
    """

    def __init__(self, name: str, number: int, width: int) -> None:
        self.name, self.number, self.width = name, number, width
        self.lines: list[str] = []
        self.head: list[str] = []  # the tree's arrays of category bits
        self.values = 0
        self.read: dict[int, str] = {}
        lanes = LANES
        self.vf, self.vd = f"<{lanes} x float>", f"<{lanes} x double>"
        self.vi, self.vb = f"<{lanes} x i32>", f"<{lanes} x i1>"

    def _new(self, code: str) -> str:
        self.values += 1
        name = f"%v{self.values}"
        self.lines.append(f"  {name} = {code}")
        return name

    def _splat(self, kind: str, value: str) -> str:
        return "<" + ", ".join([f"{kind} {value}"] * LANES) + ">"

    def _column(self, feature: int) -> str:
        if not 0 <= feature < self.width:  # (the checked model text has none: never read past)
            raise ValueError(f"a split reads column {feature} of {self.width}")
        if feature not in self.read:
            at = self._new(f"getelementptr inbounds float, float* %row, i64 {feature * LANES}")
            vector = self._new(f"bitcast float* {at} to {self.vf}*")
            self.read[feature] = self._new(f"load {self.vf}, {self.vf}* {vector}, align 4")
        return self.read[feature]

    def _compare(self, predicate: str, value: str, number: float) -> str:
        splat = self._splat("float", _double(number))
        return self._new(f"fcmp {predicate} {self.vf} {value}, {splat}")

    def _numeric(self, node: Any) -> str:
        v = self._column(node.split_feature)
        threshold = float32_at_most(node.threshold)
        kind = node.decision_type.missing_type.value  # 0: none, 1: zero, 2: NaN
        if kind == 0:  # NaN is read as 0.0: left when 0.0 <= threshold
            return self._compare("ule" if node.threshold >= 0.0 else "ole", v, threshold)
        if kind == 2:  # NaN is missing: "unordered or at most" is true for NaN, "ordered" false
            left = node.decision_type.is_default_left
            return self._compare("ule" if left else "ole", v, threshold)
        less_eq = self._compare("ole", v, threshold)
        missing = self._new(f"fcmp uno {self.vf} {v}, {v}")
        if kind == 1:
            zero = struct.unpack("f", struct.pack("f", ZERO))[0]  # (the nearest float32)
            above = self._compare("oge", v, -zero)
            below = self._compare("ole", v, zero)
            tiny = self._new(f"and {self.vb} {above}, {below}")
            missing = self._new(f"or {self.vb} {missing}, {tiny}")
        if node.decision_type.is_default_left:
            return self._new(f"or {self.vb} {missing}, {less_eq}")
        present = self._new(f"xor {self.vb} {missing}, {self._splat('i1', 'true')}")
        return self._new(f"and {self.vb} {present}, {less_eq}")

    def _categorical(self, node: Any) -> str:
        v = self._column(node.split_feature)
        words = [_int32(w) for w in node.cat_threshold]
        above = self._compare("ogt", v, -1.0)
        below = self._compare("olt", v, float(32 * len(words)))
        known = self._new(f"and {self.vb} {above}, {below}")
        safe = self._new(f"select {self.vb} {known}, {self.vf} {v}, {self.vf} zeroinitializer")
        code = self._new(f"fptosi {self.vf} {safe} to {self.vi}")
        if len(words) == 1:
            word = self._splat("i32", str(words[0]))
        else:
            bits = f"@easel_tile_bits_{self.number}_{len(self.head)}"
            kind = f"[{len(words)} x i32]"
            values = ", ".join(f"i32 {w}" for w in words)
            self.head.append(f"{bits} = private unnamed_addr constant {kind} [{values}]")
            index = self._new(f"lshr {self.vi} {code}, {self._splat('i32', '5')}")
            word = "undef"
            for lane in range(LANES):
                i = self._new(f"extractelement {self.vi} {index}, i32 {lane}")
                at = self._new(f"getelementptr inbounds {kind}, {kind}* {bits}, i32 0, i32 {i}")
                one = self._new(f"load i32, i32* {at}, align 4")
                word = self._new(f"insertelement {self.vi} {word}, i32 {one}, i32 {lane}")
        shift = self._new(f"and {self.vi} {code}, {self._splat('i32', '31')}")
        bits_at = self._new(f"lshr {self.vi} {word}, {shift}")
        bit = self._new(f"trunc {self.vi} {bits_at} to {self.vb}")
        return self._new(f"and {self.vb} {known}, {bit}")

    def _value(self, node: Any) -> str:
        if node.is_leaf:
            return self._splat("double", _double(node.value))
        split = self._categorical if node.decision_type.is_categorical else self._numeric
        goes_left = split(node)
        left, right = self._value(node.left), self._value(node.right)
        return self._new(f"select {self.vb} {goes_left}, {self.vd} {left}, {self.vd} {right}")

    def function(self, root: Any) -> str:
        result = self._value(root)
        body = "\n".join(self.lines)
        return (
            "\n".join(self.head)
            + f'\ndefine private {self.vd} @"{self.name}"(float* noalias %row) {{\nentry:\n'
            + f"{body}\n  ret {self.vd} {result}\n}}\n"
        )


class _Row:
    """A tree function as lleaves' node code sees it: ``args[f]`` is column ``f`` of the row the
    function was given, read (and widened to float64) by ``builder`` where the split is."""

    def __init__(self, func: Any, builder: Any, read: Any) -> None:
        self.func, self.module = func, func.module
        self.args = _Columns(func, builder, read)

    def append_basic_block(self, name: str = "") -> Any:
        return self.func.append_basic_block(name)


class _Columns:
    def __init__(self, func: Any, builder: Any, read: Any) -> None:
        self.func, self.builder, self.read = func, builder, read

    def __getitem__(self, feature: int) -> Any:
        return self.read(self.func, self.builder, feature, False)


def install() -> bool:
    """Make lleaves generate the faster code; False when its code generator is not the one this
    was written for (the compiler's process then fails: the entry function's signature is
    Easel's, and lleaves' own would read the rows wrongly)."""
    try:
        import lleaves.compiler as compiler
        from lleaves.compiler.ast import parse_to_ast
        from lleaves.compiler.codegen import codegen as cg
        from llvmlite import binding, ir

        numerical = cg._populate_numerical_node_block
        lleaves_node = cg.gen_node
        objective = cg._populate_objective_func_block
        INT, BOOL, iconst, leaf_value = cg.INT, cg.BOOL, cg.iconst, cg.get_fdtype_const
        FLOAT, DOUBLE, LONG, lconst = cg.FLOAT, cg.DOUBLE, cg.LONG, cg.lconst
    except (ImportError, AttributeError):
        return False
    if getattr(lleaves_node, "easel", False):
        return True
    if not callable(getattr(compiler, "compile_to_module", None)):
        return False
    bitsets: dict[tuple[int, ...], Any] = {}
    row_type = ir.PointerType(FLOAT)

    def column(func: Any, builder: Any, feature: int, category: bool) -> Any:
        """Column ``feature`` of the tree's row: float64 for a number (float32 widened, as
        LightGBM reads float32 rows), a category's integer code for a category (a missing one:
        the smallest integer, which goes right, as lleaves codes it)."""
        at = builder.gep(func.args[0], [iconst(feature)], inbounds=True)
        value = builder.load(at)
        if not category:
            return builder.fpext(value, DOUBLE)
        missing = builder.fcmp_unordered("uno", value, ir.Constant(FLOAT, 0.0))
        return builder.select(missing, iconst(-(2**31)), builder.fptosi(value, INT))

    def numeric(func: Any, builder: Any, node: Any, use_fp64: bool) -> Any:
        """lleaves' numerical split (its handling of missing values), on the row's column."""
        return numerical(_Row(func, builder, column), builder, node, use_fp64)

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
        value = column(func, builder, node.split_feature, True)
        known = builder.icmp_unsigned("<", value, iconst(32 * len(node.cat_threshold)))
        builder.cbranch(known, bit_block, right_block)
        return category_bit(func, bit_builder, node, value)

    def goes_left(func: Any, builder: Any, node: Any, use_fp64: bool) -> Any:
        if not node.decision_type.is_categorical:
            return numeric(func, builder, node, use_fp64)
        value = column(func, builder, node.split_feature, True)
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

    def gen_forest(forest: Any, module: Any, fblocksize: int, froot_func_name: str) -> str:
        """lleaves' forest (blocks of trees, each block's trees summed for every row, then the
        objective), on float32 rows, in tiles of LANES rows when the trees are small enough to
        evaluate every split of (see :func:`lanes_for`), else one row at a time. Returns the
        text of the tiles' tree functions (written directly: llvmlite's builder took 9 s of a
        compile for 515 trees of 31 leaves), to add to the module's."""
        n_out = forest.n_classes
        width = lanes_for(sum(_leaves(t.root_node) for t in forest.trees), len(forest.trees))
        layout = ir.GlobalVariable(module, INT, name=LANES_SYMBOL)
        layout.global_constant = True
        layout.initializer = iconst(width)
        one = ir.VectorType(DOUBLE, width) if width > 1 else DOUBLE
        root = ir.Function(
            module,
            ir.FunctionType(ir.VoidType(), (row_type, ir.PointerType(DOUBLE), INT, INT, INT)),
            name=froot_func_name,
        )
        elsewhere = ir.Module(name="tiles")  # (the tiles' trees: declared there, written here)
        text: list[str] = []
        trees = []
        for tree in forest.trees:
            kind = ir.FunctionType(one, (row_type,))
            func = ir.Function(elsewhere if width > 1 else module, kind, name=str(tree))
            if width > 1:
                text.append(_TileTree(str(tree), len(text), forest.n_args).function(tree.root_node))
            else:
                func.linkage = "private"
                func.args[0].add_attribute("noalias")
                block = func.append_basic_block(name=str(tree.root_node))
                gen_node(func, block, tree.root_node, True)
            trees.append((func, tree.class_id))
        trees.sort(key=lambda t: t[1])  # (a class's trees together, as lleaves)
        data, out, first, end, groups = root.args
        blocks = [trees[i : i + fblocksize] for i in range(0, len(trees), fblocksize)]
        setups = [root.append_basic_block(f"block-{i}") for i in range(len(blocks))]
        done = root.append_basic_block("done")
        ir.IRBuilder(done).ret_void()
        zero = ir.Constant(one, [0.0] * width) if width > 1 else ir.Constant(DOUBLE, 0.0)
        for b, (block, setup) in enumerate(zip(blocks, setups, strict=True)):
            after = setups[b + 1] if b + 1 < len(setups) else done
            builder = ir.IRBuilder(setup)
            index = builder.alloca(LONG, 1, "group")
            builder.store(builder.zext(first, LONG), index)
            stop = builder.zext(end, LONG)
            check = root.append_basic_block(f"block-{b}-check")
            builder.branch(check)
            builder = ir.IRBuilder(check)
            body = root.append_basic_block(f"block-{b}-group")
            builder.cbranch(builder.icmp_signed("<", builder.load(index), stop), body, after)
            builder = ir.IRBuilder(body)
            g = builder.load(index)
            tile = builder.gep(data, [builder.mul(g, lconst(forest.n_args * width))], inbounds=True)
            sums = [zero] * n_out
            for func, class_id in block:
                sums[class_id] = builder.fadd(builder.call(func, [tile]), sums[class_id])
            # class c of the tile's rows: out[(c * groups + g) * width ...], together
            n_groups = builder.zext(groups, LONG)
            at = [
                builder.gep(
                    out,
                    [builder.mul(builder.add(builder.mul(lconst(c), n_groups), g), lconst(width))],
                    inbounds=True,
                )
                for c in range(n_out)
            ]
            places = [builder.bitcast(p, one.as_pointer()) for p in at]
            if b > 0:
                sums = [
                    builder.fadd(s, builder.load(p, align=8))
                    for s, p in zip(sums, places, strict=True)
                ]
            if after is not done:
                for s, p in zip(sums, places, strict=True):
                    builder.store(s, p, align=8)
            else:  # the objective (lleaves' code), row by row
                for lane in range(width):
                    row = [
                        builder.extract_element(s, iconst(lane)) if width > 1 else s for s in sums
                    ]
                    row = objective(
                        builder,
                        row,
                        forest.objective_func,
                        forest.objective_func_config,
                        forest.raw_score,
                        forest.average_output,
                        len(forest.trees),
                        True,
                    )
                    for value, p in zip(row, at, strict=True):
                        builder.store(value, builder.gep(p, [iconst(lane)], inbounds=True))
            builder.store(builder.add(g, lconst(1)), index)
            builder.branch(check)
        return "\n".join(text)

    def forest_text(file_path: str, fblocksize: int = 34, raw_score: bool = False) -> str:
        forest = parse_to_ast(file_path)
        forest.raw_score = raw_score
        module = ir.Module(name="forest")
        tiles = gen_forest(forest, module, fblocksize, ENTRY)
        return f"{module}\n{tiles}\n"

    def compile_to_module(
        file_path: str,
        fblocksize: int = 34,
        finline: bool = True,
        raw_score: bool = False,
        froot_func_name: str = ENTRY,
        use_fp64: bool = True,
    ) -> Any:
        """lleaves' compile_to_module with Easel's forest (float64 sums only)."""
        if not use_fp64 or froot_func_name != ENTRY:
            raise ValueError("Easel's tree code sums in float64, from its own entry function")
        binding.initialize()
        parsed = binding.parse_assembly(forest_text(file_path, fblocksize, raw_score))
        parsed.triple = binding.get_process_triple()
        parsed.name = str(file_path)
        parsed.verify()
        passes = binding.PassManagerBuilder()
        passes.opt_level = OPT_LEVEL
        if finline:
            passes.inlining_threshold = 1
        manager = binding.ModulePassManager()
        passes.populate(manager)
        manager.run(parsed)
        return parsed

    gen_node.easel = True  # type: ignore[attr-defined]
    cg.gen_node = gen_node
    cg._populate_categorical_node_block = categorical
    cg._populate_numerical_node_block = numeric
    compiler.compile_to_module = compile_to_module  # (lleaves.Model.compile calls this one)
    _generated.append(forest_text)
    return True


_generated: list[Any] = []  # install()'s forest_text


def forest_text(file_path: str, fblocksize: int = 34) -> str:
    """The LLVM text of a model file's forest, before LLVM optimises it (for tests and
    benchmarks: the compiler's process compiles it)."""
    if not install():
        raise RuntimeError("this version of lleaves is not the one Easel's tree code is for")
    return str(_generated[-1](file_path, fblocksize))
