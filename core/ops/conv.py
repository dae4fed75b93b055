"""CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED: int8 activations, int8 weights, int32 bias.

The parameters are precomputed here exactly as TFLite Micro's Prepare does:

* conv and depthwise (PopulateConvolutionQuantizationParams): one multiplier
  per output channel from ``double(input_scale) * double(filter_scale) /
  double(output_scale)``, a per-tensor filter scale broadcast to every channel;
* fully connected (GetQuantizedConvolutionMultipler): the same all-double
  form. NOTE: the tflite-micro source at 90b983c writes the per-tensor product
  as ``static_cast<double>(input_scale * filter_scale)`` (a *float* product),
  but the oracle (the tflite-micro pip package, built from 8f6596d) computes
  it in double -- checked in its machine code (cvtss2sd, cvtss2sd, mulsd) and
  by tests/ops/test_fully_connected.py::test_multiplier_product_is_double,
  which finds scales and biases for which the two differ. We follow the
  oracle;
* padding (ComputePaddingHeightWidth): from the output size TFLM computes
  itself, which must be the output tensor's shape.

TFLM's conv and depthwise kernels ignore the weights' zero point (weights are
symmetric by the quantization spec); its per-tensor fully connected kernel
applies it, its per-channel one does not. The kernels do the same.
"""

from __future__ import annotations

import numpy as np

from ..ir import Graph, Operator, Tensor
from ..quant import activation_range, quantize_multiplier
from .base import ConstArray, InPlace, KernelCall, lowering, unsupported
from .overlap import pixel_lag

_ACTIVATIONS = ("NONE", "RELU", "RELU6", "RELU_N1_TO_1")


# --------------------------------------------------------------------------- helpers


def _f32(x: float) -> float:
    return float(np.float32(x))


def _operands(op: Operator, graph: Graph) -> tuple[Tensor, Tensor, Tensor | None, Tensor]:
    """Input, filter, optional bias and output, with arity checks."""
    if len(op.inputs) not in (2, 3) or len(op.outputs) != 1:
        raise unsupported(op, graph, f"{op.opcode} needs 2 or 3 inputs (input, filter, optional bias) and 1 output")
    if op.inputs[0] < 0 or op.inputs[1] < 0 or op.outputs[0] < 0:
        raise unsupported(op, graph, f"{op.opcode} is missing its input, filter or output tensor")
    bias = None
    if len(op.inputs) == 3 and op.inputs[2] >= 0:
        bias = graph.tensors[op.inputs[2]]
    return graph.tensors[op.inputs[0]], graph.tensors[op.inputs[1]], bias, graph.tensors[op.outputs[0]]


def _check_types(op: Operator, graph: Graph, x: Tensor, w: Tensor, b: Tensor | None, y: Tensor) -> None:
    if x.dtype != "int8" or y.dtype != "int8":
        raise unsupported(
            op, graph, f"{op.opcode} supports int8 input and output only (got {x.dtype} -> {y.dtype})"
        )
    if w.dtype != "int8":
        raise unsupported(op, graph, f"{op.opcode} supports int8 weights only (got {w.dtype})")
    if b is not None and b.dtype != "int32":
        raise unsupported(op, graph, f"{op.opcode} with int8 input needs an int32 bias (got {b.dtype})")
    for role, t in (("input", x), ("weights", w), ("output", y)):
        if t.quant is None:
            raise unsupported(op, graph, f"{op.opcode} {role} tensor '{t.name}' is not quantized")
    for role, t in (("input", x), ("output", y)):
        if t.quant.per_channel:
            raise unsupported(op, graph, f"{op.opcode} {role} tensor '{t.name}' must be quantized per tensor")
        if not t.quant.scalar_scale > 0.0:
            raise unsupported(op, graph, f"{op.opcode} {role} tensor '{t.name}' has scale {t.quant.scalar_scale}")


def _activation(op: Operator, graph: Graph, y: Tensor) -> tuple[int, int]:
    act = op.options.get("fused_activation_function", "NONE")
    if act not in _ACTIVATIONS:
        raise unsupported(
            op, graph, f"{op.opcode} fused activation {act} is not supported (only {', '.join(_ACTIVATIONS)})"
        )
    return activation_range(act, y.quant.scalar_scale, y.quant.scalar_zero_point, "int8")


