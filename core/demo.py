"""The project's own demo model: a sine regressor made from scratch.

A 1-16-16-1 multilayer perceptron is trained with numpy to approximate
sin(x) on [0, 2*pi], quantized to int8 (per-tensor symmetric weights, int32
biases, asymmetric activations calibrated on the training range), and written
as .tflite by the project's TFLite writer. Everything is seeded, so the model's
bytes are the same on every machine with the same numpy.
"""

from __future__ import annotations

import math

import numpy as np

from .frontend.model_builder import ModelBuilder

HIDDEN = 16
X_MAX = 2 * math.pi


def train(seed: int = 0, steps: int = 2000) -> list[tuple[np.ndarray, np.ndarray]]:
    """Train the float MLP with Adam on full batches; returns [(W, b)] per layer, W as [out, in]."""
    rng = np.random.default_rng(seed)
    x = np.linspace(0.0, X_MAX, 512, dtype=np.float64)[:, None]
    y = np.sin(x)
    sizes = [1, HIDDEN, HIDDEN, 1]
    params = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        params.append([rng.normal(0.0, math.sqrt(2.0 / n_in), (n_out, n_in)), np.zeros(n_out)])
    # Put each first-layer ReLU's kink somewhere inside [0, X_MAX], so none starts dead.
    params[0][1] = -params[0][0][:, 0] * rng.uniform(0.0, X_MAX, HIDDEN)
    m = [[np.zeros_like(p) for p in layer] for layer in params]
    v = [[np.zeros_like(p) for p in layer] for layer in params]
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-8
    for t in range(1, steps + 1):
        acts = [x]
        for k, (w, b) in enumerate(params):
            z = acts[-1] @ w.T + b
            acts.append(np.maximum(z, 0.0) if k < len(params) - 1 else z)
        grad = 2.0 * (acts[-1] - y) / len(x)
        for k in reversed(range(len(params))):
            w, b = params[k]
            gw, gb = grad.T @ acts[k], grad.sum(axis=0)
            if k > 0:
                grad = (grad @ w) * (acts[k] > 0)
            for j, g in enumerate((gw, gb)):
                m[k][j] = b1 * m[k][j] + (1 - b1) * g
                v[k][j] = b2 * v[k][j] + (1 - b2) * g * g
                mhat = m[k][j] / (1 - b1**t)
                vhat = v[k][j] / (1 - b2**t)
                params[k][j] = params[k][j] - lr * mhat / (np.sqrt(vhat) + eps)
    return [(w, b) for w, b in params]


def _asymmetric(lo: float, hi: float) -> tuple[float, int]:
    """int8 scale and zero point covering [lo, hi] (which is widened to include 0)."""
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    scale = (hi - lo) / 255.0 or 1.0
    zero_point = int(round(-128 - lo / scale))
    return float(np.float32(scale)), max(-128, min(127, zero_point))


def make_demo_model(seed: int = 1) -> bytes:
    """Train, quantize and serialize the sine model; returns .tflite bytes."""
    layers = train(seed)
    calib = np.linspace(0.0, X_MAX, 1024)[:, None]
    ranges = []
    a = calib
    for k, (w, b) in enumerate(layers):
        a = a @ w.T + b
        if k < len(layers) - 1:
            a = np.maximum(a, 0.0)
        ranges.append((float(a.min()), float(a.max())))

    mb = ModelBuilder("sine")
    mb.graph.description = "utvm demo: sine regressor, int8"
    in_scale, in_zp = _asymmetric(0.0, X_MAX)
    x = mb.input("x", (1, 1), "int8", scale=in_scale, zero_point=in_zp)
    prev, prev_scale = x, in_scale
    for k, (w, b) in enumerate(layers):
        w_scale = float(np.float32(np.abs(w).max() / 127.0))
        wq = np.clip(np.round(w / w_scale), -127, 127).astype(np.int8)
        b_scale = prev_scale * w_scale
        bq = np.round(b / b_scale).astype(np.int32)
        wt = mb.const(f"dense_{k}/weights", wq, scale=w_scale, zero_point=0)
        bt = mb.const(f"dense_{k}/bias", bq, scale=float(np.float32(b_scale)), zero_point=0)
        o_scale, o_zp = _asymmetric(*ranges[k])
        last = k == len(layers) - 1
        out = mb.tensor("y" if last else f"dense_{k}/out", (1, w.shape[0]), "int8", scale=o_scale, zero_point=o_zp)
        mb.op(
            "FULLY_CONNECTED",
            [prev, wt, bt],
            [out],
            fused_activation_function="NONE" if last else "RELU",
            keep_num_dims=False,
        )
        prev, prev_scale = out, o_scale
    mb.output(prev)
    return mb.build()


def quantize_input(x: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """Real values to int8 with the given affine parameters."""
    return np.clip(np.round(np.asarray(x) / scale) + zero_point, -128, 127).astype(np.int8)


def dequantize(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    return (np.asarray(q, dtype=np.float64) - zero_point) * scale
