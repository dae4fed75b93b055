"""Reading Zephyr's YAML files (board.yml, soc.yml, twister board yaml, runners.yaml).

PyYAML's safe loader reads them (west itself depends on PyYAML); a file it
cannot read raises :class:`YamlError` naming the file and the place.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


class YamlError(ValueError):
    """A YAML file that cannot be read (with its path and line)."""


def load(path: Path) -> Any:
    """The document in ``path``."""
    text = Path(path).read_text(encoding="utf-8")
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise YamlError(f"{path}: {exc}") from None