def _window_geometry(
    op: Operator, graph: Graph, in_h: int, in_w: int, f_h: int, f_w: int
) -> dict[str, int]:
    """Strides, dilations, output size and top/left padding as TFLM computes them."""
    padding = op.options.get("padding", "SAME")
    if padding not in ("SAME", "VALID"):
        raise unsupported(op, graph, f"{op.opcode} padding {padding!r} is not supported (SAME or VALID)")
    sh, sw = int(op.options.get("stride_h", 1)), int(op.options.get("stride_w", 1))
    dh, dw = int(op.options.get("dilation_h_factor", 1)), int(op.options.get("dilation_w_factor", 1))
    if min(sh, sw, dh, dw) <= 0:
        raise unsupported(op, graph, f"{op.opcode} strides ({sh}, {sw}) and dilations ({dh}, {dw}) must be positive")

    def one_dim(size: int, filt: int, stride: int, dil: int) -> tuple[int, int]:
        eff = (filt - 1) * dil + 1
        if padding == "SAME":
            out = (size + stride - 1) // stride
        else:
            out = (size + stride - eff) // stride
        total = max((out - 1) * stride + eff - size, 0)
        return out, total // 2

    out_h, pad_h = one_dim(in_h, f_h, sh, dh)
    out_w, pad_w = one_dim(in_w, f_w, sw, dw)
    if out_h <= 0 or out_w <= 0:
        raise unsupported(
            op, graph, f"{op.opcode} window ({f_h}x{f_w}, dilation {dh}x{dw}) does not fit the {in_h}x{in_w} input"
        )
    return dict(
        stride_h=sh, stride_w=sw, dilation_h=dh, dilation_w=dw,
        output_h=out_h, output_w=out_w, pad_h=pad_h, pad_w=pad_w,
    )


def _conv_multipliers(x: Tensor, w: Tensor, y: Tensor, channels: int) -> tuple[list[int], list[int]]:
    """PopulateConvolutionQuantizationParams: double(in) * double(filter) / double(out), per channel."""
    in_scale, out_scale = x.quant.scalar_scale, y.quant.scalar_scale
    scales = [_f32(s) for s in w.quant.scale] if w.quant.per_channel else [w.quant.scalar_scale] * channels
    mults, shifts = [], []
    for s in scales[:channels]:
        m, sh = quantize_multiplier(in_scale * s / out_scale)
        mults.append(m)
        shifts.append(sh)
    return mults, shifts


def _requant_params(op: Operator, graph: Graph, mults: list[int], shifts: list[int]) -> dict[str, object]:
    """Per-channel arrays, collapsed to one entry when every channel has the same value."""
    if max(shifts) > 31:
        raise unsupported(
            op, graph, f"{op.opcode} effective output scale 2**{max(shifts) - 1} or more is too large"
        )
    per_channel = len(set(zip(mults, shifts))) > 1
    if not per_channel:
        mults, shifts = mults[:1], shifts[:1]
    return dict(
        per_channel=1 if per_channel else 0,
        multiplier=ConstArray("int32_t", np.asarray(mults, dtype=np.int32)),
        shift=ConstArray("int32_t", np.asarray(shifts, dtype=np.int32)),
    )


def _check_filter_channels(op: Operator, graph: Graph, w: Tensor, channels: int, channel_axis: int) -> None:
    """TFLM's Prepare: one filter scale, or one per output channel along the quantized dimension."""
    q = w.quant
    n = q.scale.size
    if n == 1:
        return
    if n != channels:
        raise unsupported(
            op, graph,
            f"{op.opcode} weights have {n} scales; need 1 or one per output channel ({channels})",
        )
    if q.axis >= len(w.shape) or w.shape[q.axis] != n:
        raise unsupported(
            op, graph,
            f"{op.opcode} weights' quantized dimension {q.axis} does not have {n} entries "
            f"(channels are along dimension {channel_axis})",
        )


def _check_bias(op: Operator, graph: Graph, b: Tensor | None, channels: int) -> None:
    if b is not None and b.size != channels:
        raise unsupported(op, graph, f"{op.opcode} bias has {b.size} elements; needs {channels}")


def _check_output_shape(op: Operator, graph: Graph, y: Tensor, expected: tuple[int, ...]) -> None:
    if tuple(y.shape) != tuple(expected):
        raise unsupported(
            op, graph,
            f"{op.opcode} output shape {list(y.shape)} does not match the computed shape {list(expected)}",
        )


