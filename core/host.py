"""Run a compiled model on the development machine.

:func:`run` builds the generated C with the system C compiler, together with a
small harness that reads the inputs from a file, calls ``NAME_run`` and writes
the outputs, then runs it. Builds are cached by a hash of everything that goes
into them (``UTVM_CACHE_DIR``, else ``$XDG_CACHE_HOME/utvm``, else ``~/.cache/utvm``).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence, Union

import numpy as np

from .compiler import CompiledModel
from .errors import BuildError, UtvmError

CFLAGS = ["-std=c99", "-O2", "-Wall", "-Wextra", "-Werror"]
RUN_TIMEOUT_S = 120.0

Compiled = Union[CompiledModel, str, os.PathLike]


def cache_dir() -> Path:
    if os.environ.get("UTVM_CACHE_DIR"):
        return Path(os.environ["UTVM_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "utvm"


def c_compiler() -> str:
    cc = os.environ.get("CC", "cc")
    if shutil.which(cc) is None:
        raise BuildError(f"no C compiler: '{cc}' is not on PATH; install gcc (apt-get install gcc) or set CC")
    return cc


def _as_compiled(model: Compiled) -> CompiledModel:
    if isinstance(model, CompiledModel):
        return model
    from .mlf import read_mlf

    return read_mlf(model)


def harness_source(model: CompiledModel) -> str:
    """A C main() that reads inputs from argv[1], runs argv[3] times, writes outputs to argv[2].

    It prints the mean nanoseconds per run on stdout.
    """
    name = model.name
    md = model.metadata
    from .ir import C_TYPES

    decl = []
    for k, e in enumerate(md["inputs"]):
        decl.append(f"static {C_TYPES[e['dtype']]} in{k}[{max(1, e['bytes'] // np.dtype(e['dtype']).itemsize)}];")
    for k, e in enumerate(md["outputs"]):
        decl.append(f"static {C_TYPES[e['dtype']]} out{k}[{max(1, e['bytes'] // np.dtype(e['dtype']).itemsize)}];")
    reads = "\n".join(
        f"  if (fread(in{k}, 1, {e['bytes']}, f) != {e['bytes']}) {{ fclose(f); return 4; }}"
        for k, e in enumerate(md["inputs"])
    )
    writes = "\n".join(
        f"  if (fwrite(out{k}, 1, {e['bytes']}, f) != {e['bytes']}) {{ fclose(f); return 5; }}"
        for k, e in enumerate(md["outputs"])
    )
    in_init = ", ".join(f".{e['c_name']} = in{k}" for k, e in enumerate(md["inputs"]))
    out_init = ", ".join(f".{e['c_name']} = out{k}" for k, e in enumerate(md["outputs"]))
    return f"""#define _POSIX_C_SOURCE 199309L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "{name}.h"

{chr(10).join(decl)}

