"""Static memory planning: where every non-constant tensor lives.

Tensors are first grouped into *storage groups*: the output of an alias
operator (RESHAPE, SQUEEZE) joins its input's group, and the output of a
kernel that may run in place joins its input's group when that input dies at
the kernel. A group that holds a model input lives in the caller's input
buffer, one that holds a model output in the caller's output buffer; every
other group gets an offset in one arena. Offsets are chosen by placing groups,
in several orders, each at the lowest aligned offset that does not overlap a
group alive at the same time; the smallest arena wins.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

from .ir import Graph, Operator
from .ops.base import ALIAS, KernelCall

ARENA_ALIGNMENT = 16


@dataclass(frozen=True)
class Location:
    """Where a tensor's data is: ``kind`` is arena, input, output or const.

    ``index`` is the arena offset in bytes, or the model input/output position.
    """

    kind: str
    index: int = 0


@dataclass
class Plan:
    arena_bytes: int
    locations: dict[int, Location]
    #: Model outputs whose data lives elsewhere (a model input or a constant)
    #: and must be copied into the caller's output buffer after the last step.
    output_copies: list[int] = field(default_factory=list)


Step = tuple[Operator, object]


class _Groups:
    """Union-find over tensor indices."""

    def __init__(self) -> None:
        self.parent: dict[int, int] = {}

    def find(self, t: int) -> int:
        self.parent.setdefault(t, t)
        while self.parent[t] != t:
            self.parent[t] = self.parent[self.parent[t]]
            t = self.parent[t]
        return t

    def union(self, a: int, b: int) -> None:
        self.parent[self.find(b)] = self.find(a)


def _align(n: int) -> int:
    return (n + ARENA_ALIGNMENT - 1) // ARENA_ALIGNMENT * ARENA_ALIGNMENT


def plan_memory(graph: Graph, steps: Sequence[Step]) -> Plan:
    """Plan storage for ``steps`` (operators in execution order with their lowering).

    Alias steps whose input and output would need different homes (say, a
    model input reshaped straight into a model output) must have been turned
    into copies by the caller; see :func:`alias_conflicts`.
    """
    groups = _Groups()
    home: dict[int, Location] = {}
    for k, t in enumerate(graph.inputs):
        home[t] = Location("input", k)
    for k, t in enumerate(graph.outputs):
        home.setdefault(t, Location("output", k))
    for t in graph.tensors:
        if t.is_const:
            home[t.index] = Location("const")

    def group_home(root: int) -> Location | None:
        members = [t for t in groups.parent if groups.find(t) == root] or [root]
        homes = {home[m] for m in members if m in home}
        return homes.pop() if homes else None

    last_use = _last_uses(graph, steps)
    for pos, (op, call) in enumerate(steps):
        if call is ALIAS:
            groups.union(op.inputs[0], op.outputs[0])
        elif isinstance(call, KernelCall) and call.inplace is not None:
            src = call.inputs[call.inplace[0]]
            dst = call.outputs[call.inplace[1]]
            src_root = groups.find(src)
            same_size = graph.tensors[src].nbytes == graph.tensors[dst].nbytes
            if (
                same_size
                and group_home(src_root) is None
                and dst not in home
                and last_use.get(src_root, -1) <= pos
            ):
                groups.union(src, dst)
        last_use = _last_uses(graph, steps, groups)

    # Liveness of the arena groups.
    intervals: dict[int, list[int]] = {}
    sizes: dict[int, int] = {}
    for pos, (op, call) in enumerate(steps):
        touched = [t for t in op.inputs + op.outputs if t >= 0]
        for t in touched:
            root = groups.find(t)
            if group_home(root) is not None:
                continue
            iv = intervals.setdefault(root, [pos, pos])
            iv[0] = min(iv[0], pos)
            iv[1] = max(iv[1], pos)
            sizes[root] = max(sizes.get(root, 0), graph.tensors[t].nbytes)

    offsets, arena_bytes = _place(intervals, sizes)
    locations: dict[int, Location] = {}
    for t in {t for op, _ in steps for t in op.inputs + op.outputs if t >= 0} | set(graph.inputs) | set(
        graph.outputs
    ):
        root = groups.find(t)
        h = group_home(root)
        locations[t] = h if h is not None else Location("arena", offsets[root])

    copies = [t for t in graph.outputs if locations[t].kind != "output"]
    return Plan(arena_bytes=arena_bytes, locations=locations, output_copies=copies)


def alias_conflicts(graph: Graph, steps: Sequence[Step]) -> set[int]:
    """Positions of alias steps that would join two different homes (input, output, const)."""
    fixed: dict[int, str] = {}
    for k, t in enumerate(graph.inputs):
        fixed[t] = f"input{k}"
    for k, t in enumerate(graph.outputs):
        fixed.setdefault(t, f"output{k}")
    for t in graph.tensors:
        if t.is_const:
            fixed[t.index] = "const"
    groups = _Groups()
    group_fixed: dict[int, str] = {}
    conflicts = set()
    for pos, (op, call) in enumerate(steps):
        if call is not ALIAS:
            continue
        a, b = groups.find(op.inputs[0]), groups.find(op.outputs[0])
        fa = group_fixed.get(a, fixed.get(op.inputs[0]))
        fb = group_fixed.get(b, fixed.get(op.outputs[0]))
        if fa is not None and fb is not None and fa != fb:
            conflicts.add(pos)
            continue
        groups.union(a, b)
        if fa or fb:
            group_fixed[groups.find(a)] = fa or fb
    return conflicts


def _last_uses(graph: Graph, steps: Sequence[Step], groups: _Groups | None = None) -> dict[int, int]:
    last: dict[int, int] = {}
    for pos, (op, _) in enumerate(steps):
        for t in op.inputs + op.outputs:
            if t >= 0:
                key = groups.find(t) if groups else t
                last[key] = pos
    return last


Order = Callable[[int, dict[int, list[int]], dict[int, int]], tuple]

ORDERS: dict[str, Order] = {
    "size": lambda g, iv, sz: (-sz[g], iv[g][0]),
    "start": lambda g, iv, sz: (iv[g][0], -sz[g]),
    "duration": lambda g, iv, sz: (-(iv[g][1] - iv[g][0]), -sz[g]),
    "area": lambda g, iv, sz: (-sz[g] * (iv[g][1] - iv[g][0] + 1), iv[g][0]),
}


def _place(intervals: dict[int, list[int]], sizes: dict[int, int]) -> tuple[dict[int, int], int]:
    """Greedy first fit of every group, in several orders; the smallest arena wins."""
    best: tuple[dict[int, int], int] | None = None
    for order in ORDERS.values():
        placed: list[tuple[int, int, int, int]] = []  # offset, end, first, last
        offsets: dict[int, int] = {}
        for g in sorted(intervals, key=lambda g: order(g, intervals, sizes)):
            first, last = intervals[g]
            size = _align(sizes[g])
            busy = sorted((o, e) for o, e, f, l in placed if not (l < first or f > last))
            offset = 0
            for o, e in busy:
                if offset + size <= o:
                    break
                offset = max(offset, e)
            offsets[g] = offset
            placed.append((offset, offset + size, first, last))
        total = max((e for _, e, _, _ in placed), default=0)
        if best is None or total < best[1]:
            best = (offsets, total)
    return best if best is not None else ({}, 0)
