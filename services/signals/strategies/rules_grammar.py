"""A small, safe grammar for rule conditions such as `rsi < 30` or `close > bb.upper`.

    condition  := or
    or         := and ("or" and)*
    and        := not ("and" not)*
    not        := "not" not | compare
    compare    := sum (("<" | "<=" | ">" | ">=" | "==" | "!=" |
                        "crosses_above" | "crosses_below") sum)?
    sum        := product (("+" | "-") product)*
    product    := unary (("*" | "/") unary)*
    unary      := "-" unary | atom
    atom       := NUMBER | NAME ("." NAME)? | "(" condition ")"

Names are resolved against a fixed set given by the caller (candle fields, indicator outputs,
indicator constants); nothing is ever passed to `eval`. Parsing returns a tree of plain tuples
that `evaluate` walks; `names` lists what a tree reads.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Collection, Mapping
from typing import Any

#: a parsed condition: ("num", 1.0), ("name", "rsi"), ("<", left, right), ("not", node), ...
Node = tuple[Any, ...]

_TOKEN = re.compile(
    r"\s*(?:(?P<num>\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?)"
    r"|(?P<op><=|>=|==|!=|<|>|\+|-|\*|/|\(|\)))"
)
_COMPARE = {"<", "<=", ">", ">=", "==", "!=", "crosses_above", "crosses_below"}
_KEYWORDS = {"and", "or", "not", "crosses_above", "crosses_below"}


class ConditionError(ValueError):
    """A condition that does not parse or names something unknown; says where and why."""


def tokenize(text: str) -> list[str]:
    tokens: list[str] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise ConditionError(f"unexpected character {text[pos:].strip()[:1]!r} at column {pos + 1}")
        tokens.append(m.group(m.lastgroup or "op"))
        pos = m.end()
    return tokens


class _Parser:
    def __init__(self, text: str, known: Collection[str]) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0
        self.known = known

    def peek(self) -> str | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self) -> str:
        tok = self.peek()
        if tok is None:
            raise ConditionError("unexpected end of condition")
        self.i += 1
        return tok

    def parse(self) -> Node:
        if not self.tokens:
            raise ConditionError("empty condition")
        node = self.or_()
        if self.peek() is not None:
            raise ConditionError(f"unexpected {self.peek()!r} after a complete condition")
        return node

    def or_(self) -> Node:
        node = self.and_()
        while self.peek() == "or":
            self.take()
            node = ("or", node, self.and_())
        return node

    def and_(self) -> Node:
        node = self.not_()
        while self.peek() == "and":
            self.take()
            node = ("and", node, self.not_())
        return node

    def not_(self) -> Node:
        if self.peek() == "not":
            self.take()
            return ("not", self.not_())
        return self.compare()

    def compare(self) -> Node:
        left = self.sum_()
        op = self.peek()
        if op in _COMPARE:
            self.take()
            right = self.sum_()
            if self.peek() in _COMPARE:
                raise ConditionError("chained comparisons are not supported; use `and`")
            return (op, left, right)
        return left

    def sum_(self) -> Node:
        node = self.product()
        while self.peek() in ("+", "-"):
            op = self.take()
            node = (op, node, self.product())
        return node

    def product(self) -> Node:
        node = self.unary()
        while self.peek() in ("*", "/"):
            op = self.take()
            node = (op, node, self.unary())
        return node

    def unary(self) -> Node:
        if self.peek() == "-":
            self.take()
            return ("neg", self.unary())
        return self.atom()

    def atom(self) -> Node:
        tok = self.take()
        if tok == "(":
            node = self.or_()
            if self.peek() != ")":
                raise ConditionError("missing ')'")
            self.take()
            return node
        if tok[0].isdigit() or tok[0] == ".":
            return ("num", float(tok))
        if tok[0].isalpha() or tok[0] == "_":
            if tok in _KEYWORDS:
                raise ConditionError(f"{tok!r} where a value was expected")
            if tok not in self.known:
                known = ", ".join(sorted(self.known))
                raise ConditionError(f"unknown name {tok!r} (known: {known})")
            return ("name", tok)
        raise ConditionError(f"unexpected {tok!r}")


def parse(text: str, known: Collection[str]) -> Node:
    """Parse `text`; every name must be in `known`. ConditionError says what is wrong."""
    return _Parser(text, known).parse()


def names(node: Node) -> set[str]:
    """Every name a tree reads."""
    if node[0] == "name":
        return {str(node[1])}
    if node[0] == "num":
        return set()
    return set().union(*(names(child) for child in node[1:] if isinstance(child, tuple)))


_ARITH: dict[str, Callable[[float, float], float]] = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a / b if b != 0 else math.nan,
}
_CMP: dict[str, Callable[[float, float], bool]] = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
}


def value(node: Node, env: Mapping[str, float]) -> float:
    kind = node[0]
    if kind == "num":
        return float(node[1])
    if kind == "name":
        return env[str(node[1])]
    if kind == "neg":
        return -value(node[1], env)
    if kind in _ARITH:
        return _ARITH[kind](value(node[1], env), value(node[2], env))
    return 1.0 if evaluate(node, env, None) else 0.0


def evaluate(node: Node, env: Mapping[str, float], prev: Mapping[str, float] | None) -> bool:
    """Truth of a condition tree; `prev` (the previous bar's env) serves the crosses."""
    kind = node[0]
    if kind == "and":
        return evaluate(node[1], env, prev) and evaluate(node[2], env, prev)
    if kind == "or":
        return evaluate(node[1], env, prev) or evaluate(node[2], env, prev)
    if kind == "not":
        return not evaluate(node[1], env, prev)
    if kind in _CMP:
        return _CMP[kind](value(node[1], env), value(node[2], env))
    if kind in ("crosses_above", "crosses_below"):
        if prev is None:
            return False
        a, b = value(node[1], env), value(node[2], env)
        pa, pb = value(node[1], prev), value(node[2], prev)
        return pa <= pb and a > b if kind == "crosses_above" else pa >= pb and a < b
    return value(node, env) != 0.0
