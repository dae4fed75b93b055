"""A board added as a data file in a folder of the user's is listed and deploys, with no change to utvm."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from utvm.cli import main
from utvm.demo import make_demo_model

SHIPPED = Path(__file__).resolve().parents[2] / "plugins" / "baremetal_cmsis" / "data" / "boards" / "mps2-an386.json"


@pytest.fixture
def user_board(tmp_path, monkeypatch):
    for tool in ("arm-none-eabi-gcc", "qemu-system-arm"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (bash scripts/setup.sh installs it)")
    board = json.loads(SHIPPED.read_text())
    board["name"] = "my-lab-m4"
    board["description"] = "my lab's Cortex-M4 image, emulated"
    folder = tmp_path / "boards"
    folder.mkdir()
    (folder / "my-lab-m4.json").write_text(json.dumps(board, indent=2))
    monkeypatch.setenv("UTVM_BAREMETAL_BOARDS", str(folder))  # inherited by the project servers
    return board["name"]


def test_user_board_is_listed_and_deploys_bit_exact(user_board, tmp_path, capsys, tflm):
    assert main(["boards", "--platform", "baremetal_cmsis", "--json"]) == 0
    boards = {b["name"]: b for b in json.loads(capsys.readouterr().out)}
    assert user_board in boards and "mps2-an386" in boards

    model = tmp_path / "sine.tflite"
    model.write_bytes(make_demo_model())
    assert main(["deploy", str(model), "--platform", "baremetal_cmsis", "--board", user_board, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["board"] == user_board and result["bit_exact"] is True
    assert result["timer_unit"] == "cycles" and result["ticks"] > 0


def test_board_file_arena_region_is_read_and_placed(tmp_path):
    from utvm.platforms.baremetal_cmsis.boards import read_board
    from utvm.platforms.baremetal_cmsis.packs import find_device
    from utvm.platforms.baremetal_cmsis.project import plan_placement

    board = json.loads(SHIPPED.read_text())
    board.update(name="an386-bram", arena_region="BRAM")
    path = tmp_path / "an386-bram.json"
    path.write_text(json.dumps(board))
    parsed = read_board(path)
    assert parsed.extra["arena_region"] == "BRAM"
    metadata = {"memory": {"constants_bytes": 100, "arena_bytes": 1024}, "inputs": [], "outputs": []}
    placement = plan_placement(find_device(parsed.device), parsed, metadata)
    assert placement.arena.name == "BRAM"  # the shipped rule alone would put it in SSRAM2_3
