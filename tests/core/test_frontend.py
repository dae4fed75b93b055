"""The TFLite reader and writer on the shared models and on broken files."""

from __future__ import annotations

import numpy as np
import pytest

from utvm.errors import ModelError
from utvm.frontend.model_builder import ModelBuilder
from utvm.frontend.tflite_reader import read_tflite
from utvm.frontend.tflite_writer import write_tflite

from ..conftest import SHARED_MODELS, shared_model


@pytest.mark.parametrize("model", sorted(SHARED_MODELS))
def test_writer_round_trip_keeps_graph_and_tflm_outputs(model, tflm):
    data = shared_model(model).read_bytes()
    graph = read_tflite(data)
    again = read_tflite(write_tflite(graph))
    assert [(o.opcode, o.options, o.inputs, o.outputs) for o in graph.operators] == [
        (o.opcode, o.options, o.inputs, o.outputs) for o in again.operators
    ]
    for a, b in zip(graph.tensors, again.tensors):
        assert (a.name, a.shape, a.dtype) == (b.name, b.shape, b.dtype)
        assert (a.data is None) == (b.data is None)
        if a.data is not None:
            np.testing.assert_array_equal(a.data, b.data)
        if a.quant is not None:
            np.testing.assert_array_equal(a.quant.scale, b.quant.scale)
            np.testing.assert_array_equal(a.quant.zero_point, b.quant.zero_point)
    x = np.random.default_rng(1).integers(-128, 128, size=graph.tensors[graph.inputs[0]].shape).astype(np.int8)
    np.testing.assert_array_equal(tflm(data, [x])[0], tflm(write_tflite(graph), [x])[0])


def test_reader_facts_of_kws():
    graph = read_tflite(shared_model("kws_ref_model.tflite").read_bytes())
    x = graph.tensors[graph.inputs[0]]
    assert x.shape == (1, 49, 10, 1) and x.dtype == "int8"
    assert x.quant.scalar_zero_point == 83
    assert abs(x.quant.scalar_scale - 0.5847029) < 1e-6
    opcodes = [op.opcode for op in graph.operators]
    assert opcodes.count("CONV_2D") == 5 and opcodes.count("DEPTHWISE_CONV_2D") == 4
    conv = graph.operators[0]
    assert conv.options["padding"] == "SAME" and conv.options["stride_w"] == 2
    weights = graph.tensors[conv.inputs[1]]
    assert weights.is_const and weights.quant.per_channel and weights.quant.axis == 0


def test_person_detect_bias_quantized_dimension_quirk_is_accepted():
    graph = read_tflite(shared_model("person_detect.tflite").read_bytes())
    conv = next(op for op in graph.operators if op.opcode == "CONV_2D")
    bias = graph.tensors[conv.inputs[2]]
    assert len(bias.shape) == 1 and bias.quant.per_channel and bias.quant.axis == 0


def test_micro_speech_depth_multiplier_is_read():
    graph = read_tflite(shared_model("micro_speech_quantized.tflite").read_bytes())
    dw = next(op for op in graph.operators if op.opcode == "DEPTHWISE_CONV_2D")
    assert dw.options["depth_multiplier"] == 8


@pytest.mark.parametrize(
    "data, words",
    [
        (b"", "too short"),
        (b"\x00" * 7, "too short"),
        (b"\x10\x00\x00\x00ABCD" + b"\x00" * 32, "TFL3"),
    ],
)
def test_reader_refuses_non_models(data, words):
    with pytest.raises(ModelError, match=words):
        read_tflite(data)


def test_reader_refuses_truncated_model():
    data = shared_model("kws_ref_model.tflite").read_bytes()
    with pytest.raises(ModelError, match="malformed"):
        read_tflite(data[:200])


def test_reader_refuses_buffer_size_mismatch():
    mb = ModelBuilder("bad")
    x = mb.input("x", (1, 4), "int8", scale=0.1, zero_point=0)
    w = mb.const("w", np.ones((2, 4), np.int8), scale=0.1, zero_point=0)
    y = mb.tensor("y", (1, 2), "int8", scale=0.1, zero_point=0)
    mb.op("FULLY_CONNECTED", [x, w, -1], [y])
    mb.output(y)
    mb.graph.tensors[w].shape = (3, 4)  # the buffer still holds 8 bytes
    with pytest.raises(ModelError, match="needs 12 bytes, but its buffer"):
        read_tflite(mb.build())


def test_reader_refuses_out_of_range_tensor_index():
    mb = ModelBuilder("bad")
    x = mb.input("x", (1, 4), "int8", scale=0.1, zero_point=0)
    mb.op("RELU", [x], [7])
    mb.output(x)
    with pytest.raises(ModelError, match="refers to tensor 7"):
        read_tflite(mb.build())
