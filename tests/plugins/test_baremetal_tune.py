"""utvm tune on an emulated Cortex-M4 (baremetal_cmsis, mps2-an386 under QEMU with -icount).

A three-layer model (a 3x3 convolution, a depthwise 3x3 convolution with stride 2, a fully
connected layer; channels multiples of 4, so every layer has a DSP variant) is tuned with
``utvm tune``, end to end through the platform's project server. What must hold:

- from the tuning file: no trial failed; every layer tuned measured its chosen kernel no slower
  than its reference kernel (a non-reference choice strictly faster), in the same surroundings;
  the tuned model no slower than the one on reference kernels; at least one layer on a variant;
- independently, on standalone images (the tune's own input and TFLite Micro's outputs built in;
  the image compares them and prints ``status ok``): the tuned model, each layer alone on its
  chosen kernel, and the reference build, all bit-exact with TFLite Micro on the board; the tuned
  model and each layer's choice measure no more instructions than the reference build, and the
  reference and tuned builds measure what the tune recorded (within the SysTick's resolution);
- ``utvm deploy --tuning`` runs the tuned model host-driven on another input, bit-exact with TFLite
  Micro.

Under QEMU with -icount shift=0 one instruction takes one virtual nanosecond: a SysTick cycle of
the 25 MHz board is 40 instructions. A figure is repeatable to a tick or so (where the run starts
in the SysTick's count depends on when the host's bytes arrive), so the independent figures are
compared with the tune's within 2 ticks. About 15-20 s on an idle machine (6 images built).
"""

from __future__ import annotations

import json
import math
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

import utvm
from utvm.cli import main
from utvm.cli_project import fetch_target
from utvm.frontend.model_builder import ModelBuilder
from utvm.project_api import connect, get_platform
from utvm.tune import REFERENCE, measurement_inputs, read_tuning

PLATFORM, BOARD = "baremetal_cmsis", "mps2-an386"
#: Instructions per SysTick cycle: QEMU -icount shift=0 runs 1e9 instructions a second, the core 25 MHz.
INSTRUCTIONS_PER_TICK = 1e9 / 25_000_000
#: How far an independent figure may lie from the tune's (the SysTick's phase at the start of a run).
TICK_SLACK = 2

pytestmark = pytest.mark.skipif(
    shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None,
    reason="arm-none-eabi-gcc and qemu-system-arm are needed (apt-get install gcc-arm-none-eabi "
    "libnewlib-arm-none-eabi qemu-system-arm)",
)


def _layer(rng: np.random.Generator, depth: int, channels: int, in_scale: float):
    """Per-channel weight scales, an output scale that keeps typical outputs in range, and a bias."""
    w_scales = (0.01 * 2.0 ** rng.uniform(-1, 1, size=channels)).astype(np.float32)
    acc = math.sqrt(depth) * (127 / 1.7) * 74.0  # typical |accumulator| of random int8 data
    out_scale = float(in_scale) * float(np.mean(w_scales)) * acc / 40.0
    bias = rng.integers(-int(acc), int(acc) + 1, size=channels).astype(np.int32)
    return w_scales, out_scale, bias


def tune_model(h: int = 8, w: int = 8, cin: int = 8, channels: int = 16, units: int = 10) -> bytes:
    """CONV_2D 3x3 cin->channels (SAME, RELU), DEPTHWISE_CONV_2D 3x3 stride 2, FULLY_CONNECTED -> units."""
    rng = np.random.default_rng(0)
    mb = ModelBuilder("tune_test")
    s0 = 0.05
    x = mb.input("x", (1, h, w, cin), "int8", scale=s0, zero_point=-128)
    conv = dict(padding="SAME", stride_h=1, stride_w=1, dilation_h_factor=1, dilation_w_factor=1)

    ws, s1, bias = _layer(rng, 9 * cin, channels, s0)
    wt = mb.const("conv_w", rng.integers(-127, 128, size=(channels, 3, 3, cin)).astype(np.int8),
                  scale=ws.tolist(), zero_point=0, axis=0)
    bt = mb.const("conv_b", bias, scale=(s0 * ws).astype(np.float32).tolist(), zero_point=0)
    y1 = mb.tensor("conv_y", (1, h, w, channels), "int8", scale=s1, zero_point=-128)
    mb.op("CONV_2D", [x, wt, bt], [y1], fused_activation_function="RELU", **conv)

    ws, s2, bias = _layer(rng, 9, channels, s1)
    wt = mb.const("dw_w", rng.integers(-127, 128, size=(1, 3, 3, channels)).astype(np.int8),
                  scale=ws.tolist(), zero_point=0, axis=3)
    bt = mb.const("dw_b", bias, scale=(s1 * ws).astype(np.float32).tolist(), zero_point=0)
    oh, ow = (h + 1) // 2, (w + 1) // 2
    y2 = mb.tensor("dw_y", (1, oh, ow, channels), "int8", scale=s2, zero_point=-3)
    mb.op("DEPTHWISE_CONV_2D", [y1, wt, bt], [y2], fused_activation_function="NONE", depth_multiplier=1,
          **{**conv, "stride_h": 2, "stride_w": 2})

    depth = oh * ow * channels
    ws, s3, bias = _layer(rng, depth, 1, s2)
    wt = mb.const("fc_w", rng.integers(-127, 128, size=(units, depth)).astype(np.int8),
                  scale=ws.tolist(), zero_point=0)
    bt = mb.const("fc_b", rng.integers(-1000, 1001, size=units).astype(np.int32),
                  scale=(s2 * ws).astype(np.float32).tolist(), zero_point=0)
    y3 = mb.tensor("fc_y", (1, units), "int8", scale=s3, zero_point=5)
    mb.op("FULLY_CONNECTED", [y2, wt, bt], [y3], fused_activation_function="NONE", keep_num_dims=False,
          weights_format="DEFAULT", asymmetric_quantize_inputs=False)
    mb.output(y3)
    return mb.build()


