"""Jinja2 configured to render Nunjucks templates as Backstage's nunjitsu does.

Jinja2 parses and compiles; the differences live here: nunjitsu's tag scanner feeds
Jinja2's parser, the code generator routes truthiness, comparison, arithmetic,
concatenation, membership, lookup and iteration through JavaScript semantics, and the
filter and test tables are nunjitsu's instead of Jinja2's.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from functools import lru_cache
from typing import Any, ClassVar

from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.environment import Environment
from jinja2.exceptions import TemplateRuntimeError, TemplateSyntaxError
from jinja2.lexer import Token, TokenStream
from jinja2.runtime import LoopContext, Macro

from scaffold.nunjucks import js
from scaffold.nunjucks.filters import FILTERS, TESTS
from scaffold.nunjucks.js import UNDEFINED, JsUndefined
from scaffold.nunjucks.scanner import scan, tag_name

# Tags nunjitsu implements that Jinja2 parses the same way.
_SUPPORTED_TAGS = frozenset(
    {
        "if", "elif", "elseif", "else", "endif", "for", "endfor", "set", "endset",
        "macro", "endmacro", "call", "endcall", "filter", "endfilter",
    }
)  # fmt: skip
_LOOP_ATTRIBUTES = frozenset({"index", "index0", "revindex", "revindex0", "first", "last", "length"})
# Nunjucks number literals are plain decimals: no exponent, underscores or radix prefixes.
_NUMBER_LITERAL = re.compile(r"^[0-9]+(?:\.[0-9]+)?$")
# Jinja2 reads these names as literals; Nunjucks reads `null` as one and the others as variables.
_NOT_LITERALS = {"null": "none", "True": "nunjucks_True", "False": "nunjucks_False", "None": "nunjucks_None"}
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t"}


def _unescape(body: str) -> str:
    """Nunjucks string escapes: \\n, \\r and \\t; a backslash before anything else keeps that character."""
    return re.sub(r"\\(.)", lambda match: _ESCAPES.get(match.group(1), match.group(1)), body, flags=re.S)


_COMPARE = {
    "eq": "==", "ne": "!=", "lt": "<", "lteq": "<=", "gt": ">", "gteq": ">=", "in": "in",
    "notin": "not in",
}  # fmt: skip


def _helper_call(helper: str, *args: nodes.Node, lineno: int) -> nodes.Call:
    """A call of an environment helper; templates cannot name these themselves."""
    return nodes.Call(nodes.EnvironmentAttribute(helper), list(args), [], None, None, lineno=lineno)


def _to_nunjucks_ast(tree: nodes.Template) -> None:
    """Rewrite the parsed tree where Nunjucks means something other than Jinja2."""
    for branch in tree.find_all(nodes.If):
        branch.test = _helper_call("js_truthy", branch.test, lineno=branch.lineno)
    for conditional in tree.find_all(nodes.CondExpr):
        conditional.test = _helper_call("js_truthy", conditional.test, lineno=conditional.lineno)
    for loop in tree.find_all(nodes.For):
        if loop.test is not None or loop.recursive:
            raise TemplateSyntaxError("loop filters and recursive loops are not Nunjucks", loop.lineno)
        targets = len(loop.target.items) if isinstance(loop.target, nodes.Tuple) else 1
        loop.iter = _helper_call("js_iterate", loop.iter, nodes.Const(targets), lineno=loop.lineno)
    for pair in tree.find_all(nodes.Pair):
        # `{a: 1}` has the key "a" in Nunjucks, not the value of a variable a.
        if isinstance(pair.key, nodes.Name):
            pair.key = nodes.Const(pair.key.name, lineno=pair.key.lineno)
    for assign in tree.find_all(nodes.Assign):
        if isinstance(assign.target, nodes.Tuple):
            raise TemplateSyntaxError("set with several targets is not supported", assign.lineno)
    for tuple_node in tree.find_all(nodes.Tuple):
        if tuple_node.ctx == "load":
            raise TemplateSyntaxError("tuple expressions are not Nunjucks", tuple_node.lineno)


class NunjucksCodeGenerator(CodeGenerator):
    def _output_child_to_const(self, node: nodes.Expr, frame: Frame, finalize: Any) -> str:
        # Jinja2 folds constant output with Python semantics; only literal text may be folded.
        if not isinstance(node, nodes.TemplateData):
            raise nodes.Impossible()
        return super()._output_child_to_const(node, frame, finalize)

    def visit_Call(self, node: nodes.Call, frame: Frame, forward_caller: bool = False) -> None:
        if isinstance(node.node, nodes.EnvironmentAttribute):
            self.write(f"environment.{node.node.name}(")
            for index, argument in enumerate(node.args):
                if index:
                    self.write(", ")
                self.visit(argument, frame)
            self.write(")")
            return
        super().visit_Call(node, frame, forward_caller=forward_caller)

    def visit_Not(self, node: nodes.UnaryExpr, frame: Frame) -> None:
        self.write("(not environment.js_truthy(")
        self.visit(node.node, frame)
        self.write("))")

    def _short_circuit(self, node: nodes.BinExpr, frame: Frame, helper: str) -> None:
        self.write(f"environment.{helper}(")
        self.visit(node.left, frame)
        self.write(", lambda: ")
        self.visit(node.right, frame)
        self.write(")")

    def visit_And(self, node: nodes.BinExpr, frame: Frame) -> None:
        self._short_circuit(node, frame, "js_and")

    def visit_Or(self, node: nodes.BinExpr, frame: Frame) -> None:
        self._short_circuit(node, frame, "js_or")

    def visit_Compare(self, node: nodes.Compare, frame: Frame) -> None:
        # Nunjucks chains comparisons left to right: `a < b < c` is `(a < b) < c`.
        for _ in node.ops:
            self.write("environment.js_compare(")
        self.visit(node.expr, frame)
        for operand in node.ops:
            self.write(f", {_COMPARE[operand.op]!r}, ")
            self.visit(operand.expr, frame)
            self.write(")")

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.js_concat(")
        for child in node.nodes:
            self.visit(child, frame)
            self.write(", ")
        self.write(")")

    def visit_Getitem(self, node: nodes.Getitem, frame: Frame) -> None:
        if not isinstance(node.arg, nodes.Slice):
            super().visit_Getitem(node, frame)
            return
        self.write("environment.js_slice(")
        self.visit(node.node, frame)
        for part in (node.arg.start, node.arg.stop, node.arg.step):
            self.write(", ")
            if part is None:
                self.write("None")
            else:
                self.visit(part, frame)
        self.write(")")


def js_range(start: Any, stop: Any = None, step: Any = 1) -> list[Any]:
    """Nunjucks' `range` global."""
    if stop is None or js.is_undefined(stop):
        start, stop = 0, start
    first, end, increment = js.to_number(start), js.to_number(stop), js.to_number(step)
    if increment == 0 or math.isnan(increment):
        return []
    values = []
    current = first
    while (current < end) if increment > 0 else (current > end):
        values.append(js.normalize_number(current))
        current += increment
    return values


