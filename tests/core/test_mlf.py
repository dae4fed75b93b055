"""Model Library Format: export, reload, run, and refusal of unsafe archives."""

from __future__ import annotations

import io
import json
import tarfile

import numpy as np
import pytest

import utvm
from utvm.demo import make_demo_model
from utvm.errors import UtvmError
from utvm.mlf import read_mlf


@pytest.fixture(scope="module")
def demo():
    return make_demo_model()


def test_export_contents_and_metadata(tmp_path, demo):
    compiled = utvm.compile(demo, name="sine")
    path = compiled.export(tmp_path / "sine.tar")
    with tarfile.open(path) as tar:
        names = set(tar.getnames())
        md = json.load(tar.extractfile("metadata.json"))
    assert {"metadata.json", "codegen/host/src/sine.c", "codegen/host/include/sine.h", "src/graph.json"} <= names
    assert "runtime/include/utvm/kernels/common.h" in names
    for src in md["runtime_sources"]:
        assert "runtime/src/" + src in names
    assert md["version"] == 1 and md["model"] == "sine"
    (inp,) = md["inputs"]
    assert inp["shape"] == [1, 1] and inp["dtype"] == "int8" and isinstance(inp["zero_point"], int)
    assert md["memory"]["arena_bytes"] > 0 and md["memory"]["constants_bytes"] > 0
    assert [op["opcode"] for op in md["operators"]] == ["FULLY_CONNECTED"] * 3


def test_exported_archive_runs_like_the_compiled_model(tmp_path, demo):
    compiled = utvm.compile(demo, name="sine")
    path = compiled.export(tmp_path / "sine.tar")
    x = np.array([[-100]], dtype=np.int8)
    np.testing.assert_array_equal(utvm.host.run(path, [x])[0], utvm.host.run(compiled, [x])[0])
    assert read_mlf(path).metadata == compiled.metadata


def test_export_refuses_to_overwrite_without_force(tmp_path, demo):
    target = tmp_path / "sine.tar"
    target.write_bytes(b"precious")
    compiled = utvm.compile(demo, name="sine")
    with pytest.raises(UtvmError, match="already exists"):
        compiled.export(target)
    assert target.read_bytes() == b"precious"
    compiled.export(target, force=True)
    assert tarfile.is_tarfile(target)


def _archive_with(tmp_path, member: tarfile.TarInfo, data: bytes = b"x"):
    path = tmp_path / "evil.tar"
    with tarfile.open(path, "w") as tar:
        info = tarfile.TarInfo("metadata.json")
        body = b"{}"
        info.size = len(body)
        tar.addfile(info, io.BytesIO(body))
        if member.isfile():
            member.size = len(data)
            tar.addfile(member, io.BytesIO(data))
        else:
            tar.addfile(member)
    return path


@pytest.mark.parametrize(
    "member, words",
    [
        (tarfile.TarInfo("/etc/evil.c"), "absolute"),
        (tarfile.TarInfo("codegen/../../evil.c"), r"'\.\.'"),
    ],
)
def test_read_refuses_unsafe_paths(tmp_path, member, words):
    with pytest.raises(UtvmError, match=words):
        read_mlf(_archive_with(tmp_path, member))


@pytest.mark.parametrize("kind", [tarfile.SYMTYPE, tarfile.LNKTYPE])
def test_read_refuses_links(tmp_path, kind):
    member = tarfile.TarInfo("codegen/host/src/link.c")
    member.type = kind
    member.linkname = "/etc/passwd"
    with pytest.raises(UtvmError, match="links"):
        read_mlf(_archive_with(tmp_path, member))


def test_read_refuses_non_archives(tmp_path):
    bad = tmp_path / "x.tar"
    bad.write_bytes(b"not a tar at all" * 10)
    with pytest.raises(UtvmError, match="not a Model Library Format archive"):
        read_mlf(bad)
    with pytest.raises(UtvmError, match="not found"):
        read_mlf(tmp_path / "missing.tar")
