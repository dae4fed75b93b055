"""Plugin discovery, and a third-party plugin installed with pip and driven end to end."""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from utvm.project_api import (
    BoardNotFound,
    PlatformDescriptor,
    PlatformNotFound,
    PluginError,
    get_platform,
    hookimpl,
    load_platforms,
    load_registry,
)

from .conftest import DEMO_ARGV, make_mlf

PLUGIN_SOURCE = Path(__file__).resolve().with_name("third_party_plugin")


class Plugin:
    """An in-process plugin object with a utvm_platform hook."""

    def __init__(self, name, result=None, error=None):
        self.__name__ = name
        self._result = result
        self._error = error

    @hookimpl
    def utvm_platform(self):
        if self._error:
            raise self._error
        return self._result


def desc(name, description="test"):
    return PlatformDescriptor(name=name, description=description, server_argv=DEMO_ARGV)


def test_descriptor_validation():
    d = desc("demo")
    assert d.server_argv == tuple(DEMO_ARGV) and d.plugin is None
    with pytest.raises(ValueError, match="not an absolute path"):
        PlatformDescriptor("demo", "x", ["python3", "-m", "x"])
    with pytest.raises(ValueError, match="not a string"):
        PlatformDescriptor("demo", "x", sys.executable)
    with pytest.raises(ValueError, match="lower-case"):
        PlatformDescriptor("Demo Board", "x", DEMO_ARGV)


def test_extra_plugins_one_or_many_platforms():
    platforms = load_platforms(
        entry_points=False,
        extra_plugins=[Plugin("one", desc("alpha")), Plugin("many", [desc("beta"), desc("gamma")]), Plugin("none", None)],
    )
    assert list(platforms) == ["alpha", "beta", "gamma"]
    assert platforms["beta"].plugin == "many"


def test_duplicate_platform_names_are_an_error_naming_both_plugins():
    plugins = [Plugin("first", desc("alpha")), Plugin("second", desc("alpha")), Plugin("other", desc("beta"))]
    with pytest.raises(PluginError) as info:
        load_platforms(entry_points=False, extra_plugins=plugins)
    assert "platform 'alpha' is provided by several plugins" in str(info.value)
    assert "'first'" in str(info.value) and "'second'" in str(info.value)
    # Other platforms stay usable; the ambiguous one is reported by name.
    assert get_platform("beta", entry_points=False, extra_plugins=plugins).name == "beta"
    with pytest.raises(PluginError, match="several plugins"):
        get_platform("alpha", entry_points=False, extra_plugins=plugins)


def test_a_plugin_that_raises_is_named():
    plugins = [Plugin("broken_sdk", error=RuntimeError("SDK not configured")), Plugin("fine", desc("beta"))]
    with pytest.raises(PluginError) as info:
        load_platforms(entry_points=False, extra_plugins=plugins)
    assert "plugin 'broken_sdk' raised in utvm_platform: RuntimeError: SDK not configured" in str(info.value)
    registry = load_registry(entry_points=False, extra_plugins=plugins)
    assert list(registry.platforms) == ["beta"] and len(registry.errors) == 1


def test_a_plugin_returning_garbage_is_named():
    with pytest.raises(PluginError, match=r"plugin 'odd': utvm_platform must return a PlatformDescriptor.*not dict"):
        load_platforms(entry_points=False, extra_plugins=[Plugin("odd", {"name": "x"})])


def test_a_misspelt_hook_is_reported():
    class Typo:
        __name__ = "typo"

        @hookimpl
        def utvm_platfrom(self):  # sic
            return desc("alpha")

    registry = load_registry(entry_points=False, extra_plugins=[Typo(), Plugin("fine", desc("beta"))])
    assert list(registry.platforms) == ["beta"]
    assert "plugin 'typo' failed to register" in str(registry.errors[0])
    assert "utvm_platfrom" in str(registry.errors[0])


def test_get_platform_lists_the_available_ones():
    plugins = [Plugin("a", desc("alpha")), Plugin("b", desc("beta")), Plugin("c", error=ImportError("no west"))]
    with pytest.raises(PlatformNotFound) as info:
        get_platform("zephyr", entry_points=False, extra_plugins=plugins)
    message = str(info.value)
    assert "no platform named 'zephyr'; available: alpha, beta" in message
    assert "plugin 'c' raised in utvm_platform: ImportError: no west" in message
    assert info.value.available == ["alpha", "beta"]


def test_descriptor_connect():
    with get_platform("alpha", entry_points=False, extra_plugins=[Plugin("a", desc("alpha"))]).connect() as client:
        assert client.info.platform_name == "demo"


