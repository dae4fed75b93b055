"""Shared test fixtures: the reference models beside the project, and the TFLM oracle."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MODELS_DIR = ROOT.parent / "shared" / "models"

#: The shared reference models with TFLite Micro's activation memory for each (bytes).
SHARED_MODELS = {
    "kws_ref_model.tflite": 16000,
    "vww_96_int8.tflite": 73728,
    "pretrainedResnet_quant.tflite": 49152,
    "ad01_int8.tflite": 768,
    "person_detect.tflite": 55296,
    "micro_speech_quantized.tflite": 5968,
    "hello_world_int8.tflite": 32,
}


def shared_model(name: str) -> Path:
    """Path of a shared model, or skip the test saying where it was looked for."""
    path = MODELS_DIR / name
    if not path.is_file():
        pytest.skip(f"shared model {name} not found in {MODELS_DIR} (the models folder beside the project)")
    return path


@pytest.fixture(scope="session")
def tflm():
    """The TFLite Micro oracle; skips if the tflite-micro package is missing."""
    from utvm import reference

    if not reference.tflm_available():
        pytest.skip("tflite-micro is not installed (pip install -e '.[test]')")
    return reference.tflm_run
