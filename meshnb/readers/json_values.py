"""Typed reads of JSON values for the readers: errors name the JSON path of what was not as expected.

>>> as_list(None, "$.hosts"), as_dict({"a": 1}, "$")
([], {'a': 1})
>>> as_list("x", "$.hosts")
Traceback (most recent call last):
...
meshnb.errors.ParseError: expected a list, got str at $.hosts
"""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from meshnb.errors import ParseError

__all__ = ["as_dict", "as_list", "gc_paused", "json_documents", "json_error"]


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a reader builds a large tree of objects, then resume.

    Parsed JSON holds no cycles, yet each of its thousands of new dicts counts towards a collection
    that walks every object made so far: on Envoy's ``/clusters`` of 50,000 hosts, parsing takes a
    quarter of the time without them. Reference counting still frees everything as usual.

    >>> with gc_paused():
    ...     gc.isenabled()
    False
    >>> gc.isenabled()
    True
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def json_error(message: str, path: str) -> ParseError:
    """A ParseError whose ``line`` is the JSON path."""
    return ParseError(f"{message} at {path}", path, None)


def json_documents(text: str | bytes) -> Iterator[tuple[Any, str]]:
    """Each JSON document in ``text`` (back to back, any whitespace between) with its path prefix.

    >>> [(doc, path) for doc, path in json_documents('{"a": 1}\\n[2]')]
    [({'a': 1}, '$[0]'), ([2], '$[1]')]
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ParseError(f"not UTF-8 text: {exc}", None, None) from exc
    decoder = json.JSONDecoder()
    position, index, length = 0, 0, len(text)
    while True:
        while position < length and text[position] in " \t\r\n":
            position += 1
        if position >= length:
            return
        try:
            value, position = decoder.raw_decode(text, position)
        except json.JSONDecodeError as exc:
            lines = text.splitlines()
            where = f"column {exc.colno}"
            lineno = exc.lineno
            if lineno > len(lines):  # past a last newline: the text ends inside the document
                lineno, where = max(len(lines), 1), "the text ends there"
            line = lines[lineno - 1] if 0 < lineno <= len(lines) else ""
            raise ParseError(
                f"expected a JSON document (document {index}): {exc.msg} ({where})", line, lineno
            ) from exc
        except (RecursionError, ValueError) as exc:  # nesting too deep, numbers too long
            raise ParseError(f"expected a JSON document (document {index}): {exc}", text[:200], 1) from exc
        yield value, f"$[{index}]"
        index += 1


def as_list(value: Any, path: str) -> list[Any]:
    """``value`` if it is a list; absent (None) is an empty list."""
    if value is None:
        return []
    if isinstance(value, list):
        return value
    raise json_error(f"expected a list, got {type(value).__name__}", path)


def as_dict(value: Any, path: str) -> dict[str, Any]:
    """``value`` if it is an object; absent (None) is an empty one."""
    if value is None:
        return {}
    if isinstance(value, dict):
        return value
    raise json_error(f"expected an object, got {type(value).__name__}", path)
