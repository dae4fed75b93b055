"""The device-side RPC runtime in C (CRC, framing) against its Python twin, and the glue."""

from __future__ import annotations

import random
import struct
import subprocess
from pathlib import Path

import pytest

import utvm
from utvm.demo import make_demo_model
from utvm.errors import UtvmError
from utvm.host import c_compiler
from utvm.rpc_framing import FrameDecoder, crc16, crc16_table, encode_frame, encoded_size_max
from utvm.project_files import model_files
from utvm.rpc_glue import DTYPE_CODES, POSIX_PLATFORM_SOURCE, RPC_SOURCES, model_glue_source

RUNTIME = Path(utvm.__file__).resolve().parent / "runtime"
STRICT = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic"]
PICKY = STRICT + ["-Wconversion", "-Wsign-conversion", "-Wshadow", "-Wcast-qual", "-Wstrict-prototypes"]

# A test driver for the C framing code: reads stdin, answers on stdout.
#   crc         records (u16 len, data) -> u16 CRC each
#   encode      records (u16 len, data) -> (u32 n, utvm_frame_encode bytes, u32 n, utvm_frame_write bytes) each
#   decode CAP  a raw byte stream fed byte by byte -> ('F', u16 len, payload) per frame, then 'S' + 6 x u32 stats
SELFTEST_C = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "utvm/rpc/crc16.h"
#include "utvm/rpc/framing.h"

static uint8_t in[1 << 20];
static uint8_t payload[65535];
static uint8_t out[2 * 65535 + 16];
static size_t out_used;

static void put32(uint32_t v) {
  uint8_t b[4];
  b[0] = (uint8_t)v; b[1] = (uint8_t)(v >> 8); b[2] = (uint8_t)(v >> 16); b[3] = (uint8_t)(v >> 24);
  fwrite(b, 1, 4, stdout);
}

static int32_t sink(void *ctx, const uint8_t *data, uint16_t len) {
  (void)ctx;
  if (len > 64u) return -7;
  memcpy(out + out_used, data, len);
  out_used += len;
  return len;
}