int main(int argc, char **argv) {{
  struct {name}_inputs inputs = {{{in_init}}};
  struct {name}_outputs outputs = {{{out_init}}};
  struct timespec t0, t1;
  long iterations = argc > 3 ? atol(argv[3]) : 1;
  long i;
  double ns;
  FILE *f;
  if (argc < 3 || iterations < 1) {{
    fprintf(stderr, "usage: %s INPUTS.bin OUTPUTS.bin [ITERATIONS]\\n", argv[0]);
    return 2;
  }}
  f = fopen(argv[1], "rb");
  if (f == NULL) return 4;
{reads}
  fclose(f);
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (i = 0; i < iterations; i++) {{
    if ({name}_run(&inputs, &outputs) != 0) return 3;
  }}
  clock_gettime(CLOCK_MONOTONIC, &t1);
  f = fopen(argv[2], "wb");
  if (f == NULL) return 5;
{writes}
  fclose(f);
  ns = ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) / (double)iterations;
  printf("%.0f\\n", ns);
  return 0;
}}
"""


@dataclass
class HostBuild:
    """A built host runner for one compiled model."""

    model: CompiledModel
    executable: Path

    def run(self, inputs: Sequence[np.ndarray], iterations: int = 1) -> tuple[list[np.ndarray], float]:
        """Run the model; returns the outputs and the mean nanoseconds per inference."""
        md = self.model.metadata
        if len(inputs) != len(md["inputs"]):
            raise UtvmError(f"model '{self.model.name}' takes {len(md['inputs'])} input(s), got {len(inputs)}")
        blobs = [_check_input(x, e, k) for k, (x, e) in enumerate(zip(inputs, md["inputs"]))]
        with tempfile.TemporaryDirectory(prefix="utvm-run-") as tmp:
            in_path, out_path = Path(tmp) / "in.bin", Path(tmp) / "out.bin"
            in_path.write_bytes(b"".join(blobs))
            try:
                proc = subprocess.run(
                    [str(self.executable), str(in_path), str(out_path), str(iterations)],
                    capture_output=True,
                    text=True,
                    timeout=RUN_TIMEOUT_S,
                )
            except subprocess.TimeoutExpired:
                raise BuildError(f"model '{self.model.name}' did not finish within {RUN_TIMEOUT_S:.0f} s") from None
            if proc.returncode != 0:
                raise BuildError(
                    f"model '{self.model.name}' runner failed with exit code {proc.returncode}: {proc.stderr[-2000:]}"
                )
            raw = out_path.read_bytes()
        outputs, pos = [], 0
        for e in md["outputs"]:
            n = e["bytes"]
            outputs.append(np.frombuffer(raw[pos : pos + n], dtype=e["dtype"]).reshape(e["shape"]).copy())
            pos += n
        return outputs, float(proc.stdout.strip() or 0)


def _check_input(x: np.ndarray, entry: dict, k: int) -> bytes:
    arr = np.asarray(x)
    want = np.dtype(entry["dtype"])
    if arr.size != int(np.prod(entry["shape"], dtype=np.int64)):
        raise UtvmError(
            f"input {k} '{entry['name']}' needs shape {entry['shape']} ({entry['dtype']}), got shape {list(arr.shape)}"
        )
    if arr.dtype != want:
        if arr.dtype.kind != want.kind and not (arr.dtype.kind in "iu" and want.kind in "iu"):
            raise UtvmError(f"input {k} '{entry['name']}' needs {entry['dtype']} data, got {arr.dtype}")
        if want.kind in "iu":
            info = np.iinfo(want)
            if arr.size and (arr.min() < info.min or arr.max() > info.max):
                raise UtvmError(f"input {k} '{entry['name']}' has values outside the range of {entry['dtype']}")
        arr = arr.astype(want)
    return np.ascontiguousarray(arr).tobytes()


def build(model: Compiled) -> HostBuild:
    """Build (or reuse from the cache) the host runner of ``model``."""
    from .mlf import runtime_files

    compiled = _as_compiled(model)
    files = runtime_files()
    files.update(compiled.files)
    files["host_main.c"] = harness_source(compiled)
    sources = [compiled.source_path, "host_main.c"] + [
        "runtime/src/" + s for s in compiled.metadata.get("runtime_sources", [])
    ]
    for s in sources:
        if s not in files:
            raise BuildError(f"model '{compiled.name}' needs {s}, which is missing")
    cc = c_compiler()
    include_dirs = ["runtime/include", str(Path(compiled.header_path).parent)]
    argv = [cc, *CFLAGS, *(f"-I{d}" for d in include_dirs), "-o", "runner", *sources]

    digest = hashlib.sha256()
    digest.update("\0".join(argv).encode())
    for path in sorted(files):
        digest.update(path.encode() + b"\0" + files[path].encode() + b"\0")
    final = cache_dir() / "host" / digest.hexdigest()[:24]
    exe = final / "runner"
    if exe.exists():
        return HostBuild(compiled, exe)

    final.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".build-", dir=final.parent))
    try:
        for path, text in files.items():
            dest = work / path
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_text(text)
        proc = subprocess.run(argv, cwd=work, capture_output=True, text=True)
        if proc.returncode != 0:
            raise BuildError(f"building model '{compiled.name}' with {cc} failed:\n{proc.stderr[-4000:]}")
        try:
            os.rename(work, final)
        except OSError:
            if not exe.exists():  # another process won the race only if its runner is there
                raise
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)
    return HostBuild(compiled, exe)


def run(model: Compiled, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Build ``model`` (a CompiledModel or an MLF .tar path) for the host and run it once.

    Returns the outputs as numpy arrays with the model's output shapes.
    """
    outputs, _ = build(model).run(inputs)
    return outputs
