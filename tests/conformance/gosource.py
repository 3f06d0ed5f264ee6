"""Facts read from upstream's Go source: RBAC rule lists and embedded YAML, without compiling it.

Some operands (CDI) generate their RBAC and CRDs in Go rather than shipping YAML. Their rule lists
are plain composite literals (`[]rbacv1.PolicyRule{{APIGroups: []string{"..."}, ...}}`) returned
by small functions that `append` each other's results, and their CRDs are YAML in Go string
literals. This module reads exactly those shapes and refuses anything else (a rule built from a
variable, a loop, a condition) with `GoSourceError`, so a change of shape upstream fails the suite
instead of silently reading less.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

RULE_FIELDS = {
    "APIGroups": "apiGroups",
    "Resources": "resources",
    "ResourceNames": "resourceNames",
    "Verbs": "verbs",
    "NonResourceURLs": "nonResourceURLs",
}
RULE_TYPE = "[]rbacv1.PolicyRule"


class GoSourceError(ValueError):
    """Upstream's source has a shape this reader does not understand."""


_TOKEN = re.compile(
    r"""
    (?P<comment>//[^\n]*|/\*.*?\*/)
  | (?P<raw>`[^`]*`)
  | (?P<str>"(?:[^"\\\n]|\\.)*")
  | (?P<name>\[\][A-Za-z_][\w.]*|[A-Za-z_][\w.]*)
  | (?P<op>:=|\.\.\.|[{}()\[\],:=+;])
  | (?P<newline>\n)
  | (?P<space>[ \t\r]+)
  | (?P<other>.)
    """,
    re.VERBOSE | re.DOTALL,
)


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for match in _TOKEN.finditer(text):
        kind = match.lastgroup or "other"
        if kind in ("comment", "space"):
            continue
        out.append((kind, match.group()))
    return out


