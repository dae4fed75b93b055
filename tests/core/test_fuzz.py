"""Mutated and truncated models never escape as an unhandled exception or a hang.

Each mutant either compiles or raises ModelError. A sample of the mutants that
compile is also built and run on the host, so the validation the lowerings do
is what keeps the generated C in bounds.
"""

from __future__ import annotations

import signal

import numpy as np
import pytest

import utvm
from utvm.errors import ModelError

from ..conftest import shared_model

#: mutants per model: small models get most, since each compile of a big one costs more.
MUTANTS = {
    "hello_world_int8.tflite": 700,
    "micro_speech_quantized.tflite": 500,
    "kws_ref_model.tflite": 400,
    "ad01_int8.tflite": 100,
    "pretrainedResnet_quant.tflite": 100,
    "person_detect.tflite": 100,
    "vww_96_int8.tflite": 100,
}
SECONDS_PER_MUTANT = 20
RUN_SAMPLE = 3


def mutate(data: bytes, rng: np.random.Generator) -> bytes:
    buf = bytearray(data)
    kind = rng.integers(0, 4)
    if kind == 0:  # truncate
        return bytes(buf[: int(rng.integers(0, len(buf)))])
    # Most of the structure (tables, vtables, offsets, shapes) sits outside the
    # big weight buffers; aim half the flips at the first and last 4 KB.
    for _ in range(int(rng.integers(1, 9))):
        if rng.random() < 0.5:
            pos = int(rng.integers(0, min(4096, len(buf))))
            if rng.random() < 0.5:
                pos = len(buf) - 1 - pos
        else:
            pos = int(rng.integers(0, len(buf)))
        if kind == 1:
            buf[pos] ^= 1 << int(rng.integers(0, 8))
        elif kind == 2:
            buf[pos] = int(rng.integers(0, 256))
        else:
            buf[pos] = (0x00, 0xFF, 0x7F, 0x80)[int(rng.integers(0, 4))]
    return bytes(buf)


class _Hang(Exception):
    pass


def _alarm(signum, frame):
    raise _Hang()


@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_mutants_compile_or_raise_model_error(name):
    data = shared_model(name).read_bytes()
    rng = np.random.default_rng(sum(name.encode()))
    previous = signal.signal(signal.SIGALRM, _alarm)
    compiled_ok = rejected = ran = 0
    try:
        for i in range(MUTANTS[name]):
            mutant = mutate(data, rng)
            signal.alarm(SECONDS_PER_MUTANT)
            try:
                compiled = utvm.compile(mutant, name="fuzz")
            except ModelError as exc:
                rejected += 1
                assert str(exc), "a ModelError must say what is wrong"
                continue
            except _Hang:
                pytest.fail(f"mutant {i} of {name} did not compile or fail within {SECONDS_PER_MUTANT} s")
            finally:
                signal.alarm(0)
            compiled_ok += 1
            if ran < RUN_SAMPLE:
                ran += 1
                inputs = [np.zeros(e["shape"], dtype=e["dtype"]) for e in compiled.metadata["inputs"]]
                outputs = utvm.host.run(compiled, inputs)
                assert len(outputs) == len(compiled.metadata["outputs"])
    finally:
        signal.signal(signal.SIGALRM, previous)
    assert compiled_ok + rejected == MUTANTS[name]
    assert rejected > 0, "mutation should break some models"
