"""How large a config value may be, found without recursion, and a repr of any value that stays short.

A config is a few dozen settings. What a file or a caller hands us may still be anything: lists nested
a thousand deep (Python's recursion limit), a YAML "billion laughs" (a few lines whose aliases expand to
a billion values), an alias that contains itself, an integer longer than Python will convert to text.
Each of those loads, then hangs or crashes whatever touches it next: an error message, ``to_yaml``,
the sweep. So every value is measured once, when it is validated, by :func:`find_excess`, which walks
it with an explicit stack and stops at the first limit it crosses; and every value shown in a message
goes through :func:`short_repr`, which never expands more than a few levels.

The limits are far above any real config and far below what the parsers, pydantic's serializer (which
stops at 255 levels) and a user's patience can take.
"""

from __future__ import annotations

import math
import reprlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

#: Containers nested inside one config document (the document's own mapping is level 1).
MAX_DEPTH = 32
#: Values in one config, counting every use of a YAML alias as a copy (as a save writes it).
MAX_NODES = 20_000
#: Python's default limit for int <-> str conversion: a longer integer can be neither loaded nor saved.
MAX_INT_DIGITS = 4300
#: Bytes in one config file (a pure-Python YAML parse of 1 MiB already takes about a second).
MAX_FILE_BYTES = 1 << 20

_MAX_INT_BITS = int(MAX_INT_DIGITS * math.log2(10))
_MAX_REPR = 120
_CONTAINERS = (dict, list, tuple, set, frozenset)
_SCALARS = frozenset({str, float, bool, type(None)})


@dataclass(frozen=True)
class OversizedInteger:
    """Stands in for an integer literal too long to convert, so the check can say where it was."""

    digits: int

    def __repr__(self) -> str:
        return f"<an integer of {self.digits} digits>"


def _int_problem(value: Any) -> str | None:
    if isinstance(value, OversizedInteger):
        digits = value.digits
    elif isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > _MAX_INT_BITS:
        digits = int(value.bit_length() * math.log10(2)) + 1
    else:
        return None
    return f"an integer of about {digits} digits; at most {MAX_INT_DIGITS} digits can be saved and loaded"


def _children(container: Any) -> Iterator[tuple[Any, Any]]:
    """(location part, child) pairs; a dict's keys are checked too where they could exceed a limit."""
    return _items(container) if isinstance(container, dict) else enumerate(container)


def _items(mapping: dict[Any, Any]) -> Iterator[tuple[Any, Any]]:
    for key, item in mapping.items():
        if isinstance(key, int | tuple | frozenset):
            yield key, key
        yield key, item


def find_excess(value: Any) -> tuple[tuple[Any, ...], str] | None:
    """Where ``value`` first exceeds what a config may hold, and how; None if it is within bounds.

    Walks depth first with an explicit stack (no recursion, so no RecursionError), counts every
    value each time it is reached (so shared sub-values count as often as a save would write them)
    and stops at the first problem, which bounds the time to O(MAX_NODES) whatever the value. A
    container met again while it is still being walked contains itself: a cycle, which no file holds.
    """
    problem = _int_problem(value)
    if problem is not None:
        return (), problem
    if not isinstance(value, _CONTAINERS):
        return None
    visited = 1 + len(value)
    open_ids = [id(value)]  # the containers being walked, outermost first
    parts: list[Any] = []  # where each of them (but the outermost) is in its parent
    stack = [_children(value)]
    while stack:
        for part, child in stack[-1]:
            kind = type(child)
            if kind in _SCALARS:
                continue
            if isinstance(child, _CONTAINERS):
                location = (*parts, part)
                if id(child) in open_ids:
                    return location, "contains itself (a recursive YAML alias or a self-referencing object)"
                if len(open_ids) >= MAX_DEPTH:
                    return location, f"nested deeper than {MAX_DEPTH} levels"
                visited += len(child)
                if visited > MAX_NODES:
                    return location[:1], (
                        f"holds more than {MAX_NODES} values (counting each use of a YAML alias); "
                        "a config this large is a mistake"
                    )
                open_ids.append(id(child))
                parts.append(part)
                stack.append(_children(child))
                break
            problem = _int_problem(child)
            if problem is not None:
                return (*parts, part), problem
        else:
            stack.pop()
            open_ids.pop()
            if parts:
                parts.pop()
    return None


def format_location(location: tuple[Any, ...]) -> str:
    """('missions', 0) -> 'missions[0]': the way a user would point at the entry in their file."""
    text = ""
    for part in location:
        if isinstance(part, str):
            text += f".{part}" if text else part
        else:  # a list index, or a key that is not a string
            text += f"[{short_repr(part)}]"
    return text if len(text) <= _MAX_REPR else text[: _MAX_REPR - 3] + "..."


class _ShortRepr(reprlib.Repr):
    """reprlib with dicts in their own order, huge integers described, and models not expanded."""

    def __init__(self) -> None:
        super().__init__()
        self.maxlevel = 3
        self.maxdict = self.maxlist = self.maxtuple = self.maxset = self.maxfrozenset = 6
        self.maxstring = self.maxother = self.maxlong = _MAX_REPR

    def repr_int(self, x: int, level: int) -> str:
        if x.bit_length() > 4 * _MAX_REPR:  # repr() itself fails past 4300 digits
            return f"<an integer of about {int(x.bit_length() * math.log10(2)) + 1} digits>"
        return super().repr_int(x, level)

    def repr_dict(self, x: dict[Any, Any], level: int) -> str:
        if not x:
            return "{}"
        if level <= 0:
            return "{...}"
        items = [
            f"{self.repr1(key, level - 1)}: {self.repr1(item, level - 1)}"
            for key, item in list(x.items())[: self.maxdict]
        ]
        return "{" + ", ".join(items) + (", ..." if len(x) > self.maxdict else "") + "}"

    def repr_instance(self, x: Any, level: int) -> str:
        if hasattr(type(x), "model_fields"):  # a pydantic model: its repr would show every nested value
            return f"{type(x).__name__}(...)"
        return super().repr_instance(x, level)


_REPR = _ShortRepr()


def short_repr(value: Any) -> str:
    """``repr(value)`` cut to at most 120 characters, in time bounded whatever the value holds."""
    text = _REPR.repr(value)
    return text if len(text) <= _MAX_REPR else text[: _MAX_REPR - 3] + "..."
