"""A small RFC 6902 applier (add, remove, replace, test) over JSON-shaped dicts and lists.

`spec.kubevirt.overrides` and `spec.cdi.overrides` are JSON patches applied to the rendered
operand CRs. Only the four operations the API accepts are implemented; move and copy are refused by
the schema. A patch is atomic as RFC 6902 asks: `apply` works on a copy and either returns the
patched copy or raises `PatchError` naming the first operation that did not apply, so a half-applied
patch never reaches the cluster.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any


class PatchError(Exception):
    """Operation `index` (`op` at `path`) did not apply, because of `why`."""

    def __init__(self, index: int, op: str, path: str, why: str) -> None:
        super().__init__(f"override {index} ({op} {path}): {why}")
        self.index, self.op, self.path, self.why = index, op, path, why


def pointer(path: str) -> list[str]:
    """RFC 6901: "/a/b~1c" -> ["a", "b/c"] (~1 before ~0, as the RFC orders the unescaping)."""
    if path == "":
        return []
    if not path.startswith("/"):
        raise ValueError("a JSON pointer starts with /")
    return [part.replace("~1", "/").replace("~0", "~") for part in path[1:].split("/")]


def _index(container: list[Any], token: str, *, for_insert: bool) -> int:
    if token == "-" and for_insert:
        return len(container)
    # RFC 6901 array indexes are decimal without leading zeros; "-" only names the end for add.
    if not token.isdigit() or (len(token) > 1 and token[0] == "0"):
        raise ValueError(f"{token!r} is not an array index")
    index = int(token)
    if index > len(container) or (index == len(container) and not for_insert):
        raise ValueError(f"index {index} is out of range (length {len(container)})")
    return index


def _child(node: Any, token: str) -> Any:
    if isinstance(node, dict):
        if token not in node:
            raise ValueError(f"{token!r} does not exist")
        return node[token]
    if isinstance(node, list):
        return node[_index(node, token, for_insert=False)]
    raise ValueError(f"{token!r} is inside a {type(node).__name__}, not an object or array")


def _equal(a: Any, b: Any) -> bool:
    """JSON equality: unlike Python's ==, true is not 1 and an object never equals an array."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    numbers = isinstance(a, int | float) and isinstance(b, int | float)
    return (type(a) is type(b) or numbers) and a == b


def _apply_one(doc: Any, op: str, tokens: list[str], value: Any) -> Any:
    """`doc` after one operation (the whole document is replaced when `tokens` is empty)."""
    if not tokens:
        if op == "remove":
            raise ValueError("cannot remove the whole document")
        if op == "test":
            if not _equal(doc, value):
                raise ValueError("test failed: the value differs")
            return doc
        return copy.deepcopy(value)
    parent = doc
    for token in tokens[:-1]:
        parent = _child(parent, token)
    last = tokens[-1]
    if op == "test":
        if not _equal(_child(parent, last), value):
            raise ValueError("test failed: the value differs")
    elif isinstance(parent, dict):
        if op != "add" and last not in parent:
            raise ValueError(f"{last!r} does not exist")
        if op == "remove":
            del parent[last]
        else:
            parent[last] = copy.deepcopy(value)
    elif isinstance(parent, list):
        index = _index(parent, last, for_insert=op == "add")
        if op == "add":
            parent.insert(index, copy.deepcopy(value))
        elif op == "remove":
            del parent[index]
        else:
            parent[index] = copy.deepcopy(value)
    else:
        raise ValueError(f"the parent of {last!r} is a {type(parent).__name__}, not an object or array")
    return doc


def apply(document: Any, operations: Sequence[Mapping[str, Any]]) -> Any:
    """`document` with every operation applied in order, or PatchError; `document` is left alone."""
    doc = copy.deepcopy(document)
    for index, operation in enumerate(operations):
        op, path = str(operation.get("op", "")), str(operation.get("path", ""))
        if op not in ("add", "remove", "replace", "test"):
            raise PatchError(index, op, path, "unsupported operation")
        if op != "remove" and "value" not in operation:
            raise PatchError(index, op, path, "no value")
        try:
            doc = _apply_one(doc, op, pointer(path), operation.get("value"))
        except ValueError as exc:
            raise PatchError(index, op, path, str(exc)) from None
    return doc
