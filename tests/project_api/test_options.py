"""Typed options: declarations, per-method validation, and key=value parsing for the CLI."""

from __future__ import annotations

import os
import pathlib

import pytest

from utvm.project_api import (
    InvalidOption,
    MissingOption,
    ProjectOption,
    UnsupportedOption,
    options_for_method,
    parse_cli_options,
    validate_options,
)

DECLARED = [
    ProjectOption("board_rev", "int", required_for=["generate_project"], optional_for=["build"], default=2, help="board revision"),
    ProjectOption("verbose", "bool", optional_for=["build", "flash"], default=False),
    ProjectOption("clock", "float", optional_for=["build"]),
    ProjectOption("name", "str", optional_for=["build"], default="app"),
    ProjectOption("sdk", "path", optional_for=["generate_project", "build"]),
    ProjectOption("opt", "choice", optional_for=["build"], choices=["O0", "O2", "Os"], default="Os"),
    ProjectOption("port", "str", required_for=["flash", "open_transport"]),
]


def test_validate_fills_defaults_and_types():
    got = validate_options("build", {"verbose": True, "clock": 3, "sdk": "/opt/sdk"}, DECLARED)
    assert got == {
        "board_rev": 2,
        "verbose": True,
        "clock": 3.0,
        "name": "app",
        "sdk": pathlib.Path("/opt/sdk"),
        "opt": "Os",
    }
    assert isinstance(got["clock"], float)
    assert isinstance(got["sdk"], pathlib.Path)


def test_unknown_option_names_it_and_lists_valid_ones():
    with pytest.raises(UnsupportedOption) as info:
        validate_options("build", {"colour": "red"}, DECLARED)
    message = str(info.value)
    assert "'colour'" in message and "build" in message
    for name in ("board_rev", "verbose", "clock", "name", "sdk", "opt"):
        assert name in message
    assert info.value.option == "colour"
    assert info.value.valid == ["board_rev", "verbose", "clock", "name", "sdk", "opt"]


def test_option_of_another_method_says_where_it_applies():
    with pytest.raises(UnsupportedOption, match=r"build has no option 'port'; it applies to flash, open_transport"):
        validate_options("build", {"port": "/dev/ttyACM0"}, DECLARED)


def test_missing_required_option():
    with pytest.raises(MissingOption) as info:
        validate_options("flash", {}, DECLARED)
    assert isinstance(info.value, InvalidOption)
    assert info.value.option == "port"
    assert "flash requires option 'port'" in str(info.value)


@pytest.mark.parametrize(
    "name, value, words",
    [
        ("verbose", "yes", "must be a boolean"),
        ("verbose", 1, "must be a boolean"),
        ("board_rev", 2.5, "must be an integer"),
        ("board_rev", True, "must be an integer"),
        ("clock", "fast", "must be a number"),
        ("name", 5, "must be a string"),
        ("sdk", "", "must be a path"),
        ("opt", "O3", "must be one of O0, O2, Os"),
    ],
)
def test_ill_typed_option(name, value, words):
    method = "build"
    with pytest.raises(InvalidOption) as info:
        validate_options(method, {name: value}, DECLARED)
    assert info.value.option == name
    assert f"option {name!r} {words}" in str(info.value)
    assert "(in build)" in str(info.value)


def test_options_must_be_an_object():
    with pytest.raises(InvalidOption, match="must be an object"):
        validate_options("build", ["verbose"], DECLARED)


def test_null_counts_as_absent():
    assert validate_options("build", {"name": None}, DECLARED)["name"] == "app"


@pytest.mark.parametrize(
    "kwargs, words",
    [
        (dict(name="1x", type="str", optional_for=["build"]), "must be letters"),
        (dict(name="x", type="list", optional_for=["build"]), "type 'list'"),
        (dict(name="x", type="str"), "applies to no method"),
        (dict(name="x", type="str", optional_for="build"), "not a string"),
        (dict(name="x", type="str", optional_for=["close_transport"]), "takes no options"),
        (dict(name="x", type="str", optional_for=["build"], required_for=["build"]), "both required and optional"),
        (dict(name="x", type="choice", optional_for=["build"]), "no choices"),
        (dict(name="x", type="int", optional_for=["build"], default="3"), "bad default"),
        (dict(name="x", type="choice", optional_for=["build"], choices=["a"], default="b"), "bad default"),
    ],
)
def test_bad_declarations_are_plugin_bugs(kwargs, words):
    with pytest.raises(ValueError, match=words):
        ProjectOption(**kwargs)


def test_json_round_trip():
    for opt in DECLARED:
        again = ProjectOption.from_json(opt.to_json())
        assert again == opt
    assert DECLARED[5].to_json() == {
        "name": "opt",
        "type": "choice",
        "required_for": [],
        "optional_for": ["build"],
        "default": "Os",
        "choices": ["O0", "O2", "Os"],
        "help": "",
    }


@pytest.mark.parametrize("text, value", [("true", True), ("YES", True), ("1", True), ("on", True), ("False", False), ("no", False), ("0", False)])
def test_parse_bool(text, value):
    assert parse_cli_options([f"verbose={text}"], DECLARED) == {"verbose": value}


def test_parse_converts_by_declared_type():
    got = parse_cli_options(
        ["board_rev=0x10", "clock=1.5e6", "name=a=b", "sdk=~/sdk", "opt=O2", "port=/dev/ttyUSB0"], DECLARED
    )
    assert got == {
        "board_rev": 16,
        "clock": 1.5e6,
        "name": "a=b",
        "sdk": os.path.abspath(os.path.expanduser("~/sdk")),
        "opt": "O2",
        "port": "/dev/ttyUSB0",
    }
    assert parse_cli_options(["sdk=rel/dir"], DECLARED)["sdk"] == os.path.abspath("rel/dir")


@pytest.mark.parametrize(
    "pair, error, words",
    [
        ("colour=red", UnsupportedOption, "unknown option 'colour'; valid options: board_rev (int), verbose (bool)"),
        ("verbose=maybe", InvalidOption, "'verbose' must be a boolean (true/false, 1/0, yes/no, on/off), got 'maybe'"),
        ("board_rev=two", InvalidOption, "'board_rev' must be an integer, got 'two'"),
        ("clock=fast", InvalidOption, "'clock' must be a number, got 'fast'"),
        ("opt=O3", InvalidOption, "'opt' must be one of O0, O2, Os"),
        ("verbose", InvalidOption, "must be written key=value"),
    ],
)
def test_parse_errors(pair, error, words):
    with pytest.raises(error) as info:
        parse_cli_options([pair], DECLARED)
    assert words in str(info.value)


def test_parse_rejects_repeats():
    with pytest.raises(InvalidOption, match="given twice"):
        parse_cli_options(["verbose=1", "verbose=0"], DECLARED)


def test_options_for_method_keeps_each_methods_share():
    session = {"board_rev": 3, "verbose": True, "port": "/dev/x", "bogus": 1}
    assert options_for_method("generate_project", session, DECLARED) == {"board_rev": 3, "bogus": 1}
    assert options_for_method("flash", session, DECLARED) == {"verbose": True, "port": "/dev/x", "bogus": 1}
