"""Static memory planning: where every non-constant tensor lives.

Tensors are first grouped into *storage groups*: the output of an alias
operator (RESHAPE, SQUEEZE) joins its input's group and shares its bytes. A
group that holds a model input lives in the caller's input buffer, one that
holds a model output in the caller's output buffer; every other group gets an
offset in one arena. With ``io_in_arena`` the model's inputs and outputs are
arena tensors too (as in TFLite Micro): an input lives from before the first
step, an output until after the last, and their bytes serve other tensors the
rest of the time; a run may then overwrite its inputs.

A kernel that may run in place (its call's :class:`~utvm.ops.base.InPlace`)
*links* its output group to its input group when that input is not read
afterwards: the output then sits exactly ``lag`` bytes below the input, and the
two may overlap while both are alive. Linked groups form a *chain* that is
placed as one piece, each member keeping its own lifetime, so the bytes a
member leaves free can hold other tensors before it is born and after it dies.

Chains are placed, in several orders, each at the lowest offset where none
of its members overlaps a member of another chain alive at the same time
(greedy first fit). Which links to use is searched for: a chain of growing
tensors drifts down by the growth, and cutting it can give a smaller arena
(see :func:`_choose_links`).
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
    #: The in-place links the plan uses: (input tensor, output tensor, lag in bytes).
    links: list[tuple[int, int, int]] = field(default_factory=list)
    #: Whether the model's inputs and outputs are arena tensors (see the module's docstring).
    io_in_arena: bool = False


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


@dataclass
class _Member:
    """A storage group inside a chain: ``offset`` from the chain's start, ``size`` and lifetime (step positions)."""

    group: int
    offset: int
    size: int
    first: int
    last: int


def plan_memory(graph: Graph, steps: Sequence[Step], io_in_arena: bool = False) -> Plan:
    """Plan storage for ``steps`` (operators in execution order with their lowering).

    Alias steps whose input and output would need different homes (say, a
    model input reshaped straight into a model output) must have been turned
    into copies by the caller; see :func:`alias_conflicts`. With
    ``io_in_arena`` the model's inputs and outputs are placed in the arena.
    """
    groups = _Groups()
    for op, call in steps:
        if call is ALIAS:
            groups.union(op.inputs[0], op.outputs[0])
    fixed: dict[int, Location] = {}
    if not io_in_arena:
        for k, t in enumerate(graph.inputs):
            fixed.setdefault(groups.find(t), Location("input", k))
        for k, t in enumerate(graph.outputs):
            fixed.setdefault(groups.find(t), Location("output", k))
    for t in graph.tensors:
        if t.is_const:
            fixed[groups.find(t.index)] = Location("const")

    # Lifetimes and sizes of the arena groups.
    lifetime: dict[int, list[int]] = {}
    sizes: dict[int, int] = {}
    for pos, (op, _) in enumerate(steps):
        for t in op.inputs + op.outputs:
            if t < 0 or groups.find(t) in fixed:
                continue
            g = groups.find(t)
            iv = lifetime.setdefault(g, [pos, pos])
            iv[1] = pos
            sizes[g] = max(sizes.get(g, 0), graph.tensors[t].nbytes)
    if io_in_arena:
        # Inputs are written before the first step, outputs read after the last (never in place over).
        for t in graph.inputs + graph.outputs:
            g = groups.find(t)
            if g in fixed:
                continue
            iv = lifetime.setdefault(g, [0, 0])
            if t in graph.inputs:
                iv[0] = -1
            if t in graph.outputs:
                iv[1] = len(steps)
            sizes[g] = max(sizes.get(g, 0), graph.tensors[t].nbytes)

    offsets, arena_bytes, used = _choose_links(lifetime, sizes, _links(steps, groups, lifetime, sizes))

    locations: dict[int, Location] = {}
    for t in {t for op, _ in steps for t in op.inputs + op.outputs if t >= 0} | set(graph.inputs) | set(
        graph.outputs
    ):
        g = groups.find(t)
        locations[t] = fixed[g] if g in fixed else Location("arena", offsets[g])
    copies = [t for t in graph.outputs if locations[t].kind not in ("output", "arena")]
    tensor_links = [(src, dst, lag) for (_, _, lag, src, dst) in used]
    return Plan(
        arena_bytes=arena_bytes, locations=locations, output_copies=copies, links=tensor_links, io_in_arena=io_in_arena
    )


_Link = tuple[int, int, int, int, int]  # input group, output group, lag, input tensor, output tensor


def _links(
    steps: Sequence[Step], groups: _Groups, lifetime: dict[int, list[int]], sizes: dict[int, int]
) -> list[_Link]:
    """The in-place links the kernels allow: arena input groups that die at the step, fresh arena outputs."""
    links: list[_Link] = []
    for pos, (op, call) in enumerate(steps):
        if not isinstance(call, KernelCall) or call.inplace is None:
            continue
        src = call.inputs[call.inplace.input]
        dst = call.outputs[call.inplace.output]
        if src < 0 or dst < 0:
            continue
        gs, gd = groups.find(src), groups.find(dst)
        if gs not in lifetime or gd not in lifetime or gs == gd:
            continue
        lag = call.inplace.lag
        overlap = -sizes[gs] < lag < sizes[gd]  # otherwise the output lies wholly apart from its input
        if overlap and lifetime[gs][1] == pos and lifetime[gd][0] == pos:
            links.append((gs, gd, lag, src, dst))
    return links


