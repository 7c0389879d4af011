"""The Python Nunjucks engine against nunjitsu itself, expression by expression.

Every case is rendered by Backstage's renderer (oracle/nunjucks.cjs, configured as
fetch:template configures it) and by scaffold.nunjucks; outputs must be identical,
and a template one side rejects must be rejected by the other.
"""

from __future__ import annotations

import json
import random
import string
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nunjucks_oracle import render_nunjucks
from scaffold.nunjucks import Renderer, RenderError, is_undefined, prepare_context


@dataclass(frozen=True)
class Case:
    template: str
    values: dict[str, Any]
    trim_blocks: bool = False
    lstrip_blocks: bool = False
    value: bool = False


def _python_result(case: Case) -> dict[str, Any]:
    renderer = Renderer(trim_blocks=case.trim_blocks, lstrip_blocks=case.lstrip_blocks)
    try:
        context = prepare_context({"values": case.values})
        if case.value:
            result = renderer.render_value(case.template, context)
            return {"ok": True, "undefined": True} if is_undefined(result) else {"ok": True, "output": result}
        return {"ok": True, "output": renderer.render(case.template, context)}
    except RenderError as error:
        return {"ok": False, "error": str(error)}


def _compare(cases: list[Case]) -> list[str]:
    expected = render_nunjucks(
        [
            {
                "template": case.template,
                "context": {"values": case.values},
                "trimBlocks": case.trim_blocks,
                "lstripBlocks": case.lstrip_blocks,
                "value": case.value,
            }
            for case in cases
        ]
    )
    problems = []
    for case, backstage in zip(cases, expected, strict=True):
        ours = _python_result(case)
        if backstage["ok"] != ours["ok"] or (
            backstage["ok"] and json.dumps(backstage, sort_keys=True) != json.dumps(ours, sort_keys=True)
        ):
            problems.append(f"{case!r}\n  backstage: {backstage!r}\n  python:    {ours!r}")
    return problems


VALUES: dict[str, Any] = {
    "name": "orders-api",
    "text": "Quote \" and ' colon: hash # braces {} unicode é 漢字 😀\nsecond line\ttab",
    "empty": "",
    "zero": 0,
    "one": 1,
    "float": 1.5,
    "big": 1e21,
    "tiny": 1e-7,
    "negative": -2,
    "yes": True,
    "no": False,
    "nothing": None,
    "list": [1, "two", None, [3, 4], {"k": "v"}],
    "emptyList": [],
    "record": {"b": 1, "a": [True, False], "2": "two", "1": "one", "nested": {"deep": "value"}},
    "emptyRecord": {},
    "repoUrl": "github.com?owner=acme&repo=orders-api",
    "owner": "group:default/platform-team",
    "numberText": "42",
}

