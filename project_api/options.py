"""Typed project options, declared per method.

A platform declares its options once, as a list of :class:`ProjectOption`; each names the
methods that require it and the methods that accept it. The server validates every call's
``options`` against that list (:func:`validate_options`), ``server_info_query`` publishes it
(:meth:`ProjectOption.to_json`), and the CLI turns ``key=value`` strings into typed values
with :func:`parse_cli_options`.

Types (``ProjectOption.type``) and what a value must be on the wire:

==========  ===================================  ==========================================
type        JSON value                           from a string (CLI)
==========  ===================================  ==========================================
``bool``    true / false                         true/false, 1/0, yes/no, on/off (any case)
``int``     an integer (not a boolean)           decimal, or 0x / 0o / 0b prefixed
``float``   a number (not a boolean)             anything ``float()`` reads
``str``     a string                             the string
``path``    a string (the server gets a Path)    the string, ``~`` expanded, made absolute
``choice``  a string among ``choices``           the string
==========  ===================================  ==========================================
"""

from __future__ import annotations

import math
import os
import pathlib
import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

from .errors import InvalidOption, MissingOption, UnsupportedOption
from .protocol import OPTION_METHODS

OPTION_TYPES = ("bool", "int", "float", "str", "path", "choice")

_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]*$")
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