int main(int argc, char **argv) {
  size_t n = fread(in, 1, sizeof in, stdin);
  size_t pos = 0;
  if (argc < 2) return 2;
  if (strcmp(argv[1], "crc") == 0 || strcmp(argv[1], "encode") == 0) {
    while (pos + 2 <= n) {
      uint16_t len = (uint16_t)(in[pos] | (in[pos + 1] << 8));
      const uint8_t *data = in + pos + 2;
      pos += 2u + len;
      if (argv[1][0] == 'c') {
        uint16_t c = utvm_crc16(data, len);
        uint16_t c2 = UTVM_CRC16_INIT;
        size_t i;
        for (i = 0; i < len; i++) c2 = utvm_crc16_update(c2, data[i]);
        if (c != c2) return 3;
        fputc(c & 0xFF, stdout);
        fputc(c >> 8, stdout);
      } else {
        int32_t k = utvm_frame_encode(data, len, out, sizeof out);
        if (k < 0) return 4;
        if (len > 0 && utvm_frame_encode(data, len, out, (uint32_t)k - 1u) != -1) return 5;
        put32((uint32_t)k);
        fwrite(out, 1, (size_t)k, stdout);
        out_used = 0;
        if (utvm_frame_write(data, len, sink, NULL) != 0) return 6;
        put32((uint32_t)out_used);
        fwrite(out, 1, out_used, stdout);
      }
    }
  } else {
    utvm_frame_decoder dec;
    uint16_t cap = (uint16_t)atoi(argv[2]);
    utvm_frame_decoder_init(&dec, payload, cap);
    for (pos = 0; pos < n; pos++) {
      int8_t r = utvm_frame_decoder_feed(&dec, in[pos]);
      if (r == UTVM_FRAME_READY) {
        fputc('F', stdout);
        fputc(dec.length & 0xFF, stdout);
        fputc(dec.length >> 8, stdout);
        fwrite(dec.payload, 1, dec.length, stdout);
      }
    }
    fputc('S', stdout);
    put32(dec.stats.frames_ok); put32(dec.stats.bad_crc); put32(dec.stats.overlong);
    put32(dec.stats.bad_escape); put32(dec.stats.truncated); put32(dec.stats.junk_bytes);
  }
  return 0;
}
"""


def _compile(out: Path, sources: list, flags: list, extra_includes: tuple = ()) -> Path:
    argv = [c_compiler(), *flags, f"-I{RUNTIME / 'include'}", *(f"-I{i}" for i in extra_includes), "-o", str(out)]
    argv += [str(s) for s in sources]
    proc = subprocess.run(argv, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.fixture(scope="module")
def selftest(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("rpc_selftest")
    (d / "selftest.c").write_text(SELFTEST_C)
    sources = [d / "selftest.c", RUNTIME / "src/rpc/crc16.c", RUNTIME / "src/rpc/framing.c"]
    return _compile(d / "selftest", sources, STRICT + ["-O2"])


def _run(exe: Path, args: list, data: bytes) -> bytes:
    proc = subprocess.run([str(exe), *args], input=data, capture_output=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _records(blobs) -> bytes:
    return b"".join(struct.pack("<H", len(b)) + b for b in blobs)


def _random_payload(rng: random.Random, n: int) -> bytes:
    # Rich in the two special bytes, so escaping is exercised everywhere.
    return bytes(rng.choice((0x7E, 0x7D, 0x5E, 0x5D, rng.randrange(256))) for _ in range(n))


# ---- CRC ----


def test_crc_check_value_python_and_c(selftest):
    assert crc16(b"123456789") == crc16_table(b"123456789") == 0x29B1
    assert crc16(b"") == crc16_table(b"") == 0xFFFF
    assert _run(selftest, ["crc"], _records([b"123456789", b""])) == struct.pack("<HH", 0x29B1, 0xFFFF)


def test_crc_c_matches_python_on_random_data(selftest):
    rng = random.Random(1234)
    blobs = [bytes(rng.randrange(256) for _ in range(rng.randrange(0, 700))) for _ in range(300)]
    blobs += [bytes([b]) for b in range(256)]
    got = _run(selftest, ["crc"], _records(blobs))
    c_crcs = struct.unpack(f"<{len(blobs)}H", got)
    for blob, c in zip(blobs, c_crcs):
        assert c == crc16_table(blob) == crc16(blob)
    # A running CRC continues like one over the whole data.
    assert crc16(b"6789", crc16(b"12345")) == crc16_table(b"6789", crc16_table(b"12345")) == 0x29B1


# ---- encoding ----


def test_encoding_matches_the_documented_example():
    # framing.h: the payload 01 7E 02 is sent as 7E 03 00 01 7D 5E 02 FA C3.
    assert encode_frame(b"\x01\x7e\x02") == bytes.fromhex("7E 03 00 01 7D 5E 02 FA C3")
    assert encode_frame(b"") == b"\x7e\x00\x00" + struct.pack("<H", crc16(b"\x00\x00"))
    assert encode_frame(b"\x7e" * 10).count(0x7E) == 1  # only the start byte stays raw
    assert len(encode_frame(b"\x7d\x7e" * 50)) <= encoded_size_max(100)
    with pytest.raises(ValueError):
        encode_frame(bytes(65536))


def test_c_encoders_match_python(selftest):
    rng = random.Random(7)
    blobs = [b"", b"\x7e", b"\x7d", b"\x7e\x7d" * 40] + [_random_payload(rng, rng.randrange(0, 600)) for _ in range(80)]
    blobs.append(bytes([0x7E]) * 0x7E + bytes([0x7D]) * 0x7D)  # length bytes that need escaping
    got = _run(selftest, ["encode"], _records(blobs))
    pos = 0
    for blob in blobs:
        for _ in range(2):  # utvm_frame_encode, then utvm_frame_write
            (n,) = struct.unpack_from("<I", got, pos)
            assert got[pos + 4 : pos + 4 + n] == encode_frame(blob)
            pos += 4 + n
    assert pos == len(got)


# ---- decoding ----


def test_python_decoder_roundtrip_in_any_chunking():
    rng = random.Random(3)
    payloads = [_random_payload(rng, rng.randrange(0, 300)) for _ in range(60)]
    stream = b"".join(encode_frame(p) for p in payloads)
    for chunk in (1, 2, 7, 64, 1000, len(stream)):
        dec = FrameDecoder()
        got = []
        for i in range(0, len(stream), chunk):
            got += dec.feed(stream[i : i + chunk])
        assert got == payloads
        assert dec.stats.frames_ok == 60 and dec.stats.damaged == 0 and dec.pending == 0


def test_python_decoder_counts_and_resynchronizes():
    good = encode_frame(b"hello")
    dec = FrameDecoder(max_payload=16)
    assert dec.feed(b"junk" + good) == [b"hello"]
    assert dec.stats.junk_bytes == 4
    flipped = bytearray(good)
    flipped[4] ^= 0x01
    assert dec.feed(bytes(flipped) + good) == [b"hello"]
    assert dec.stats.bad_crc == 1
    assert dec.feed(good[:-3] + good) == [b"hello"]  # cut short by the next start byte
    assert dec.stats.truncated == 1
    assert dec.feed(encode_frame(bytes(17)) + good) == [b"hello"]
    assert dec.stats.overlong == 1
    assert dec.feed(b"\x7e\x05\x7d\x01" + good) == [b"hello"]
    assert dec.stats.bad_escape == 1
    assert dec.stats.frames_ok == 5
    # A frame missing its last byte waits; the next start byte abandons it.
    assert dec.feed(good[:-1]) == []
    assert dec.pending == len(good) - 1
    assert dec.feed(good) == [b"hello"]
    assert dec.stats.truncated == 2


def _mutate(rng: random.Random, stream: bytes) -> bytes:
    data = bytearray(stream)
    for _ in range(rng.randrange(1, 12)):
        if not data:
            break
        i = rng.randrange(len(data))
        kind = rng.randrange(6)
        if kind == 0:
            data[i] ^= 1 << rng.randrange(8)
        elif kind == 1:
            del data[i]
        elif kind == 2:
            data[i:i] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 5)))
        elif kind == 3:
            data[i] = rng.choice((0x7E, 0x7D))
        elif kind == 4:
            j = min(len(data), i + rng.randrange(1, 40))
            data[i:i] = data[i:j]
        else:
            data[i : i + 1] = b"\x7d" + bytes([rng.randrange(256)])
    return bytes(data)


def test_c_decoder_matches_python_on_damaged_streams(selftest):
    """Valid frames, overlong ones, and random damage: both decoders agree on every frame and count."""
    rng = random.Random(99)
    capacity = 200
    for trial in range(60):
        sizes = [rng.choice((0, 1, 8, 50, 199, 200, 201, 260)) for _ in range(rng.randrange(1, 12))]
        payloads = [_random_payload(rng, n) for n in sizes]
        stream = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 5)))
        stream += b"".join(encode_frame(p) for p in payloads)
        if trial % 4:
            stream = _mutate(rng, stream)
        raw = _run(selftest, ["decode", str(capacity)], stream)
        c_frames, pos = [], 0
        while raw[pos : pos + 1] == b"F":
            (n,) = struct.unpack_from("<H", raw, pos + 1)
            c_frames.append(raw[pos + 3 : pos + 3 + n])
            pos += 3 + n
        assert raw[pos : pos + 1] == b"S"
        c_stats = struct.unpack_from("<6I", raw, pos + 1)
        dec = FrameDecoder(max_payload=capacity)
        py_frames = []
        cut = 0
        while cut < len(stream):  # random chunking on the Python side
            step = rng.randrange(1, 300)
            py_frames += dec.feed(stream[cut : cut + step])
            cut += step
        s = dec.stats
        assert py_frames == c_frames, f"trial {trial}"
        py_stats = (s.frames_ok, s.bad_crc, s.overlong, s.bad_escape, s.truncated, s.junk_bytes)
        assert py_stats == c_stats, f"trial {trial}"
        if trial % 4 == 0:  # undamaged: exactly the frames that fit
            assert c_frames == [p for p in payloads if len(p) <= capacity]


# ---- strict C ----


@pytest.mark.parametrize("max_payload", [None, 64])
def test_rpc_sources_are_strict_c99(tmp_path, max_payload):
    defines = [] if max_payload is None else [f"-DUTVM_RPC_MAX_PAYLOAD={max_payload}"]
    sources = [RUNTIME / "src" / s for s in RPC_SOURCES]
    for src in sources:
        _compile(tmp_path / (src.stem + ".o"), [src], PICKY + defines + ["-c"])
    plat = RUNTIME / "src" / POSIX_PLATFORM_SOURCE
    _compile(tmp_path / "posix.o", [plat], STRICT + defines + ["-c"])


def test_too_small_max_payload_is_refused(tmp_path):
    argv = [c_compiler(), *STRICT, f"-I{RUNTIME / 'include'}", "-DUTVM_RPC_MAX_PAYLOAD=32", "-c",
            str(RUNTIME / "src/rpc/server.c"), "-o", str(tmp_path / "s.o")]
    proc = subprocess.run(argv, capture_output=True, text=True)
    assert proc.returncode != 0 and "UTVM_RPC_MAX_PAYLOAD" in proc.stderr


# ---- glue ----


def test_glue_for_the_demo_model_builds_strictly(tmp_path):
    compiled = utvm.compile(make_demo_model(), name="sine")
    files, sources, includes = model_files(compiled, "host_driven")
    sources = sources + ["runtime/src/" + POSIX_PLATFORM_SOURCE]
    glue = files["src/utvm_glue.c"]
    assert "sine_run(&inputs, &outputs)" in glue and "const utvm_model_descriptor utvm_model" in glue
    assert "UTVM_ALIGNED(16)" in glue and '"sine"' in glue
    for path, text in files.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    _compile(tmp_path / "glue.o", [tmp_path / "src/utvm_glue.c"], STRICT + ["-c"],
             tuple(str(tmp_path / i) for i in includes))
    assert any(s.endswith("posix_stdio.c") for s in sources)


def test_glue_sizes_buffers_by_dtype_and_checks_metadata(tmp_path):
    md = {
        "model": "multi",
        "inputs": [
            {"c_name": "a", "dtype": "float32", "bytes": 40},
            {"c_name": "b", "dtype": "int16", "bytes": 6},
        ],
        "outputs": [
            {"c_name": "c", "dtype": "int8", "bytes": 3},
            {"c_name": "d", "dtype": "int32", "bytes": 0},
        ],
    }
    glue = model_glue_source(md)
    assert "static float utvm_glue_in0[10]" in glue
    assert "static int16_t utvm_glue_in1[3]" in glue
    assert "static int32_t utvm_glue_out1[1]" in glue  # never a zero-length array
    assert "{utvm_glue_in0, 40UL, UTVM_DTYPE_FLOAT32}" in glue
    header = """#include <stdint.h>
struct multi_inputs { const float *a; const int16_t *b; };
struct multi_outputs { int8_t *c; int32_t *d; };
int32_t multi_run(const struct multi_inputs *inputs, struct multi_outputs *outputs);
"""
    (tmp_path / "multi.h").write_text(header)
    (tmp_path / "glue.c").write_text(glue)
    _compile(tmp_path / "glue.o", [tmp_path / "glue.c"], PICKY + ["-c"], (str(tmp_path),))
    assert DTYPE_CODES["int8"] == 9 and DTYPE_CODES["float32"] == 0  # TFLite TensorType numbers

    for bad, words in (
        ({**md, "model": "no-good"}, "C identifier"),
        ({**md, "inputs": [{"c_name": "a", "dtype": "complex64", "bytes": 8}]}, "complex64"),
        ({**md, "inputs": [{"c_name": "a", "dtype": "int32", "bytes": 6}]}, "whole number"),
        ({**md, "outputs": [{"c_name": "x y", "dtype": "int8", "bytes": 1}]}, "c_name"),
    ):
        with pytest.raises(UtvmError, match=words):
            model_glue_source(bad)
