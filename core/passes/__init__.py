"""Graph passes run before lowering, in order. Each takes and returns a Graph
and preserves the model's outputs bit for bit."""

from __future__ import annotations

from ..ir import Graph
from .fold_constants import fold_constants
from .fuse_activations import fuse_activations

PIPELINE = (fold_constants, fuse_activations)


def run_passes(graph: Graph) -> Graph:
    for p in PIPELINE:
        graph = p(graph)
    return graph


__all__ = ["run_passes", "fold_constants", "fuse_activations"]