def window_inplace(lag: int | None) -> InPlace | None:
    """In place over the input (position 0) at ``lag`` (core/ops/overlap.py), or None when not."""
    return None if lag is None else InPlace(input=0, output=0, lag=lag)


def _window_call(
    op: Operator, graph: Graph, operands: tuple[Tensor, Tensor, Tensor | None, Tensor], sizes: dict[str, int],
    channel_axis: int, kernel: str,
) -> KernelCall:
    """The call of ``utvm_KERNEL_s8`` (conv or depthwise_conv) for the op's ``sizes`` (its shape fields).

    Adds the window geometry, the offsets, the activation range and the
    requantization to the params, after the checks the two ops share.
    """
    x, w, b, y = operands
    out_c = sizes["output_c"]
    geo = _window_geometry(op, graph, sizes["input_h"], sizes["input_w"], sizes["filter_h"], sizes["filter_w"])
    _check_output_shape(op, graph, y, (sizes["batches"], geo["output_h"], geo["output_w"], out_c))
    _check_filter_channels(op, graph, w, out_c, channel_axis)
    _check_bias(op, graph, b, out_c)
    act_min, act_max = _activation(op, graph, y)
    params: dict[str, object] = dict(
        sizes, **geo,
        input_offset=-x.quant.scalar_zero_point, output_offset=y.quant.scalar_zero_point,
        act_min=act_min, act_max=act_max,
    )
    params.update(_requant_params(op, graph, *_conv_multipliers(x, w, y, out_c)))
    return KernelCall(
        function=f"utvm_{kernel}_s8",
        inputs=[op.inputs[0], op.inputs[1], b.index if b is not None else -1],
        outputs=[op.outputs[0]],
        header=f"utvm/kernels/{kernel}.h",
        sources=[f"kernels/{kernel}.c"],
        params_type=f"utvm_{kernel}_params",
        params=params,
        inplace=window_inplace(pixel_lag(params)),
    )


# --------------------------------------------------------------------------- CONV_2D


@lowering("CONV_2D")
def lower_conv_2d(op: Operator, graph: Graph) -> KernelCall:
    x, w, b, y = _operands(op, graph)
    _check_types(op, graph, x, w, b, y)
    if len(x.shape) != 4 or len(w.shape) != 4 or len(y.shape) != 4:
        raise unsupported(op, graph, f"{op.opcode} needs 4-D input, filter and output (NHWC, OHWI)")
    n, in_h, in_w, in_c = x.shape
    out_c, f_h, f_w, f_c = w.shape
    if min(n, in_h, in_w, in_c, out_c, f_h, f_w, f_c) <= 0:
        raise unsupported(op, graph, f"{op.opcode} has an empty dimension")
    if in_c % f_c != 0:
        raise unsupported(op, graph, f"{op.opcode} input channels {in_c} are not a multiple of filter channels {f_c}")
    groups = in_c // f_c
    if out_c % groups != 0:
        raise unsupported(op, graph, f"{op.opcode} output channels {out_c} are not a multiple of the {groups} groups")
    sizes = dict(batches=n, input_h=in_h, input_w=in_w, input_c=in_c, filter_h=f_h, filter_w=f_w, filter_c=f_c,
                 output_c=out_c)
    return _window_call(op, graph, (x, w, b, y), sizes, 0, "conv")


# --------------------------------------------------------------------------- DEPTHWISE_CONV_2D


@lowering("DEPTHWISE_CONV_2D")
def lower_depthwise_conv_2d(op: Operator, graph: Graph) -> KernelCall:
    x, w, b, y = _operands(op, graph)
    _check_types(op, graph, x, w, b, y)
    if len(x.shape) != 4 or len(w.shape) != 4 or len(y.shape) != 4:
        raise unsupported(op, graph, f"{op.opcode} needs 4-D input, filter and output (NHWC, 1HWO)")
    n, in_h, in_w, in_c = x.shape
    one, f_h, f_w, out_c = w.shape
    if min(n, in_h, in_w, in_c, out_c, f_h, f_w) <= 0:
        raise unsupported(op, graph, f"{op.opcode} has an empty dimension")
    if one != 1:
        raise unsupported(op, graph, f"{op.opcode} filter shape {list(w.shape)} must start with 1")
    dm = int(op.options.get("depth_multiplier", 1))
    if dm <= 0 or in_c * dm != out_c:
        raise unsupported(
            op, graph,
            f"{op.opcode} depth_multiplier {dm} times {in_c} input channels is not the {out_c} filter channels",
        )
    sizes = dict(batches=n, input_h=in_h, input_w=in_w, input_c=in_c, filter_h=f_h, filter_w=f_w, output_c=out_c,
                 depth_multiplier=dm)
    return _window_call(op, graph, (x, w, b, y), sizes, 3, "depthwise_conv")