CURATED = [
    # Printing values the JavaScript way.
    *(
        f"${{{{ values.{name} }}}}|${{{{ values.{name} | dump }}}}|${{{{ values.{name} | length }}}}"
        for name in VALUES
    ),
    "${{ values.missing }}|${{ values.missing.deeper.still }}|${{ values.nothing.x }}",
    "${{ values.list[3][1] }}|${{ values.list.length }}|${{ values.list[9] }}|${{ values.text[0] }}",
    "${{ values.record['2'] }}|${{ values.record[1] }}|${{ values.record.items }}|${{ values.record.keys }}",
    "${{ 0.1 + 0.2 }}|${{ 1 / 3 }}|${{ 10 / 2 }}|${{ 2 ** 70 }}|${{ 7 // 2 }}|${{ -7 % 3 }}|${{ 1 / 0 }}",
    "${{ values.one + values.numberText }}|${{ values.numberText - 2 }}|${{ 'a' + values.list }}",
    "${{ values.missing ~ 'x' }}|${{ values.nothing ~ values.yes ~ values.float }}",
    # Truthiness and comparisons.
    "{% if values.emptyList %}T{% else %}F{% endif %}{% if values.emptyRecord %}T{% endif %}",
    "{% if values.empty %}T{% elif values.zero %}Z{% elseif values.one %}O{% endif %}",
    "${{ values.one == '1' }}|${{ values.one != 1 }}|${{ values.nothing == values.missing }}",
    "${{ values.no == 0 }}|${{ values.list == values.list }}|${{ 'b' > 'a' }}|${{ '10' < '9' }}",
    "${{ values.emptyList and 'x' }}|${{ values.zero or 'y' }}|${{ not values.emptyRecord }}",
    "${{ 'two' in values.list }}|${{ 2 in values.list }}|${{ 'a' in values.record }}|${{ 'ord' in values.name }}",
    "${{ 'x' if values.yes else 'y' }}|${{ 'x' if values.no }}|${{ values.yes and values.float }}",
    # Filters the skeleton may use.
    "${{ values.name | replace('-', '_') }}|${{ values.name | replace('-', '_') | upper }}",
    "${{ values.text | replace('e', 'E', 2) }}|${{ values.name | replace('', '.') }}",
    "${{ values.missing | default('d') }}|${{ values.nothing | default('d') }}|${{ values.empty | d('e', true) }}",
    "${{ values.list | join(', ') }}|${{ values.name | title }}|${{ values.text | capitalize }}",
    "${{ values.text | lower }}|${{ values.missing | upper }}|${{ '  pad ' | trim }}",
    "${{ values.list | first }}|${{ values.list | last }}|${{ values.name | first }}",
    "${{ values.record | list | dump }}|${{ values.name | list }}|${{ values.list | reverse }}",
    "${{ values.text | indent(4) }}|${{ values.text | indent(2, true) }}|${{ values.one | string }}",
    "${{ values.record | dump(2) }}|${{ values.list | dump('\\t') }}",
    "${{ values.repoUrl | parseRepoUrl | dump }}|${{ values.repoUrl | projectSlug }}",
    "${{ values.owner | parseEntityRef | pick('name') }}|${{ 'web' | parseEntityRef({defaultKind: 'component'}) | dump }}",
    "${{ values.record | pick('nested.deep') }}|${{ values.list | pick('[3][0]') }}",
    "${{ values.text is string }}|${{ values.missing is defined }}|${{ values.nothing is null }}",
    "${{ not null }}|${{ (not null) | string }}|${{ values.nothing is not null }}|${{ True }}|${{ None is none }}",
    # Statements.
    "{% for item in values.list %}${{ loop.index }}/${{ loop.length }}:${{ item }};{% else %}none{% endfor %}",
    "{% for key, item in values.record %}${{ key }}=${{ item }}{% if not loop.last %},{% endif %}{% endfor %}",
    "{% for item in values.emptyList %}x{% else %}empty{% endfor %}",
    "{% for a, b in [[1, 2], [3]] %}${{ a }}-${{ b }};{% endfor %}",
    "{% set greeting = 'hi ' ~ values.name %}${{ greeting }}{% set block %}B${{ values.one }}{% endset %}${{ block }}",
    "{% macro tag(name, suffix='!') %}<${{ name }}${{ suffix }}>{% endmacro %}${{ tag('a') }}${{ tag('b', suffix='?') }}",
    "${{ range(3) }}|${{ range(1, 7, 2) | join('+') }}|${{ values.list[1:3] }}|${{ values.name[::-1] | join('') }}",
    "${{ {a: 1, 'b c': values.name} | dump }}|${{ [values.one, values.missing, values.nothing] | dump }}",
    # Whitespace control, comments, raw.
    "a  {%- if true -%}  b  {%- endif -%}  c ${{- values.name -}} d {#- note -#} e",
    "line\n  {% if values.yes %}\n  kept\n  {% endif %}\n{# comment #}\nend\n",
    "{% raw %}${{ github.sha }} {% if %}{% endraw %}|${{ '${{ github.ref }}' }}",
    "crlf\r\n{% if values.yes %}\r\nyes\r\n{% endif %}\r\n",
    "plain {{ not a variable }} $ {",
    # Errors both sides must report.
    "${{ values.name | nosuchfilter }}",
    "{% if values.yes %}unterminated",
    "${{ values.missing() }}",
    "stray #} comment end",
    "{% include 'x.njk' %}",
]


def _curated_cases() -> list[Case]:
    cases = []
    for template in CURATED:
        for trim, lstrip in ((False, False), (True, False), (False, True), (True, True)):
            cases.append(Case(template, VALUES, trim, lstrip))
    cases += [Case(template, VALUES, value=True) for template in CURATED if template.startswith("${{")]
    cases += [
        Case("${{ values.missing }}", VALUES, value=True),
        Case("${{ values.record }}", VALUES, value=True),
        Case(" ${{ values.yes }}", VALUES, value=True),
        Case("${{ values.yes }}{# c #}", VALUES, value=True),
    ]
    return cases


def test_curated_cases_match_backstage() -> None:
    problems = _compare(_curated_cases())
    assert not problems, f"{len(problems)} differences:\n" + "\n".join(problems[:10])


# --- generated templates ---------------------------------------------------------------
# Each hypothesis example seeds a generator for a batch of templates and data, so that one
# Node process renders the whole batch (drawing 40 recursive templates through hypothesis's
# own strategies costs minutes per example).