def _string_value(kind: str, text: str) -> str:
    if kind == "raw":
        return text[1:-1]
    return str(bytes(text[1:-1], "utf-8").decode("unicode_escape"))


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]], where: str) -> None:
        self.tokens = [t for t in tokens if t[0] != "newline"]
        self.pos = 0
        self.where = where

    def peek(self) -> tuple[str, str]:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else ("eof", "")

    def take(self, value: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if value is not None and token[1] != value:
            raise GoSourceError(f"{self.where}: expected {value!r}, found {token[1]!r}")
        self.pos += 1
        return token

    def strings(self) -> list[str]:
        self.take("[]string")
        self.take("{")
        values: list[str] = []
        while self.peek()[1] != "}":
            kind, text = self.take()
            if kind not in ("str", "raw"):
                raise GoSourceError(f"{self.where}: a rule field holds {text!r}, not a string literal")
            values.append(_string_value(kind, text))
            if self.peek()[1] == ",":
                self.take(",")
        self.take("}")
        return values

    def rule(self) -> dict[str, list[str]]:
        self.take("{")
        rule: dict[str, list[str]] = {}
        while self.peek()[1] != "}":
            _, field = self.take()
            if field not in RULE_FIELDS:
                raise GoSourceError(f"{self.where}: unknown PolicyRule field {field!r}")
            self.take(":")
            rule[RULE_FIELDS[field]] = self.strings()
            if self.peek()[1] == ",":
                self.take(",")
        self.take("}")
        return rule

    def rules(self) -> list[dict[str, list[str]]]:
        self.take(RULE_TYPE)
        self.take("{")
        found: list[dict[str, list[str]]] = []
        while self.peek()[1] != "}":
            found.append(self.rule())
            if self.peek()[1] == ",":
                self.take(",")
        self.take("}")
        return found


def _go_files(package: Path) -> Iterator[Path]:
    files = sorted(p for p in package.glob("*.go") if not p.name.endswith("_test.go"))
    if not files:
        raise GoSourceError(f"{package}: no Go files")
    yield from files


def rule_literals(package: Path) -> list[list[dict[str, list[str]]]]:
    """Every `[]rbacv1.PolicyRule{...}` literal in a package: all rules it can put in a role."""
    found: list[list[dict[str, list[str]]]] = []
    for path in _go_files(package):
        tokens = [t for t in _tokens(path.read_text()) if t[0] != "newline"]
        for index, token in enumerate(tokens):
            is_literal = index + 1 < len(tokens) and tokens[index + 1][1] == "{"
            is_result_type = index > 0 and tokens[index - 1][1] == ")"  # func f() []rbacv1.PolicyRule {
            if token[1] == RULE_TYPE and is_literal and not is_result_type:
                parser = _Parser(tokens[index:], str(path))
                found.append(parser.rules())
    return found


def _function_body(package: Path, name: str) -> tuple[list[tuple[str, str]], str]:
    header = re.compile(rf"^func {re.escape(name)}\(\)\s*{re.escape(RULE_TYPE)}\s*{{\s*$", re.MULTILINE)
    for path in _go_files(package):
        text = path.read_text()
        match = header.search(text)
        if match is None:
            continue
        tokens = _tokens(text[match.end() :])
        depth, end = 1, 0
        for end, (_, value) in enumerate(tokens):  # noqa: B007 - `end` is used after the loop
            depth += {"{": 1, "}": -1}.get(value, 0)
            if depth == 0:
                break
        return tokens[:end], str(path)
    raise GoSourceError(f"{package}: no function {name}() {RULE_TYPE}")


def _statements(tokens: list[tuple[str, str]]) -> Iterator[list[tuple[str, str]]]:
    current: list[tuple[str, str]] = []
    depth = 0
    for token in tokens:
        if token[0] == "newline" and depth == 0:
            if current:
                yield current
            current = []
            continue
        depth += {"{": 1, "(": 1, "}": -1, ")": -1}.get(token[1], 0)
        current.append(token)
    if current:
        yield current


def _imports(package: Path, module_root: Path) -> dict[str, Path]:
    """Import alias -> package directory, for packages of the same module."""
    module = re.search(r"^module\s+(\S+)", (module_root / "go.mod").read_text(), re.MULTILINE)
    if module is None:
        raise GoSourceError(f"{module_root}: go.mod names no module")
    prefix = module.group(1) + "/"
    aliases: dict[str, Path] = {}
    for path in _go_files(package):
        for alias, imported in re.findall(r'^\s*(\w+)?\s*"([^"]+)"\s*$', path.read_text(), re.MULTILINE):
            if imported.startswith(prefix):
                directory = module_root / imported[len(prefix) :]
                aliases[alias or directory.name] = directory
    return aliases


def policy_rules(package: Path, function: str, module_root: Path) -> list[dict[str, list[str]]]:
    """The rules `function()` returns, following its `append`s into other functions and packages."""
    tokens, where = _function_body(package, function)
    variables: dict[str, list[dict[str, list[str]]]] = {}

    def evaluate(expr: list[tuple[str, str]]) -> list[dict[str, list[str]]]:
        values = [t[1] for t in expr]
        if values and values[0] == RULE_TYPE:
            parser = _Parser(expr, where)
            rules = parser.rules()
            if parser.pos != len(parser.tokens):
                raise GoSourceError(f"{where}: trailing tokens after a rule literal")
            return rules
        if len(values) == 1 and values[0] in variables:
            return list(variables[values[0]])
        if len(values) == 3 and values[1:] == ["(", ")"]:
            target = values[0]
            if "." in target:
                alias, name = target.split(".", 1)
                packages = _imports(package, module_root)
                if alias not in packages:
                    raise GoSourceError(f"{where}: {target} is not in this module")
                return policy_rules(packages[alias], name, module_root)
            return policy_rules(package, target, module_root)
        if values[:2] == ["append", "("] and values[3:4] == [","] and values[-2:] == ["...", ")"]:
            if values[2] not in variables:
                raise GoSourceError(f"{where}: append to unknown {values[2]!r}")
            return variables[values[2]] + evaluate(expr[4:-2])
        raise GoSourceError(f"{where}: cannot read {' '.join(values)!r}")

    for statement in _statements(tokens):
        values = [t[1] for t in statement]
        if values[0] == "return":
            return evaluate(statement[1:])
        if len(values) > 2 and values[1] in (":=", "="):
            variables[values[0]] = evaluate(statement[2:])
            continue
        raise GoSourceError(f"{where}: cannot read statement {' '.join(values)!r}")
    raise GoSourceError(f"{where}: {function} returns nothing readable")


def string_map_entry(path: Path, variable: str, key: str) -> str:
    """The value of `key` in a Go `var <variable> map[string]string = {...}` of string literals.

    Values may be concatenations (`\\`...\\` + "\\`" + \\`...\\``), as generated YAML uses them
    to embed backquotes.
    """
    text = path.read_text()
    start = re.search(rf"^var {re.escape(variable)}\b[^{{]*{{", text, re.MULTILINE)
    if start is None:
        raise GoSourceError(f"{path}: no map {variable}")
    tokens = [t for t in _tokens(text[start.end() :]) if t[0] != "newline"]
    index = 0
    while index < len(tokens) and tokens[index][1] != "}":
        kind, text_key = tokens[index]
        if kind != "str" or tokens[index + 1][1] != ":":
            raise GoSourceError(f"{path}: unexpected {text_key!r} in {variable}")
        index += 2
        parts: list[str] = []
        while True:
            part_kind, part = tokens[index]
            if part_kind not in ("str", "raw"):
                raise GoSourceError(f"{path}: {variable}[{text_key}] is not a string literal")
            parts.append(_string_value(part_kind, part))
            index += 1
            if tokens[index][1] != "+":
                break
            index += 1
        if _string_value(kind, text_key) == key:
            return "".join(parts)
        if tokens[index][1] == ",":
            index += 1
    raise GoSourceError(f"{path}: {variable} has no key {key!r}")


def function_source(package: Path, name: str) -> str:
    """The body of function (or method) `name` in a package, for facts read by pattern."""
    header = re.compile(rf"^func (?:\([^)]*\) )?{re.escape(name)}\(.*{{\s*$", re.MULTILINE)
    for path in _go_files(package):
        text = path.read_text()
        match = header.search(text)
        if match is None:
            continue
        end = text.find("\n}\n", match.end())
        if end < 0:
            raise GoSourceError(f"{path}: {name} has no end")
        return text[match.end() : end]
    raise GoSourceError(f"{package}: no function {name}")


def constants(package: Path) -> dict[str, str]:
    """String constants of a package declared as `Name = "value"` (or `Name string = "value"`)."""
    found: dict[str, str] = {}
    for path in _go_files(package):
        for name, value in re.findall(
            r'^\s*(\w+)(?:\s+string)?\s*=\s*"([^"]*)"\s*$', path.read_text(), re.MULTILINE
        ):
            found[name] = value
    return found