def standalone_runs(model: bytes, target: dict, configs: dict[str, dict[int, str]], inputs: list[np.ndarray],
                    expected: list[np.ndarray], root: Path) -> dict[str, dict]:
    """Each kernel configuration built as a standalone image with ``inputs`` and ``expected`` inside, and run."""
    np.savez(root / "x.npz", *inputs)
    np.savez(root / "y.npz", *expected)
    options = {"project_type": "standalone", "inputs": str(root / "x.npz"), "expected_outputs": str(root / "y.npz")}
    runs = {}
    with connect(get_platform(PLATFORM).server_argv) as client:
        for label, kernels in configs.items():
            mlf = utvm.compile(model, name="tuned", target=target, kernels=kernels).export(root / f"{label}.tar")
            project = root / label
            client.generate_project(mlf, project, BOARD, client.select_options("generate_project", options))
            client.build(project, {})
            runs[label] = client.flash(project, {})
    return runs


def test_tune_on_cortex_m4_improves_or_keeps_every_layer(tmp_path, capsys, tflm):
    model = tune_model()
    path = tmp_path / "model.tflite"
    path.write_bytes(model)
    tuning = tmp_path / "tuning.json"
    started = time.monotonic()
    assert main(["tune", str(path), "--platform", PLATFORM, "--board", BOARD, "-O", str(tuning), "--json"]) == 0
    tune_seconds = time.monotonic() - started
    doc = json.loads(capsys.readouterr().out)
    assert doc == json.loads(tuning.read_text())

    # What the tune measured and recorded.
    assert doc["timer_unit"] == "cycles" and doc["ticks_per_second"] == 25_000_000
    assert [t["error"] for t in doc["trials"] if t["error"]] == []
    layers = {layer["index"]: layer for layer in doc["layers"]}
    assert [layers[i]["opcode"] for i in sorted(layers)] == ["CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"]
    kernels = read_tuning(tuning, model)
    assert kernels == {i: layer["chosen"] for i, layer in layers.items()}
    for layer in layers.values():
        assert layer["chosen_ticks"] <= layer["reference_ticks"], layer
        if layer["chosen"] != REFERENCE:
            assert layer["chosen_ticks"] == layer["candidates"][layer["chosen"]] < layer["reference_ticks"], layer
    chosen = {i: name for i, name in kernels.items() if name != REFERENCE}
    assert chosen, f"no layer took a variant: {doc['layers']}"
    assert 0 < doc["best_ticks"] <= doc["baseline_ticks"]
    assert doc["baseline_ticks"] == doc["trials"][0]["ticks"]

    # The same figures measured independently: standalone images with the tune's input and TFLM's outputs.
    target = fetch_target(PLATFORM, BOARD)
    reference = {i: REFERENCE for i in kernels}
    inputs = measurement_inputs(utvm.compile(model, target=target).metadata, doc["seed"])
    configs = {"reference": reference, "tuned": kernels,
               **{f"layer{i}": {**reference, i: name} for i, name in chosen.items()}}
    started = time.monotonic()
    runs = standalone_runs(model, target, configs, inputs, tflm(model, inputs), tmp_path)
    check_seconds = time.monotonic() - started
    for label, run in runs.items():  # bit-exact with TFLM on the board: the image compared its outputs
        assert run["exit_status"] == 0 and run["status"] == "ok", (label, run["output"])
    count = {label: run["instructions"] for label, run in runs.items()}
    assert count["tuned"] <= count["reference"]
    for i in chosen:
        assert count[f"layer{i}"] < count["reference"], (i, count)
    for label, ticks in (("reference", doc["baseline_ticks"]), ("tuned", doc["best_ticks"])):
        assert abs(count[label] - ticks * INSTRUCTIONS_PER_TICK) <= TICK_SLACK * INSTRUCTIONS_PER_TICK, \
            (label, count[label], ticks)

    # The compiler reads the file: the tuned model deployed host-driven, another input, against TFLM.
    assert main(["deploy", str(path), "--platform", PLATFORM, "--board", BOARD, "--tuning", str(tuning),
                 "--seed", "7", "--json"]) == 0
    deployed = json.loads(capsys.readouterr().out)
    assert deployed["bit_exact"] is True, (deployed["outputs"], deployed["reference"])

    per_trial = [t["seconds"] for t in doc["trials"] if t.get("same_as") is None]
    print(f"tune: {len(doc['trials'])} trials in {tune_seconds:.1f} s "
          f"({min(per_trial):.1f}-{max(per_trial):.1f} s per trial); standalone checks {check_seconds:.1f} s")
    for i, layer in sorted(layers.items()):
        print(f"  operator {i} {layer['opcode']}: {layer['chosen']}: "
              f"{layer['reference_ticks'] * INSTRUCTIONS_PER_TICK:.0f} -> "
              f"{layer['chosen_ticks'] * INSTRUCTIONS_PER_TICK:.0f} instructions (model, tune); "
              f"alone on reference surroundings: {count['reference']} -> {count.get(f'layer{i}', count['reference'])}")
    print(f"  model: {count['reference']} -> {count['tuned']} instructions (standalone)")