@dataclass(frozen=True)
class ProjectOption:
    """One option of a platform.

    - ``name``: letters, digits, ``_ . -``, starting with a letter;
    - ``type``: one of :data:`OPTION_TYPES`;
    - ``required_for``: the methods that fail without it;
    - ``optional_for``: the methods that accept it (using ``default`` when it is absent);
    - ``default``: the value an optional method gets when the option is absent (of ``type``,
      or None);
    - ``choices``: the allowed values (required for ``choice``; allowed for the other types);
    - ``help``: one line for ``--help`` listings and error messages.

    An option must apply to at least one method and cannot be both required and optional for
    the same one. Construction raises ValueError for a malformed declaration: that is a bug in
    the plugin, not a user error.
    """

    name: str
    type: str
    required_for: Sequence[str] = ()
    optional_for: Sequence[str] = ()
    default: Any = None
    choices: Sequence[Any] | None = None
    help: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME_RE.match(self.name):
            raise ValueError(f"option name {self.name!r} must be letters, digits, '_', '.' or '-', starting with a letter")
        if self.type not in OPTION_TYPES:
            raise ValueError(f"option {self.name!r}: type {self.type!r} is not one of {', '.join(OPTION_TYPES)}")
        for attr in ("required_for", "optional_for"):
            value = getattr(self, attr)
            if isinstance(value, str):
                raise ValueError(f"option {self.name!r}: {attr} must be a list of method names, not a string")
            object.__setattr__(self, attr, tuple(value))
            for method in getattr(self, attr):
                if method not in OPTION_METHODS:
                    raise ValueError(
                        f"option {self.name!r}: {attr} names {method!r}, which takes no options; "
                        f"methods with options: {', '.join(OPTION_METHODS)}"
                    )
        both = set(self.required_for) & set(self.optional_for)
        if both:
            raise ValueError(f"option {self.name!r} is both required and optional for {', '.join(sorted(both))}")
        if not self.required_for and not self.optional_for:
            raise ValueError(f"option {self.name!r} applies to no method (give required_for or optional_for)")
        if self.choices is not None:
            if isinstance(self.choices, str) or not len(self.choices):
                raise ValueError(f"option {self.name!r}: choices must be a non-empty list")
            object.__setattr__(self, "choices", tuple(self.choices))
            for choice in self.choices:
                ok, _ = _check_type(self.type, choice)
                if not ok:
                    raise ValueError(f"option {self.name!r}: choice {choice!r} is not a {self.type}")
        elif self.type == "choice":
            raise ValueError(f"option {self.name!r} has type 'choice' but no choices")
        if self.default is not None:
            try:
                object.__setattr__(self, "default", self.check(self.default))
            except InvalidOption as exc:
                raise ValueError(f"option {self.name!r}: bad default: {exc}") from None

    # -- per-method view --------------------------------------------------------------------

    def applies_to(self, method: str) -> bool:
        return method in self.required_for or method in self.optional_for

    def is_required_for(self, method: str) -> bool:
        return method in self.required_for

    def describe(self) -> str:
        """``name (type[, one of a|b])``: how error messages list a valid option."""
        text = f"{self.name} ({self.type}"
        if self.choices:
            text += ", one of " + "|".join(str(c) for c in self.choices)
        return text + ")"

    # -- values -----------------------------------------------------------------------------

    def check(self, value: Any, method: str | None = None) -> Any:
        """``value`` (a JSON value) checked against the type and choices; paths become Path.

        Raises :class:`InvalidOption` naming the option, the expected type and the value.
        """
        ok, converted = _check_type(self.type, value)
        if not ok:
            raise InvalidOption(
                f"option {self.name!r} must be {_TYPE_WORDS[self.type]}, got {_show(value)}" + _for(method),
                option=self.name,
                method=method,
                expected=self.type,
            )
        if self.choices is not None and converted not in self.choices:
            raise InvalidOption(
                f"option {self.name!r} must be one of {', '.join(str(c) for c in self.choices)}; got {_show(value)}" + _for(method),
                option=self.name,
                method=method,
                choices=list(self.choices),
            )
        if self.type == "path":
            return pathlib.Path(converted)
        return converted

    def parse(self, text: str) -> Any:
        """The typed value of a command-line string (see the module docstring), checked."""
        value: Any = text
        t = self.type
        if t == "bool":
            low = text.strip().lower()
            if low in _TRUE:
                value = True
            elif low in _FALSE:
                value = False
            else:
                raise InvalidOption(
                    f"option {self.name!r} must be a boolean (true/false, 1/0, yes/no, on/off), got {text!r}",
                    option=self.name,
                    expected=t,
                )
        elif t == "int":
            try:
                value = int(text.strip(), 10)
            except ValueError:
                try:
                    value = int(text.strip(), 0)
                except ValueError:
                    raise InvalidOption(
                        f"option {self.name!r} must be an integer, got {text!r}", option=self.name, expected=t
                    ) from None
        elif t == "float":
            try:
                value = float(text.strip())
            except ValueError:
                raise InvalidOption(f"option {self.name!r} must be a number, got {text!r}", option=self.name, expected=t) from None
        elif t == "path":
            value = os.path.abspath(os.path.expanduser(text))
        checked = self.check(value)
        return os.fspath(checked) if t == "path" else checked

    # -- JSON -------------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """The declaration as ``server_info_query`` publishes it."""
        default = os.fspath(self.default) if isinstance(self.default, pathlib.PurePath) else self.default
        return {
            "name": self.name,
            "type": self.type,
            "required_for": list(self.required_for),
            "optional_for": list(self.optional_for),
            "default": default,
            "choices": list(self.choices) if self.choices is not None else None,
            "help": self.help,
        }

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> "ProjectOption":
        """A declaration received from ``server_info_query``; ValueError if malformed."""
        if not isinstance(obj, Mapping) or "name" not in obj or "type" not in obj:
            raise ValueError(f"malformed option declaration: {obj!r}")
        return cls(
            name=obj["name"],
            type=obj["type"],
            required_for=obj.get("required_for") or (),
            optional_for=obj.get("optional_for") or (),
            default=obj.get("default"),
            choices=obj.get("choices"),
            help=obj.get("help") or "",
        )


_TYPE_WORDS = {
    "bool": "a boolean",
    "int": "an integer",
    "float": "a number",
    "str": "a string",
    "path": "a path (string)",
    "choice": "a string",
}


def _check_type(type_: str, value: Any) -> tuple[bool, Any]:
    if type_ == "bool":
        return isinstance(value, bool), value
    if type_ == "int":
        return isinstance(value, int) and not isinstance(value, bool), value
    if type_ == "float":
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        return ok, float(value) if ok else value
    if type_ == "path":
        if isinstance(value, pathlib.PurePath):
            return True, os.fspath(value)
        return isinstance(value, str) and value != "", value
    return isinstance(value, str), value  # str, choice


def _show(value: Any) -> str:
    return f"{value!r} ({'null' if value is None else type(value).__name__})"


