"""Project API benchmark over the host plugin.

Prints: project server start time (spawn to first answer), JSON-RPC round-trip
latency of a no-op call, a device ping through the server's transport, and the
transport throughput of set_input/get_input with a large model input (vww,
27,648 bytes; the demo model's input when the shared models are absent).
Medians over repeated runs; shared machines are noisy, so compare rows of one run.

    python3 bench/project_api.py [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import utvm
from utvm.demo import make_demo_model
from utvm.project import ProjectTransport, create_project
from utvm.project_api import connect, get_platform
from utvm.session import Session

MODELS_DIR = Path(__file__).resolve().parent.parent.parent / "shared" / "models"
BIG_MODEL = MODELS_DIR / "vww_96_int8.tflite"


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    argv = get_platform("host").server_argv
    rows: dict[str, tuple[float, str]] = {}

    starts = []
    for _ in range(10):
        t0 = time.perf_counter()
        client = connect(argv)
        starts.append(time.perf_counter() - t0)
        client.close()
    rows["server start (spawn to first answer)"] = (median_ms(starts), "ms")

    model = BIG_MODEL.read_bytes() if BIG_MODEL.is_file() else make_demo_model()
    with tempfile.TemporaryDirectory() as tmp:
        mlf = utvm.compile(model, name="bench").export(Path(tmp) / "bench.tar")
        project = create_project(Path(tmp) / "p", mlf, "host", "native", {})
        with project.connect() as client:
            rtts = []
            for _ in range(200):
                t0 = time.perf_counter()
                client.boards()
                rtts.append(time.perf_counter() - t0)
            rows["JSON-RPC round trip (boards)"] = (median_ms(rtts), "ms")
            client.build(project.path, {})
            client.open_transport(project.path, {})
            with Session(ProjectTransport(client), timeout_s=20) as session:
                info = session.start()
                pings = []
                for _ in range(200):
                    t0 = time.perf_counter()
                    session.ping(b"x" * 16)
                    pings.append(time.perf_counter() - t0)
                rows["device ping through the transport"] = (median_ms(pings), "ms")
                nbytes = info.inputs[0].bytes
                data = np.random.default_rng(0).integers(-128, 128, nbytes).astype(np.int8)
                ups, downs = [], []
                for _ in range(5):
                    t0 = time.perf_counter()
                    session.set_input(0, data)
                    ups.append(time.perf_counter() - t0)
                    t0 = time.perf_counter()
                    session.get_input(0)
                    downs.append(time.perf_counter() - t0)
                rows[f"host to device, {nbytes} B input"] = (nbytes / statistics.median(ups) / 1e6, "MB/s")
                rows[f"device to host, {nbytes} B input"] = (nbytes / statistics.median(downs) / 1e6, "MB/s")
                rows["max frame payload"] = (float(info.max_payload), "B")
    if args.json:
        print(json.dumps({k: {"value": v, "unit": u} for k, (v, u) in rows.items()}, indent=2))
        return 0
    width = max(len(k) for k in rows)
    print(f"{'measure':<{width}}  {'value':>10}  unit")
    print("-" * (width + 18))
    for k, (v, u) in rows.items():
        print(f"{k:<{width}}  {v:>10.3f}  {u}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
