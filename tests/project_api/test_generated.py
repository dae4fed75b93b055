"""Regenerating a project in place (utvm.project_api.generated through ProjectServer.generate_project):
only changed files are written, stale generated files are deleted, nothing else is touched."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from utvm.project_api import ProjectError, ProjectOption
from utvm.project_api.generated import MANIFEST, generated_for, read_manifest, write_if_changed

from .demo_server import DemoServer

OLD_NS = 1_000_000_000 * 10**9  # a modification time long past: any write shows


class FilesServer(DemoServer):
    """Writes the files its option names (``@DIR@`` in a text: the folder it was given), a link to
    the first one, and answers that file's path; ``@FAIL@`` as a text fails after writing."""

    platform_name = "files"
    options = [ProjectOption("files", "str", required_for=["generate_project"], help="JSON: path -> text")]

    def generate_project(self, model_library_format_path, project_dir, board, options):
        files = json.loads(options["files"])
        for rel, text in files.items():
            if text == "@FAIL@":
                raise ProjectError("asked to fail")
            path = project_dir / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text.replace("@DIR@", str(project_dir)))
        first = project_dir / next(iter(files))
        (project_dir / "link").symlink_to(first)
        return {"first": str(first)}


def generate(server, mlf, project, files, board="demo_m4"):
    line = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "generate_project", "params": {
        "model_library_format_path": str(mlf), "project_dir": str(project), "board": board,
        "options": {"files": json.dumps(files)}}})
    reply = json.loads(server.handle_line(line))
    if "error" in reply:
        raise ProjectError(reply["error"]["message"])
    return reply["result"]


def times(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.lstat().st_mtime_ns for p in root.rglob("*")}


def age(root: Path) -> None:
    for p in root.rglob("*"):
        os.utime(p, ns=(OLD_NS, OLD_NS), follow_symlinks=False)


def test_regenerating_writes_only_changed_files_and_deletes_stale_ones(tmp_path, mlf):
    server, project = FilesServer(), tmp_path / "p"
    first = generate(server, mlf, project, {"a.txt": "1", "sub/b.txt": "2", "gone/c.txt": "3"})
    assert first["written"] == ["a.txt", "gone/c.txt", "link", "sub/b.txt"] and first["removed"] == []
    assert read_manifest(project).files == ("a.txt", "gone/c.txt", "link", "sub/b.txt")
    assert generated_for(project, "files", "demo_m4") and not generated_for(project, "files", "demo_m0")
    # The user's files and a build folder: never the generator's business.
    (project / "user.txt").write_text("mine")
    (project / "gone" / "mine.txt").write_text("mine too")
    (project / "build").mkdir()
    (project / "build" / "out.o").write_bytes(b"\x7fELF")
    age(project)

    again = generate(server, mlf, project, {"a.txt": "1", "sub/b.txt": "2", "gone/c.txt": "3"})
    assert again["written"] == [] and again["removed"] == []
    assert set(times(project).values()) == {OLD_NS}  # nothing written, not even the manifest

    changed = generate(server, mlf, project, {"a.txt": "1", "sub/b.txt": "22", "d/e.txt": "4"})
    assert changed["written"] == ["d/e.txt", "sub/b.txt"] and changed["removed"] == ["gone/c.txt"]
    now = times(project)
    assert {p for p, t in now.items() if t != OLD_NS} == {"d", "d/e.txt", "sub", "sub/b.txt", "gone", MANIFEST}
    assert (project / "sub" / "b.txt").read_text() == "22" and not (project / "gone" / "c.txt").exists()
    assert (project / "user.txt").read_text() == "mine" and (project / "gone" / "mine.txt").is_file()
    assert (project / "build" / "out.o").is_file()

    generate(server, mlf, project, {"a.txt": "1"})
    assert not (project / "d").exists() and not (project / "sub").exists()  # emptied: removed
    assert (project / "gone").is_dir()  # it holds a user's file
    assert read_manifest(project).files == ("a.txt", "link")


def test_a_folder_of_another_board_or_platform_is_refused_and_kept(tmp_path, mlf):
    server, project = FilesServer(), tmp_path / "p"
    generate(server, mlf, project, {"a.txt": "1"})
    age(project)
    with pytest.raises(ProjectError, match="not empty"):
        generate(server, mlf, project, {"a.txt": "2"}, board="demo_m0")
    manifest = json.loads((project / MANIFEST).read_text())
    (project / MANIFEST).write_text(json.dumps({**manifest, "platform": "demo"}))
    age(project)
    with pytest.raises(ProjectError, match="not empty"):
        generate(server, mlf, project, {"a.txt": "2"})
    assert set(times(project).values()) == {OLD_NS} and (project / "a.txt").read_text() == "1"


def test_a_failed_generation_leaves_the_project_as_it_was(tmp_path, mlf):
    server, project = FilesServer(), tmp_path / "p"
    generate(server, mlf, project, {"a.txt": "1", "b.txt": "2"})
    age(project)
    before = times(project)
    with pytest.raises(ProjectError, match="asked to fail"):
        generate(server, mlf, project, {"a.txt": "changed", "b.txt": "@FAIL@"})
    assert times(project) == before and (project / "a.txt").read_text() == "1"
    with pytest.raises(ProjectError, match="asked to fail"):
        generate(server, mlf, tmp_path / "q", {"a.txt": "1", "b.txt": "@FAIL@"})
    assert not (tmp_path / "q").exists()


def test_the_staging_folder_path_becomes_the_project_path(tmp_path, mlf):
    server, project = FilesServer(), tmp_path / "p"
    result = generate(server, mlf, project, {"where.txt": "I am in @DIR@/where.txt"})
    assert (project / "where.txt").read_text() == f"I am in {project}/where.txt"
    assert os.readlink(project / "link") == str(project / "where.txt")
    assert result["first"] == str(project / "where.txt") and result["project_dir"] == str(project)


def test_a_full_memory_staging_folder_falls_back_to_the_temporary_folder(tmp_path, mlf, monkeypatch):
    import errno

    from utvm.project_api import generated

    memory = tmp_path / "shm"
    memory.mkdir()
    monkeypatch.setattr(generated, "SHM", str(memory))
    staged_in = []

    class Full(FilesServer):
        def generate_project(self, model_library_format_path, project_dir, board, options):
            staged_in.append(project_dir)
            if project_dir.is_relative_to(memory):
                raise OSError(errno.ENOSPC, "No space left on device")
            return super().generate_project(model_library_format_path, project_dir, board, options)

    result = generate(Full(), mlf, tmp_path / "p", {"a.txt": "1"})
    assert result["written"] == ["a.txt", "link"] and (tmp_path / "p" / "a.txt").read_text() == "1"
    assert len(staged_in) == 2 and not staged_in[1].is_relative_to(memory)
    assert list(memory.iterdir()) == []  # the staging folders are removed


def test_write_if_changed(tmp_path):
    path = tmp_path / "f.txt"
    assert write_if_changed(path, "one") is True
    os.utime(path, ns=(OLD_NS, OLD_NS))
    assert write_if_changed(path, "one") is False and path.stat().st_mtime_ns == OLD_NS
    assert write_if_changed(path, b"two") is True and path.read_text() == "two"
    target = tmp_path / "target.txt"
    target.write_text("theirs")
    link = tmp_path / "link.txt"
    link.symlink_to(target)
    assert write_if_changed(link, "mine") is True  # the link is replaced, not written through
    assert not link.is_symlink() and link.read_text() == "mine" and target.read_text() == "theirs"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary left