# --- a third-party plugin, pip-installed into a temporary directory -------------------------------


def _can_build_without_isolation() -> bool:
    """Whether this environment's setuptools can build a wheel itself (>= 70.1, or the wheel package)."""
    try:
        import setuptools
    except ImportError:
        return False
    version = tuple(int(p) for p in setuptools.__version__.split(".")[:2] if p.isdigit())
    return version >= (70, 1) or importlib.util.find_spec("wheel") is not None


@pytest.fixture
def installed_plugin(tmp_path, monkeypatch):
    """utvm-pretend installed with pip into a private target directory on sys.path and PYTHONPATH.

    The real environment is left alone; everything is removed afterwards.
    """
    source = tmp_path / "src"
    shutil.copytree(PLUGIN_SOURCE, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    target = tmp_path / "site"
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--disable-pip-version-check",
               "--no-input", "--target", str(target), str(source)]
    if _can_build_without_isolation():
        command.insert(4, "--no-build-isolation")  # offline and fast: use this environment's setuptools
    proc = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, f"pip install failed:\n{proc.stdout}\n{proc.stderr}"
    assert list(target.glob("utvm_pretend-*.dist-info"))

    monkeypatch.syspath_prepend(str(target))  # also invalidates importlib's caches
    pythonpath = os.environ.get("PYTHONPATH")
    monkeypatch.setenv("PYTHONPATH", str(target) + (os.pathsep + pythonpath if pythonpath else ""))
    yield target

    for name in [m for m in sys.modules if m == "utvm_pretend" or m.startswith("utvm_pretend.")]:
        del sys.modules[name]
    monkeypatch.undo()
    shutil.rmtree(target, ignore_errors=True)
    importlib.invalidate_caches()
    assert "pretend" not in load_registry().platforms  # gone again


def test_third_party_plugin_end_to_end(installed_plugin, tmp_path):
    import importlib.metadata

    assert importlib.metadata.version("utvm-pretend") == "0.1.0"
    platforms = load_platforms()
    assert "pretend" in platforms
    pretend = platforms["pretend"]
    assert pretend.plugin == "pretend" and pretend.distribution == "utvm-pretend"
    assert pretend.server_argv == (sys.executable, "-m", "utvm_pretend.server")
    assert get_platform("pretend") == pretend

    progress = []
    with pretend.connect(stderr_callback=progress.append) as client:
        info = client.info
        assert info.platform_name == "pretend" and info.version == "0.1.0"
        assert len(info.methods) == 10
        assert {o.name for o in info.options} == {"project_type", "optimize", "serial_number", "verify"}

        boards = client.boards()
        assert [b["name"] for b in boards] == ["pretend_m0", "pretend_m33"]
        target = client.target_info("pretend_m33")
        assert target["cpu"] == "cortex-m33" and "dsp" in target["features"]
        assert target["memory_regions"][1]["length"] == 262144
        with pytest.raises(BoardNotFound, match="pretend_m0, pretend_m33"):
            client.target_info("pretend_m99")

        mlf = make_mlf(tmp_path / "model.tar")
        project = tmp_path / "project"
        session = {"project_type": "host_driven", "optimize": "speed", "serial_number": "PR0BE", "verify": False}
        generated = client.generate_project(mlf, project, "pretend_m33", client.select_options("generate_project", session))
        assert "model/metadata.json" in generated["files"] and "src/main.c" in generated["files"]
        assert json.loads((project / "pretend-project.json").read_text()) == {"board": "pretend_m33", "project_type": "host_driven"}

        built = client.build(project, client.select_options("build", session))
        image = Path(built["artifacts"][0])
        assert image == project / "build" / "firmware.bin" and image.read_bytes().startswith(b"PRETENDpretend_m33")
        assert built["size"] == image.stat().st_size

        assert client.flash(project, client.select_options("flash", session)) == {"flashed": str(image)}
        record = json.loads((project / "flash.log").read_text())
        assert record == {"image": str(image), "serial_number": "PR0BE", "verify": False}

        assert client.open_transport(project, client.select_options("open_transport", session)) == {"device": "in-memory echo"}
        assert client.write_transport(b"\x00ping\xff") == 6
        assert client.read_transport(3, timeout=1) == b"\x00pi"
        assert client.read_transport(100, timeout=1) == b"ng\xff"
        assert client.read_transport(100, timeout=0.05) == b""
        client.close_transport()
    assert client.returncode == 0
    assert any("built" in line and "pretend-cc" in line for line in progress)  # its prints arrive as progress
