"""Reading devicetrees: a configured build's ``zephyr/zephyr.dts`` and, for hints, board .dts files.

``zephyr.dts`` is the final, merged devicetree Zephyr writes into the build
folder (``build/zephyr/zephyr.dts``): plain DTS with no includes or macros,
labels kept (``sram0: memory@20010000 { reg = < 0x20010000 0x40000 >; };``),
``chosen`` entries as references (``zephyr,sram = &sram0;``). :func:`parse`
reads that form into :class:`Node` objects; :func:`reg_of` turns a node's
``reg`` into CPU addresses through its ancestors' ``#address-cells``,
``#size-cells`` and ``ranges``.

For a board that cannot be configured, :func:`cpu_compatible_hint` follows
the ``#include`` lines of the board's own .dts into ``dts/`` to find the CPU's
``compatible`` (``arm,cortex-m4f``): a hint, not a configured fact.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator


class DtsError(ValueError):
    pass


@dataclass
class Ref:
    """A reference in a property value: ``&label`` or ``&{/path}``."""

    target: str


@dataclass
class Node:
    name: str
    parent: "Node | None" = None
    labels: list[str] = field(default_factory=list)
    props: dict[str, list[Any]] = field(default_factory=dict)  # each value: list of items
    children: dict[str, "Node"] = field(default_factory=dict)

    @property
    def path(self) -> str:
        if self.parent is None:
            return "/"
        parent = self.parent.path
        return f"{parent.rstrip('/')}/{self.name}"

    def walk(self) -> Iterator["Node"]:
        yield self
        for c in self.children.values():
            yield from c.walk()

    def cells(self, prop: str) -> list[int] | None:
        """The property as a flat list of numbers (``< 0x1 0x2 >, < 0x3 >``), or None."""
        value = self.props.get(prop)
        if value is None:
            return None
        out: list[int] = []
        for item in value:
            if not isinstance(item, list) or not all(isinstance(x, int) for x in item):
                return None
            out += item
        return out

    def num(self, prop: str) -> int | None:
        cells = self.cells(prop)
        return cells[0] if cells and len(cells) == 1 else None

    def strings(self, prop: str) -> list[str]:
        return [x for x in self.props.get(prop, []) if isinstance(x, str)]

    def string(self, prop: str) -> str | None:
        s = self.strings(prop)
        return s[0] if s else None


_TOKEN = re.compile(
    r"""
    (?P<ws>\s+|/\*.*?\*/|//[^\n]*)
  | (?P<string>"(?:[^"\\]|\\.)*")
  | (?P<ref>&\{[^}]*\}|&[A-Za-z_][A-Za-z0-9_]*)
  | (?P<directive>/[a-z-]+/)
  | (?P<punct>[{};=<>,\[\]()])
  | (?P<word>[A-Za-z0-9_,.+\-#@?/:*&|^~!%]+)
    """,
    re.S | re.X,
)


def _tokens(text: str) -> list[tuple[str, str]]:
    out = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise DtsError(f"cannot read the devicetree at offset {pos}: {text[pos:pos + 40]!r}")
        pos = m.end()
        kind = m.lastgroup
        if kind == "ws":
            continue
        out.append((kind, m.group()))
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.toks = _tokens(text)
        self.i = 0
        self.root = Node("/")
        self.labels: dict[str, Node] = {}

    def peek(self, k: int = 0) -> tuple[str, str] | None:
        j = self.i + k
        return self.toks[j] if j < len(self.toks) else None

    def take(self, value: str | None = None) -> str:
        tok = self.peek()
        if tok is None:
            raise DtsError("unexpected end of devicetree")
        if value is not None and tok[1] != value:
            raise DtsError(f"expected {value!r}, found {tok[1]!r}")
        self.i += 1
        return tok[1]

    def parse(self) -> Node:
        while self.peek() is not None:
            kind, val = self.peek()
            if kind == "directive":
                while self.take() != ";":
                    pass
            elif val == "/":
                self.take()
                self.take("{")
                self._body(self.root)
            elif kind == "ref":
                self.take()
                target = self.resolve(val)
                self.take("{")
                if target is None:
                    self._body(Node("?"))
                else:
                    self._body(target)
            else:
                # labels before the root (`label: / {`) or stray tokens: skip to the next ';'
                while self.take() != ";":
                    pass
        return self.root

    def resolve(self, ref: str) -> Node | None:
        if ref.startswith("&{"):
            return find_path(self.root, ref[2:-1])
        return self.labels.get(ref[1:])

    def _body(self, node: Node) -> None:
        while True:
            tok = self.peek()
            if tok is None:
                raise DtsError(f"unterminated node {node.path}")
            if tok[1] == "}":
                self.take()
                self.take(";")
                return
            if tok[0] == "directive":  # /delete-node/ name; /delete-property/ name;
                d = self.take()
                arg = self.take()
                self.take(";")
                if d == "/delete-node/":
                    node.children.pop(arg, None)
                elif d == "/delete-property/":
                    node.props.pop(arg, None)
                continue
            labels = []
            while self.peek() and self.peek()[0] == "word" and self.peek()[1].endswith(":") and len(self.peek()[1]) > 1:
                labels.append(self.take()[:-1])
            name = self.take()
            nxt = self.take()
            if nxt == "{":
                child = node.children.get(name)
                if child is None:
                    child = Node(name, node)
                    node.children[name] = child
                for lab in labels:
                    if lab not in child.labels:
                        child.labels.append(lab)
                    self.labels[lab] = child
                self._body(child)
            elif nxt == ";":
                node.props[name] = []
            elif nxt == "=":
                node.props[name] = self._value()
            else:
                raise DtsError(f"unexpected {nxt!r} after {name!r} in {node.path}")

    def _value(self) -> list[Any]:
        items: list[Any] = []
        while True:
            kind, val = self.peek() or ("", "")
            if kind == "string":
                self.take()
                items.append(bytes(val[1:-1], "utf-8").decode("unicode_escape"))
            elif kind == "ref":
                self.take()
                items.append(Ref(val[1:]))
            elif val == "<":
                self.take()
                cells: list[Any] = []
                while (self.peek() or ("", ""))[1] != ">":
                    k, v = self.peek() or ("", "")
                    if k == "ref":
                        self.take()
                        cells.append(Ref(v[1:]))
                    elif v == "(":
                        cells.append(self._expr())
                    elif k == "word" and v.endswith(":"):
                        self.take()  # a label inside a value
                    else:
                        cells.append(_number(self.take()))
                self.take(">")
                items.append(cells)
            elif val == "[":
                self.take()
                data = []
                while (self.peek() or ("", ""))[1] != "]":
                    word = self.take()
                    data += [int(word[j:j + 2], 16) for j in range(0, len(word), 2)]
                self.take("]")
                items.append(bytes(data))
            elif kind == "directive":  # /bits/ 8 <...>
                self.take()
                self.take()
                continue
            else:
                raise DtsError(f"unexpected {val!r} in a property value")
            sep = self.take()
            if sep == ";":
                return items
            if sep != ",":
                raise DtsError(f"expected ',' or ';' after a value, found {sep!r}")

    def _expr(self) -> Any:
        depth, text = 0, []
        while True:
            v = self.take()
            text.append(v)
            depth += v.count("(") - v.count(")")
            if depth == 0:
                break
        expr = " ".join(text)
        if re.fullmatch(r"[\s()0-9a-fA-FxX+\-*/<>|&~^]+", expr):
            try:
                return int(eval(expr.replace("/", "//"), {"__builtins__": {}}))  # noqa: S307 - digits/operators only
            except Exception:  # noqa: BLE001
                return None
        return None


def _number(word: str) -> int | None:
    w = word.rstrip("ULul")
    try:
        return int(w, 0)
    except ValueError:
        if w.startswith("'") and w.endswith("'") and len(w) == 3:
            return ord(w[1])
        return None  # an unexpanded macro (source dts): unknown


def parse(text: str) -> tuple[Node, dict[str, Node]]:
    """The root node and the label table of a DTS text."""
    p = _Parser(text)
    root = p.parse()
    return root, p.labels


def find_path(root: Node, path: str) -> Node | None:
    node = root
    for part in [p for p in path.split("/") if p]:
        nxt = node.children.get(part)
        if nxt is None:  # a path may omit the unit address
            nxt = next((c for n, c in node.children.items() if n.split("@")[0] == part), None)
        if nxt is None:
            return None
        node = nxt
    return node


@dataclass
class Devicetree:
    root: Node
    labels: dict[str, Node]

    @classmethod
    def from_file(cls, path: Path) -> "Devicetree":
        root, labels = parse(Path(path).read_text(encoding="utf-8"))
        return cls(root, labels)

    def node(self, ref: "str | Ref") -> Node | None:
        target = ref.target if isinstance(ref, Ref) else ref
        if target.startswith("{"):
            return find_path(self.root, target[1:-1])
        if target.startswith("/"):
            return find_path(self.root, target)
        return self.labels.get(target)

    def chosen(self, prop: str) -> Node | None:
        chosen = self.root.children.get("chosen")
        if chosen is None or prop not in chosen.props:
            return None
        for item in chosen.props[prop]:
            if isinstance(item, (Ref, str)):
                return self.node(item)
        return None

    def chosen_names(self) -> list[str]:
        chosen = self.root.children.get("chosen")
        return sorted(chosen.props) if chosen else []


def _cells_of(node: Node | None, prop: str, default: int) -> int:
    if node is None:
        return default
    n = node.num(prop)
    return default if n is None else n


def _join(cells: list[int]) -> int:
    v = 0
    for c in cells:
        v = (v << 32) | c
    return v


def reg_of(node: Node) -> list[tuple[int, int]] | None:
    """``reg`` of ``node`` as (CPU address, size) pairs, translated through the parents' ``ranges``."""
    cells = node.cells("reg")
    parent = node.parent
    if cells is None or parent is None:
        return None
    ac = _cells_of(parent, "#address-cells", 2)
    sc = _cells_of(parent, "#size-cells", 1)
    if ac <= 0 or (len(cells) % (ac + sc)) != 0:
        return None
    out = []
    for k in range(0, len(cells), ac + sc):
        addr = _join(cells[k:k + ac])
        size = _join(cells[k + ac:k + ac + sc]) if sc else 0
        out.append((_translate(parent, addr), size))
    return out


def _translate(bus: Node, addr: int) -> int:
    """Address ``addr`` on ``bus`` as seen by the CPU (through each ancestor's ``ranges``)."""
    node = bus
    while node.parent is not None:
        if "ranges" not in node.props:
            return addr  # no ranges: not memory mapped beyond this bus; keep the local address
        ranges = node.cells("ranges") or []
        if ranges:
            child_ac = _cells_of(node, "#address-cells", 2)
            parent_ac = _cells_of(node.parent, "#address-cells", 2)
            sc = _cells_of(node, "#size-cells", 1)
            step = child_ac + parent_ac + sc
            for k in range(0, len(ranges) - step + 1, step):
                child = _join(ranges[k:k + child_ac])
                parent = _join(ranges[k + child_ac:k + child_ac + parent_ac])
                size = _join(ranges[k + child_ac + parent_ac:k + step])
                if child <= addr < child + size:
                    addr = addr - child + parent
                    break
        node = node.parent
    return addr


# ---- hints from the board's source .dts --------------------------------------------------------

_INCLUDE = re.compile(r'^\s*#\s*include\s*[<"]([^>"]+)[>"]', re.M)
_CPU_COMPAT = re.compile(r'compatible\s*=\s*"(arm,cortex-[a-z0-9+]+)"')


def cpu_compatible_hint(dts_file: Path, search: list[Path], depth: int = 8) -> tuple[str, Path] | None:
    """The first ``arm,cortex-*`` CPU compatible met following ``dts_file``'s includes (depth-first)."""
    seen: set[Path] = set()

    def visit(path: Path, level: int) -> tuple[str, Path] | None:
        if level > depth or path in seen or not path.is_file():
            return None
        seen.add(path)
        text = re.sub(r"/\*.*?\*/", "", path.read_text(encoding="utf-8", errors="replace"), flags=re.S)
        m = _CPU_COMPAT.search(text)
        if m:
            return m.group(1), path
        for inc in _INCLUDE.findall(text):
            if not inc.endswith((".dtsi", ".dts")):
                continue
            for base in [path.parent, *search]:
                found = visit((base / inc).resolve(), level + 1)
                if found:
                    return found
        return None

    return visit(dts_file.resolve(), 0)