def _choose_links(
    lifetime: dict[int, list[int]], sizes: dict[int, int], links: list[_Link]
) -> tuple[dict[int, int], int, list[_Link]]:
    """The placement with the best subset of ``links`` found, and that subset.

    A link saves the bytes its output shares with its input, but ties the
    output to the input's place: along a chain of growing tensors the offsets
    drift down, and cutting the chain there can give a smaller arena. A local
    search: from no links, each link in execution order is kept when the
    arena does not grow with it; then single links and pairs of consecutive
    links are switched on or off while that gives a smaller arena (or the
    same with more links).
    """
    cache: dict[frozenset, tuple[dict[int, int], int]] = {}

    def plan(used: frozenset) -> tuple[dict[int, int], int]:
        if used not in cache:
            cache[used] = _place(_chains(lifetime, sizes, [k for k in links if k in used]))
        return cache[used]

    def score(used: frozenset) -> tuple[int, int]:
        return plan(used)[1], -len(used)

    used: frozenset = frozenset()
    for link in links:
        if plan(used | {link})[1] <= plan(used)[1]:
            used = used | {link}
    moves = [frozenset([k]) for k in links] + [frozenset(pair) for pair in zip(links, links[1:])]
    improved = True
    while improved:
        improved = False
        for move in moves:
            trial = used ^ move
            if score(trial) < score(used):
                used, improved = trial, True
    offsets, total = plan(used)
    return offsets, total, [k for k in links if k in used]


def _chains(
    lifetime: dict[int, list[int]], sizes: dict[int, int], links: Sequence[_Link]
) -> list[list[_Member]]:
    """Storage groups joined by ``links`` (in execution order) into chains with relative offsets (each from 0)."""
    chain_of: dict[int, int] = {g: g for g in lifetime}
    offset: dict[int, int] = {g: 0 for g in lifetime}
    members: dict[int, list[int]] = {g: [g] for g in lifetime}
    for gs, gd, lag, _, _ in links:
        # gd is a fresh group (born at this step, so the only member of its chain): move it below gs.
        cs = chain_of[gs]
        chain_of[gd] = cs
        offset[gd] = offset[gs] - lag
        members[cs].append(gd)
        del members[gd]
    chains = []
    for ms in members.values():
        low = min(offset[g] for g in ms)
        chains.append([
            _Member(g, offset[g] - low, _align(sizes[g]), lifetime[g][0], lifetime[g][1]) for g in ms
        ])
    return chains


def alias_conflicts(graph: Graph, steps: Sequence[Step], io_in_arena: bool = False) -> set[int]:
    """Positions of alias steps that would join two different homes (input, output, const)."""
    fixed: dict[int, str] = {}
    if not io_in_arena:
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


Order = Callable[[list[_Member]], tuple]


def _extent(chain: list[_Member]) -> int:
    return max(m.offset + m.size for m in chain)


def _span(chain: list[_Member]) -> tuple[int, int]:
    return min(m.first for m in chain), max(m.last for m in chain)


ORDERS: dict[str, Order] = {
    "size": lambda c: (-_extent(c), _span(c)[0]),
    "start": lambda c: (_span(c)[0], -_extent(c)),
    "duration": lambda c: (-(_span(c)[1] - _span(c)[0]), -_extent(c)),
    "area": lambda c: (-sum(m.size * (m.last - m.first + 1) for m in c), _span(c)[0]),
}


def _place(chains: list[list[_Member]]) -> tuple[dict[int, int], int]:
    """Greedy first fit of every chain, in several orders; the smallest arena wins.

    Returns the offset of every storage group and the arena size.
    """
    best: tuple[dict[int, int], int] | None = None
    for order in ORDERS.values():
        placed: list[tuple[int, int, int, int]] = []  # offset, end, first, last
        offsets: dict[int, int] = {}
        for chain in sorted(chains, key=order):
            base = _lowest_base(chain, placed)
            for m in chain:
                offsets[m.group] = base + m.offset
                placed.append((base + m.offset, base + m.offset + m.size, m.first, m.last))
        total = max((e for _, e, _, _ in placed), default=0)
        if best is None or total < best[1]:
            best = (offsets, total)
    return best if best is not None else ({}, 0)


def _lowest_base(chain: list[_Member], placed: list[tuple[int, int, int, int]]) -> int:
    """The lowest chain start at which no member overlaps a placed box alive at the same time."""
    meets = [
        [(o, e) for o, e, f, l in placed if not (l < m.first or f > m.last)] for m in chain
    ]
    candidates = {0} | {e - m.offset for m, boxes in zip(chain, meets) for _, e in boxes if e >= m.offset}
    for base in sorted(candidates):
        if all(
            base + m.offset + m.size <= o or e <= base + m.offset for m, boxes in zip(chain, meets) for o, e in boxes
        ):
            return base
    raise AssertionError("unreachable: past every placed box a chain always fits")