# --------------------------------------------------------------------------- FULLY_CONNECTED


def _fc_per_tensor_multiplier(
    op: Operator, graph: Graph, x: Tensor, w: Tensor, b: Tensor | None, y: Tensor
) -> tuple[int, int]:
    """GetQuantizedConvolutionMultipler, including its check of the bias scale."""
    in_scale, w_scale, out_scale = x.quant.scalar_scale, w.quant.scalar_scale, y.quant.scalar_scale
    if b is not None:
        bias_scale = b.quant.scalar_scale if b.quant is not None else 0.0
        if abs(in_scale * w_scale - bias_scale) / out_scale > 0.02:
            raise unsupported(
                op, graph,
                f"{op.opcode} bias scale {bias_scale} is not input scale * weights scale "
                f"({in_scale * w_scale}); TFLM rejects this model",
            )
    # All double, as the oracle does (see the module docstring).
    product = in_scale * w_scale
    if product < 0:
        raise unsupported(op, graph, f"{op.opcode} has a negative input * weights scale")
    return quantize_multiplier(product / out_scale)


@lowering("FULLY_CONNECTED")
def lower_fully_connected(op: Operator, graph: Graph) -> KernelCall:
    x, w, b, y = _operands(op, graph)
    _check_types(op, graph, x, w, b, y)
    fmt = op.options.get("weights_format", "DEFAULT")
    if fmt != "DEFAULT":
        raise unsupported(op, graph, f"{op.opcode} weights_format {fmt} is not supported (DEFAULT only)")
    if len(w.shape) != 2:
        raise unsupported(op, graph, f"{op.opcode} needs 2-D weights [output depth, accumulation depth]")
    out_depth, accum_depth = w.shape
    if out_depth <= 0 or accum_depth <= 0 or not y.shape or y.shape[-1] != out_depth:
        raise unsupported(
            op, graph, f"{op.opcode} output's last dimension must be the weights' {out_depth} rows"
        )
    batches = y.size // out_depth
    if x.size != batches * accum_depth:
        raise unsupported(
            op, graph,
            f"{op.opcode} input has {x.size} elements; {batches} batches of {accum_depth} expected",
        )
    _check_bias(op, graph, b, out_depth)
    act_min, act_max = _activation(op, graph, y)

    if w.quant.per_channel:
        # FullyConnectedPerChannel: all-double multipliers, weights' zero point unused.
        n = w.quant.scale.size
        if n != out_depth or w.quant.axis != 0:
            raise unsupported(
                op, graph,
                f"{op.opcode} per-channel weights need one scale per output row along dimension 0 "
                f"(got {n} along dimension {w.quant.axis})",
            )
        mults, shifts = _conv_multipliers(x, w, y, out_depth)
        weights_offset = 0
    else:
        m, s = _fc_per_tensor_multiplier(op, graph, x, w, b, y)
        mults, shifts = [m], [s]
        weights_offset = -w.quant.scalar_zero_point

    params: dict[str, object] = dict(
        batches=batches, accum_depth=accum_depth, output_depth=out_depth,
        input_offset=-x.quant.scalar_zero_point, weights_offset=weights_offset,
        output_offset=y.quant.scalar_zero_point,
        act_min=act_min, act_max=act_max,
    )
    params.update(_requant_params(op, graph, mults, shifts))
    return KernelCall(
        function="utvm_fully_connected_s8",
        inputs=[op.inputs[0], op.inputs[1], b.index if b is not None else -1],
        outputs=[op.outputs[0]],
        header="utvm/kernels/fully_connected.h",
        sources=["kernels/fully_connected.c"],
        params_type="utvm_fully_connected_params",
        params=params,
    )
