"""A small, fast reader for the JSON5 that Mbed CE writes (targets.json5, cmsis_mcu_descriptions.json5).

Mbed CE's own tools read these files with the ``pyjson5``/``json5`` packages. utvm does not
depend on either: pure-Python ``json5`` takes seconds on the 400 KB MCU descriptions (every
``boards`` call would pay that), and the subset Mbed uses is small. This module translates
JSON5 text into JSON in one regular-expression pass and hands it to :func:`json.loads`, which
does the rest at C speed.

Supported (all of JSON5's syntax): ``//`` and ``/* */`` comments; trailing commas in objects
and arrays; unquoted (identifier) keys; single-quoted strings; JSON5 string escapes (``\\'``,
``\\x41``, ``\\0``, line continuations, an escaped ordinary character being that character);
hexadecimal numbers; a leading ``+``; numbers with a leading or trailing decimal point;
``Infinity`` and ``NaN`` (signed or not). Errors name the line and column.
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["JSON5Error", "loads"]


class JSON5Error(ValueError):
    """The text is not JSON5; the message gives the line and column."""


# One token per match, tried in this order. Whitespace includes JSON5's extra characters.
_TOKEN = re.compile(
    r"""
    (?P<ws>[ \t\r\n\f\v\u00a0\u2028\u2029\ufeff]+)
  | (?P<line_comment>//[^\n\r\u2028\u2029]*)
  | (?P<block_comment>/\*.*?\*/)
  | (?P<punct>[{}\[\]:])
  | (?P<comma>,)
  | (?P<dstring>"(?:[^"\\\n\r]|\\(?:\r\n|[\s\S]))*")
  | (?P<sstring>'(?:[^'\\\n\r]|\\(?:\r\n|[\s\S]))*')
  | (?P<hex>[+-]?0[xX][0-9a-fA-F]+)
  | (?P<number>[+-]?(?:(?:0|[1-9][0-9]*)(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)
  | (?P<special>[+-]?(?:Infinity|NaN))
  | (?P<ident>[A-Za-z_$][A-Za-z0-9_$]*)
    """,
    re.VERBOSE | re.DOTALL,
)

_JSON5_ONLY_ESCAPE = re.compile(r'\\[^"\\/bfnrtu]')
_SKIP = re.compile(r"(?:[ \t\r\n\f\v\u00a0\u2028\u2029\ufeff]+|//[^\n\r\u2028\u2029]*|/\*.*?\*/)*", re.DOTALL)

_SIMPLE_ESCAPES = {
    "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "0": "\0",
    "'": "'", '"': '"', "\\": "\\", "/": "/",
}
_ESCAPE = re.compile(r"\\(?:u([0-9a-fA-F]{4})|x([0-9a-fA-F]{2})|(\r\n|[\n\r\u2028\u2029])|([\s\S]))")


def _position(text: str, pos: int) -> str:
    line = text.count("\n", 0, pos) + 1
    col = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return f"line {line}, column {col}"


def _string_value(raw: str, text: str, pos: int) -> str:
    body = raw[1:-1]

    def unescape(m: re.Match) -> str:
        if m.group(1):
            return chr(int(m.group(1), 16))
        if m.group(2):
            return chr(int(m.group(2), 16))
        if m.group(3):
            return ""  # line continuation
        ch = m.group(4)
        if ch.isdigit() and ch != "0":
            raise JSON5Error(f"invalid escape '\\{ch}' in a string at {_position(text, pos)}")
        return _SIMPLE_ESCAPES.get(ch, ch)

    return _ESCAPE.sub(unescape, body)


def _number_text(raw: str) -> str:
    """A JSON number (or Infinity/NaN, which json.loads accepts) for a JSON5 number token."""
    sign = ""
    if raw[0] in "+-":
        sign, raw = ("-" if raw[0] == "-" else ""), raw[1:]
    if raw[:2] in ("0x", "0X"):
        return sign + str(int(raw, 16))
    if raw in ("Infinity", "NaN"):
        return "NaN" if raw == "NaN" else sign + "Infinity"
    mantissa, _, exponent = raw.replace("E", "e").partition("e")
    if mantissa.startswith("."):
        mantissa = "0" + mantissa
    if mantissa.endswith("."):
        mantissa += "0"
    return sign + mantissa + ("e" + exponent if exponent else "")


def to_json(text: str) -> str:
    """The JSON text equivalent to the JSON5 ``text`` (raises JSON5Error on bad syntax)."""
    out: list[str] = []
    append = out.append
    pending_comma = False
    pos = 0
    n = len(text)
    match = _TOKEN.match
    while pos < n:
        m = match(text, pos)
        if m is None:
            snippet = text[pos:pos + 20].split("\n", 1)[0]
            raise JSON5Error(f"unexpected {snippet!r} at {_position(text, pos)}")
        kind = m.lastgroup
        tok = m.group()
        start = pos
        pos = m.end()
        if kind == "ws" or kind == "line_comment":
            append("\n" * tok.count("\n") or " ")
            continue
        if kind == "block_comment":
            append("\n" * tok.count("\n") or " ")
            continue
        if kind == "comma":
            if pending_comma:
                raise JSON5Error(f"two commas in a row at {_position(text, start)}")
            pending_comma = True
            continue
        if pending_comma:
            if not (kind == "punct" and tok in "]}"):
                append(",")
            pending_comma = False
        if kind == "punct":
            append(tok)
        elif kind == "dstring":
            # Most strings are plain JSON already; only translate when JSON5 escapes appear.
            if "\\" in tok and _JSON5_ONLY_ESCAPE.search(tok):
                append(json.dumps(_string_value(tok, text, start)))
            else:
                append(tok)
        elif kind == "sstring":
            append(json.dumps(_string_value(tok, text, start)))
        elif kind in ("hex", "number", "special"):
            append(_number_text(tok))
        else:  # identifier: a key when a ':' follows, else a literal
            after = _SKIP.match(text, pos).end()
            if after < n and text[after] == ":":
                append(json.dumps(tok))
            elif tok in ("true", "false", "null"):
                append(tok)
            else:
                raise JSON5Error(f"unexpected word {tok!r} at {_position(text, start)}")
    if pending_comma:
        append(",")  # let json.loads report the dangling comma
    return "".join(out)


def loads(text: str | bytes) -> Any:
    """Parse JSON5 ``text`` into Python values (objects become dicts, in file order)."""
    if isinstance(text, bytes):
        text = text.decode("utf-8-sig")
    elif text.startswith("\ufeff"):
        text = text[1:]
    converted = to_json(text)
    try:
        return json.loads(converted, strict=False)
    except json.JSONDecodeError as exc:
        raise JSON5Error(f"{exc.msg} at line {exc.lineno}, column {exc.colno}") from None
