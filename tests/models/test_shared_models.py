"""Every shared reference model compiles, fits TFLM's activation memory, and is bit-exact with TFLM."""

from __future__ import annotations

import numpy as np
import pytest

import utvm

from ..conftest import SHARED_MODELS, shared_model

N_INPUTS = 10


@pytest.fixture(scope="module")
def built():
    cache = {}

    def get(name, io_in_arena=False):
        if (name, io_in_arena) not in cache:
            compiled = utvm.compile(shared_model(name), io_in_arena=io_in_arena)
            cache[name, io_in_arena] = (compiled, utvm.host.build(compiled))
        return cache[name, io_in_arena]

    return get


@pytest.mark.parametrize("io_in_arena", [False, True], ids=["io-caller", "io-arena"])
@pytest.mark.parametrize("name", sorted(SHARED_MODELS))
def test_bit_exact_with_tflm_on_random_inputs(name, io_in_arena, built, tflm):
    """With the I/O in the arena the host runner's own buffers are copied in and out around the run."""
    compiled, runner = built(name, io_in_arena)
    data = shared_model(name).read_bytes()
    rng = np.random.default_rng(abs(hash(name)) % (1 << 32))
    for _ in range(N_INPUTS):
        inputs = []
        for spec in compiled.metadata["inputs"]:
            info = np.iinfo(spec["dtype"])
            inputs.append(rng.integers(info.min, info.max + 1, size=spec["shape"]).astype(spec["dtype"]))
        ours, _ = runner.run(inputs)
        for got, want in zip(ours, tflm(data, inputs)):
            np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("name", sorted(SHARED_MODELS))
def test_arena_no_larger_than_tflm_activation_memory(name, built):
    compiled, _ = built(name)
    assert compiled.metadata["memory"]["arena_bytes"] <= SHARED_MODELS[name]


@pytest.mark.parametrize("name", sorted(SHARED_MODELS))
def test_io_in_arena_needs_no_more_than_tflm_activation_memory(name, built):
    """TFLM's activation memory holds the inputs and outputs too: so does the arena with io_in_arena."""
    caller, _ = built(name)
    arena, _ = built(name, True)
    io = sum(e["bytes"] for e in caller.metadata["inputs"] + caller.metadata["outputs"])
    assert arena.metadata["memory"]["arena_bytes"] <= SHARED_MODELS[name]
    assert arena.metadata["memory"]["arena_bytes"] <= caller.metadata["memory"]["arena_bytes"] + io
    entries = arena.metadata["inputs"] + arena.metadata["outputs"]
    assert all("arena_offset" in e for e in entries)
    header = arena.files[arena.metadata["files"]["header"]]
    assert f"extern uint8_t {arena.name}_arena[" in header
    assert header.count("_ARENA_OFFSET ") == len(entries)
    assert "_ARENA_OFFSET" not in caller.files[caller.metadata["files"]["header"]]


@pytest.mark.parametrize("io_in_arena", [False, True], ids=["io-caller", "io-arena"])
@pytest.mark.parametrize("target", ["host", "dsp", "mve"])
@pytest.mark.parametrize("name", sorted(SHARED_MODELS))
def test_planned_buffers_alive_together_never_overlap(name, target, io_in_arena):
    """Checks the plan itself: two arena tensors whose lifetimes meet occupy disjoint bytes, unless one
    is an alias of the other (same bytes) or the in-place output of the other, exactly its kernel's lag
    below it."""
    from utvm.frontend.tflite_reader import read_tflite
    from utvm.ops import ALIAS, lower
    from utvm.passes import run_passes
    from utvm.planner import plan_memory

    graph = run_passes(read_tflite(shared_model(name).read_bytes()))
    features = {"host": (), "dsp": ("dsp",), "mve": ("mve",)}[target]
    steps = [(op, lower(op, graph, features)) for op in graph.operators]
    plan = plan_memory(graph, steps, io_in_arena)
    live: dict[int, list[int]] = {}
    for t in graph.inputs if io_in_arena else []:
        live[t] = [-1, -1]  # written before the first step
    for pos, (op, call) in enumerate(steps):
        for t in op.inputs + op.outputs:
            if t >= 0 and plan.locations[t].kind == "arena":
                live.setdefault(t, [pos, pos])[1] = pos
    for t in graph.outputs if io_in_arena else []:
        live[t][1] = len(steps)  # read after the last step
    assert all(plan.locations[t].kind == ("arena" if io_in_arena else "input") for t in graph.inputs)
    aliases = {frozenset((op.inputs[0], op.outputs[0])) for op, call in steps if call is ALIAS}
    declared = {
        (call.inputs[call.inplace.input], call.outputs[call.inplace.output]): call.inplace.lag
        for _, call in steps
        if call is not ALIAS and call.inplace
    }
    for src, dst, lag in plan.links:
        assert declared[(src, dst)] == lag
        assert plan.locations[dst].index == plan.locations[src].index - lag
    linked = {frozenset((src, dst)) for src, dst, _ in plan.links}
    tensors = sorted(live)
    for i, a in enumerate(tensors):
        for b in tensors[i + 1 :]:
            if live[a][1] < live[b][0] or live[b][1] < live[a][0]:
                continue
            oa, ob = plan.locations[a].index, plan.locations[b].index
            ea, eb = oa + graph.tensors[a].nbytes, ob + graph.tensors[b].nbytes
            if ea <= ob or eb <= oa:
                continue
            pair = frozenset((a, b))
            assert (pair in aliases and oa == ob) or pair in linked, f"tensors {a} and {b} overlap in the arena"
