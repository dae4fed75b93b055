"""Operator lowerings: one module per operator family, each registering with
:func:`utvm.ops.base.lowering`. Importing this package imports them all."""

import importlib
import pkgutil

from .base import ALIAS, ConstArray, KernelCall, lower, lowering, supported_opcodes, unsupported, variant, variants_of

for _module in pkgutil.iter_modules(__path__):
    if _module.name != "base":
        importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["ALIAS", "ConstArray", "KernelCall", "lower", "lowering", "supported_opcodes", "unsupported", "variant", "variants_of"]
