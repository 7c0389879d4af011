"""Render template strings and lone expressions against prepared data."""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from jinja2 import Template
from jinja2.exceptions import TemplateError, TemplateSyntaxError

from scaffold.nunjucks import js
from scaffold.nunjucks.environment import NunjucksEnvironment, environment
from scaffold.nunjucks.filters import FilterError
from scaffold.nunjucks.scanner import scan

_NATIVE_NAME = "nativevalue__"


class RenderError(Exception):
    """A template that Backstage would also refuse to render, with where and why."""

    def __init__(self, message: str, line: int | None = None) -> None:
        self.line = line
        super().__init__(f"line {line}: {message}" if line else message)


def prepare_context(context: Mapping[str, Any]) -> dict[str, Any]:
    """Copy data into the JavaScript shapes the templates observe (done once per render job)."""
    try:
        prepared: dict[str, Any] = js.prepare(dict(context))
    except js.TemplateValueError as error:
        raise RenderError(str(error)) from error
    return prepared


def is_undefined(value: object) -> bool:
    return js.is_undefined(value)


@lru_cache(maxsize=4096)
def _compile(env: NunjucksEnvironment, source: str) -> Template:
    return env.from_string(source)


@lru_cache(maxsize=4096)
def _sole_expression(source: str) -> str | None:
    """The expression of a template that is one lone `${{ expr }}`, else None."""
    try:
        tokens = scan(source)
    except TemplateSyntaxError as error:
        raise RenderError(error.message or "syntax error", error.lineno) from error
    return tokens[0].value if len(tokens) == 1 and tokens[0].kind == "variable" else None


class Renderer:
    """Renders with fixed whitespace options; compiled templates are cached by source."""

    def __init__(self, *, trim_blocks: bool = False, lstrip_blocks: bool = False) -> None:
        self._env = environment(trim_blocks=trim_blocks, lstrip_blocks=lstrip_blocks)

    def render(self, source: str, context: dict[str, Any]) -> str:
        """Render a whole template to text, as `renderer.render` does."""
        if "${{" not in source and "{%" not in source and "{#" not in source and "#}" not in source:
            return source
        template = self._template(source)
        try:
            return template.render(context)
        except (TemplateError, FilterError, TypeError, ValueError, RecursionError) as error:
            raise RenderError(_describe(error), getattr(error, "lineno", None)) from error

    def render_value(self, source: str, context: dict[str, Any]) -> Any:
        """`renderer.renderValue`: a lone `${{ expr }}` keeps its native value."""
        expression = _sole_expression(source)
        if expression is None:
            return self.render(source, context)
        template = self._template("{% set " + _NATIVE_NAME + " = " + expression + " %}")
        try:
            module = template.make_module(vars=context)
        except (TemplateError, FilterError, TypeError, ValueError, RecursionError) as error:
            raise RenderError(_describe(error), getattr(error, "lineno", None)) from error
        return getattr(module, _NATIVE_NAME)

    def _template(self, source: str) -> Template:
        try:
            return _compile(self._env, source)
        except TemplateSyntaxError as error:
            raise RenderError(error.message or "syntax error", error.lineno) from error
        except TemplateError as error:
            raise RenderError(_describe(error)) from error


def _describe(error: BaseException) -> str:
    message = getattr(error, "message", None) or str(error) or type(error).__name__
    return f"{type(error).__name__}: {message}" if not isinstance(error, TemplateError) else message