FILTERS = [
    "upper", "lower", "title", "capitalize", "length", "dump", "first", "last", "reverse", "list",
    "join('-')", "join", "default('x')", "default('x', true)", "replace('a', 'b')", "replace(1, 2)",
    "indent(2)", "string", "trim",
]  # fmt: skip
OPERATORS = ["+", "-", "*", "/", "%", "~", "==", "!=", "<", ">=", "and", "or", "in"]
TEXT_ALPHABET = string.ascii_letters + " \n\t-:#{}$%\"'é漢😀"


def _text(rng: random.Random, size: int = 8) -> str:
    return "".join(rng.choice(TEXT_ALPHABET) for _ in range(rng.randint(0, size)))


def _json_value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(8 if depth < 2 else 6)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice([True, False])
    if kind == 2:
        return rng.randint(-(2**60), 2**60) if rng.random() < 0.2 else rng.randint(-100, 100)
    if kind == 3:
        return rng.choice([0.5, -1.25, 1e21, 1e-7, 123.456, 2.0, rng.uniform(-1e6, 1e6)])
    if kind in (4, 5):
        return _text(rng)
    if kind == 6:
        return [_json_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    keys = ["a", "b", "1", "0", "length", "x y", _text(rng, 3) or "k"]
    return {rng.choice(keys): _json_value(rng, depth + 1) for _ in range(rng.randint(0, 3))}


def _path(rng: random.Random) -> str:
    return "values." + rng.choice("abcd") + rng.choice(["", ".a", "[0]", ".length", "[1]", ".missing.x"])


def _literal(rng: random.Random) -> str:
    choice = rng.randrange(3)
    if choice == 0:
        return str(rng.randint(-100, 100))
    if choice == 1:
        return rng.choice(["0.5", "true", "false", "none", "null", "[]", "[1, 'x']", "{}", "{k: 1}"])
    return json.dumps(_text(rng, 6), ensure_ascii=False)


def _expression(rng: random.Random, depth: int = 0) -> str:
    kind = rng.randrange(3 if depth >= 3 else 7)
    if kind == 0:
        return _path(rng)
    if kind in (1, 2):
        return _literal(rng)
    if kind == 3:
        return f"{_expression(rng, depth + 1)} | {rng.choice(FILTERS)}"
    if kind == 4:
        return f"({_expression(rng, depth + 1)} {rng.choice(OPERATORS)} {_expression(rng, depth + 1)})"
    if kind == 5:
        return f"(not {_expression(rng, depth + 1)})"
    parts = (_expression(rng, depth + 1) for _ in range(3))
    return "({} if {} else {})".format(*parts)


def _template(rng: random.Random, depth: int = 0) -> str:
    pieces = []
    for _ in range(rng.randint(1, 4)):
        kind = rng.randrange(2 if depth >= 2 else 4)
        pad = rng.choice(["", "  ", "\t"])
        if kind == 0:
            pieces.append(_text(rng))
        elif kind == 1:
            left, right = rng.choice(["", "-"]), rng.choice(["", "-"])
            pieces.append("${{" + left + " " + _expression(rng) + " " + right + "}}")
        elif kind == 2:
            body, other = _template(rng, depth + 1), _template(rng, depth + 1)
            pieces.append(
                f"{pad}{{% if {_expression(rng)} %}}\n{body}{pad}{{% else %}}{other}{{% endif %}}\n"
            )
        else:
            body = _template(rng, depth + 1)
            pieces.append(
                f"{pad}{{% for item in {_path(rng)} %}}${{{{ loop.index }}}}{body}${{{{ item }}}}{{% endfor %}}\n"
            )
    return "".join(pieces)


def _generated_case(rng: random.Random) -> Case:
    values = {name: _json_value(rng) for name in "abcd"}
    return Case(_template(rng), values, rng.random() < 0.5, rng.random() < 0.5)


@settings(max_examples=10, deadline=None)
@given(st.integers(min_value=0, max_value=2**64))
def test_generated_templates_match_backstage(seed: int) -> None:
    rng = random.Random(seed)
    problems = _compare([_generated_case(rng) for _ in range(60)])
    assert not problems, f"{len(problems)} differences:\n" + "\n".join(problems[:5])


@pytest.mark.parametrize(
    ("number", "printed"),
    [(1.0, "1"), (1e21, "1e+21"), (1e-7, "1e-7"), (123e-20, "1.23e-18"), (0.000001, "0.000001"), (-0.0, "0")],
)
def test_numbers_print_as_javascript_does(number: float, printed: str) -> None:
    assert Renderer().render("${{ values.n }}", prepare_context({"values": {"n": number}})) == printed