def _for(method: str | None) -> str:
    return f" (in {method})" if method else ""


def _index(declared: Iterable[ProjectOption]) -> dict[str, ProjectOption]:
    index: dict[str, ProjectOption] = {}
    for opt in declared:
        if opt.name in index:
            raise ValueError(f"option {opt.name!r} is declared twice")
        index[opt.name] = opt
    return index


def _valid_list(options: Iterable[ProjectOption]) -> str:
    names = [o.describe() for o in options]
    return ", ".join(names) if names else "none"


def validate_options(method: str, options: Mapping[str, Any] | None, declared: Iterable[ProjectOption]) -> dict[str, Any]:
    """The options a server method receives: checked, typed, defaults filled in.

    Every option declared for ``method`` is in the result (its value, else its default, which
    may be None); ``path`` values become :class:`pathlib.Path`. Raises
    :class:`UnsupportedOption` for a name not declared for ``method`` (saying which methods do
    take it, if any), :class:`MissingOption` for an absent required option and
    :class:`InvalidOption` for a wrong type or choice; each names the option and lists the
    valid ones.
    """
    index = _index(declared)
    applicable = [o for o in index.values() if o.applies_to(method)]
    if options is None:
        options = {}
    if not isinstance(options, Mapping):
        raise InvalidOption(
            f"options of {method} must be an object of name: value, got {type(options).__name__}", method=method
        )
    for name in options:
        opt = index.get(name)
        if opt is None or not opt.applies_to(method):
            where = ""
            if opt is not None:
                where = f"; it applies to {', '.join(opt.required_for + opt.optional_for)}"
            raise UnsupportedOption(
                f"{method} has no option {name!r}{where}; valid options of {method}: {_valid_list(applicable)}",
                option=name,
                method=method,
                valid=[o.name for o in applicable],
            )
    result: dict[str, Any] = {}
    for opt in applicable:
        if opt.name in options and options[opt.name] is not None:
            result[opt.name] = opt.check(options[opt.name], method)
        elif opt.is_required_for(method):
            required = [o for o in applicable if o.is_required_for(method)]
            raise MissingOption(
                f"{method} requires option {opt.name!r}"
                + (f" ({opt.help})" if opt.help else "")
                + f"; required options of {method}: {_valid_list(required)}",
                option=opt.name,
                method=method,
                valid=[o.name for o in applicable],
            )
        else:
            result[opt.name] = opt.default
    return result


def parse_cli_options(pairs: Iterable[str], declared: Iterable[ProjectOption]) -> dict[str, Any]:
    """``["key=value", ...]`` to ``{key: typed value}`` using the declared types.

    Values are converted by :meth:`ProjectOption.parse` (paths made absolute), so the result is
    ready to send. A name no method declares raises :class:`UnsupportedOption` listing the
    valid names; a value that does not convert raises :class:`InvalidOption`; a pair without
    ``=`` or a repeated name raises :class:`InvalidOption`. Required options are not checked
    here: each method checks its own when called (see :func:`options_for_method`).
    """
    index = _index(declared)
    result: dict[str, Any] = {}
    for pair in pairs:
        if not isinstance(pair, str) or "=" not in pair:
            raise InvalidOption(f"option {pair!r} must be written key=value", option=str(pair))
        name, _, text = pair.partition("=")
        name = name.strip()
        opt = index.get(name)
        if opt is None:
            raise UnsupportedOption(
                f"unknown option {name!r}; valid options: {_valid_list(index.values())}",
                option=name,
                valid=list(index),
            )
        if name in result:
            raise InvalidOption(f"option {name!r} is given twice", option=name)
        result[name] = opt.parse(text)
    return result


def options_for_method(method: str, options: Mapping[str, Any], declared: Iterable[ProjectOption]) -> dict[str, Any]:
    """The subset of ``options`` that ``method`` accepts.

    A CLI collects one set of options for a whole session (generate, build, flash...) and
    passes each method its share; names no method declares are left in place so the server
    still reports them.
    """
    index = _index(declared)
    return {k: v for k, v in options.items() if k not in index or index[k].applies_to(method)}