class NunjucksEnvironment(Environment):
    sandboxed = True  # makes Jinja2 route operators and calls through the methods below
    intercepted_binops: ClassVar[frozenset[str]] = frozenset({"+", "-", "*", "/", "//", "%", "**"})
    intercepted_unops: ClassVar[frozenset[str]] = frozenset({"+", "-"})
    code_generator_class = NunjucksCodeGenerator

    def __init__(
        self,
        *,
        trim_blocks: bool = False,
        lstrip_blocks: bool = False,
        filters: dict[str, Callable[..., Any]] | None = None,
    ) -> None:
        super().__init__(
            autoescape=False,
            undefined=JsUndefined,
            optimized=False,  # constant folding would apply Python semantics
            finalize=js.render,
            keep_trailing_newline=True,
            cache_size=0,
        )
        self.scan_trim_blocks = trim_blocks
        self.scan_lstrip_blocks = lstrip_blocks
        self.filters = {**FILTERS, **(filters or {})}
        self.tests = dict(TESTS)
        self.globals = {"range": js_range}
        self._callable_globals = frozenset(id(function) for function in self.globals.values())

    # --- parsing ---------------------------------------------------------------------

    def _tokenize(
        self,
        source: str,
        name: str | None,
        filename: str | None = None,
        state: str | None = None,
    ) -> TokenStream:
        tokens = scan(source, trim_blocks=self.scan_trim_blocks, lstrip_blocks=self.scan_lstrip_blocks)
        return TokenStream(self._jinja_tokens(tokens, name, filename), name, filename)

    def _jinja_tokens(self, tokens: list[Any], name: str | None, filename: str | None) -> Iterator[Token]:
        for token in tokens:
            if token.kind == "text":
                yield Token(token.line, "data", token.value)
                continue
            if token.kind == "block":
                tag = tag_name(token.value)
                if tag not in _SUPPORTED_TAGS:
                    raise TemplateSyntaxError(
                        f"unknown or unsupported tag {tag!r}", token.line, name, filename
                    )
                value = "elif" + token.value[len("elseif") :] if tag == "elseif" else token.value
                source = "{% " + value + " %}"
            else:
                source = "{{ " + token.value + " }}"
            raw = list(self.lexer.tokeniter(source, name, filename))
            for _, kind, text in raw:
                if kind in ("integer", "float") and not _NUMBER_LITERAL.match(text):
                    raise TemplateSyntaxError(f"Invalid numeric literal {text}", token.line, name, filename)
            names: list[str] = []  # the name tokens before this one; `is [not] null` is a test
            for lineno, kind, text in raw:
                line = lineno + token.line - 1
                if kind == "whitespace":
                    continue
                after_is = names[-1:] == ["is"] or names[-2:] == ["is", "not"]
                names.append(text if kind == "name" else "")
                if kind == "string":
                    yield Token(line, "string", _unescape(text[1:-1]))
                elif kind == "name" and text in _NOT_LITERALS and not after_is:
                    yield Token(line, "name", _NOT_LITERALS[text])
                else:
                    yield from self.lexer.wrap([(line, kind, text)], name, filename)

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree = super()._parse(source, name, filename)
        _to_nunjucks_ast(tree)
        return tree

    # --- evaluation --------------------------------------------------------------------

    def getattr(self, obj: Any, attribute: str) -> Any:
        return self.getitem(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        if isinstance(obj, LoopContext):
            if argument in _LOOP_ATTRIBUTES:
                return getattr(obj, argument)
            return UNDEFINED
        return js.lookup(obj, argument, UNDEFINED)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        if isinstance(__obj, Macro) or id(__obj) in __self._callable_globals:
            return __obj(*args, **kwargs)
        kind = "undefined" if js.is_undefined(__obj) else js.js_type(__obj)
        raise TemplateRuntimeError(f"a value of type {kind} cannot be called")

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "+":
            left, right = js.to_primitive(left), js.to_primitive(right)
            if isinstance(left, str) or isinstance(right, str):
                return js.to_string(left) + js.to_string(right)
        return js.normalize_number(_arithmetic(operator, js.to_number(left), js.to_number(right)))

    def call_unop(self, context: Any, operator: str, arg: Any) -> Any:
        number = js.to_number(arg)
        return js.normalize_number(-number if operator == "-" else number)

    @staticmethod
    def js_truthy(value: Any) -> bool:
        return js.truthy(value)

    @staticmethod
    def js_and(left: Any, right: Callable[[], Any]) -> Any:
        return right() if js.truthy(left) else left

    @staticmethod
    def js_or(left: Any, right: Callable[[], Any]) -> Any:
        return left if js.truthy(left) else right()

    @staticmethod
    def js_concat(*parts: Any) -> str:
        return "".join(js.to_string(part) for part in parts)

    @staticmethod
    def js_compare(left: Any, operator: str, right: Any) -> bool:
        if operator == "==":
            return js.loose_equal(left, right)
        if operator == "!=":
            return not js.loose_equal(left, right)
        if operator in ("in", "not in"):
            return _contains(right, left) == (operator == "in")
        ordering = js.order(left, right)
        return {
            "<": ordering < 0, "<=": ordering <= 0, ">": ordering > 0, ">=": ordering >= 0,
        }[operator]  # fmt: skip

    @staticmethod
    def js_iterate(value: Any, targets: int) -> list[Any]:
        if targets == 1:
            if isinstance(value, list):
                return value
            if isinstance(value, str):
                return [js.utf16_at(value, index) for index in range(js.utf16_length(value))]
            if isinstance(value, dict):
                size = js.to_number(value.get("length", UNDEFINED))
                count = math.ceil(size) if math.isfinite(size) and size > 0 else 0
                return [value.get(str(index), UNDEFINED) for index in range(count)]
            return []
        if isinstance(value, dict):
            rows: list[Any] = [[key, item] for key, item in value.items()]
        elif isinstance(value, str):
            rows = [[str(index), char] for index, char in enumerate(NunjucksEnvironment.js_iterate(value, 1))]
        elif isinstance(value, list):
            rows = value
        else:
            return []
        return [tuple(_destructure(row, index) for index in range(targets)) for row in rows]

    @staticmethod
    def js_slice(value: Any, start: Any, stop: Any, step: Any) -> list[Any]:
        target = value if js.truthy(value) else []
        size = js.lookup(target, "length", UNDEFINED)
        increment = js.to_number(1 if step is None else step)
        if not math.isfinite(increment) or increment == 0:
            raise TemplateRuntimeError("Slice step must have finite non-zero numeric coercion")
        if start is None:
            start = js.to_number(size) - 1 if increment < 0 else 0
        if stop is None:
            stop = -1 if increment < 0 else size
        elif js.order(stop, 0) < 0:
            stop = js.to_number(stop) + js.to_number(size)
        if js.order(start, 0) < 0:
            start = js.to_number(start) + js.to_number(size)
        result = []
        index = start
        while not (js.order(index, 0) < 0 or js.order(index, size) > 0):
            if (increment > 0 and js.order(index, stop) >= 0) or (
                increment < 0 and js.order(index, stop) <= 0
            ):
                break
            result.append(js.lookup(target, js.normalize_number(js.to_number(index)), UNDEFINED))
            index = js.to_number(index) + increment
        return result


def _destructure(value: Any, index: int) -> Any:
    if value is None or js.is_undefined(value):
        raise TemplateRuntimeError("Cannot destructure a nullish loop value")
    return js.lookup(value, index, UNDEFINED)


def _contains(container: Any, needle: Any) -> bool:
    if isinstance(container, str):
        return js.to_string(needle) in container
    if isinstance(container, list):
        return any(js.strict_equal(item, needle) for item in container)
    if isinstance(container, dict):
        return js.property_key(needle) in container and js.property_key(needle) not in js.RESERVED_KEYS
    raise TemplateRuntimeError("Membership requires an array, record, or string")


def _arithmetic(operator: str, left: float, right: float) -> float:
    try:
        if operator == "-":
            return left - right
        if operator == "*":
            return left * right
        if operator == "/":
            return _divide(left, right)
        if operator == "//":
            return (
                math.floor(_divide(left, right))
                if math.isfinite(_divide(left, right))
                else _divide(left, right)
            )
        if operator == "%":
            return math.fmod(left, right) if right != 0 and math.isfinite(left) else math.nan
        if operator == "**":
            result = math.pow(left, right)
            return result
        return left + right
    except OverflowError:
        return math.inf
    except ValueError:
        return math.nan


def _divide(left: float, right: float) -> float:
    if right == 0:
        if left == 0 or math.isnan(left):
            return math.nan
        return math.copysign(math.inf, left) * math.copysign(1, right)
    return left / right


@lru_cache(maxsize=8)
def environment(*, trim_blocks: bool = False, lstrip_blocks: bool = False) -> NunjucksEnvironment:
    return NunjucksEnvironment(trim_blocks=trim_blocks, lstrip_blocks=lstrip_blocks)
