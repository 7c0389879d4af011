"""Locating where a value breaks a schema pattern, for the one-line error of `scaffold`."""

from __future__ import annotations

import pytest
import regress

from scaffold.pattern_position import first_offending_index
from scaffold.workflow import Template, TemplateInputError, known_parameters, resolve_parameters
from template_matrix import TEMPLATE_PATH

PATTERNS = {
    name: schema["pattern"]
    for name, schema in known_parameters(Template.load(TEMPLATE_PATH)).items()
    if "pattern" in schema
}


@pytest.mark.parametrize(
    ("field", "value", "index"),
    [
        pytest.param("name", "orders_api", 6, id="name-underscore"),
        pytest.param("name", "9orders", 0, id="name-digit-first"),
        pytest.param("name", "orders-", 7, id="name-ends-early"),
        pytest.param("name", "", 0, id="name-empty"),
        pytest.param("description", "1) Intro", 2, id="description-list-marker"),
        pytest.param("description", "1.5 million rows", 16, id="description-valid"),
        pytest.param("description", "see [docs](x)", 10, id="description-markdown-link"),
        pytest.param("description", "tab\there", 3, id="description-tab"),
        pytest.param("description", "a" * 200 + "{#", 200, id="description-long"),
        pytest.param("owner", "group:default/", 14, id="owner-ends-after-slash"),
        pytest.param("owner", "group:" + "a" * 64, 69, id="owner-name-too-long"),
        pytest.param("repoUrl", "github.com?owner=acme&repo=orders-api", 37, id="repo-url-valid"),
        pytest.param("repoUrl", "github.com?owner=-acme&repo=x", 17, id="repo-url-owner-hyphen"),
    ],
)
def test_first_offending_character_of_the_template_patterns(field: str, value: str, index: int) -> None:
    assert first_offending_index(PATTERNS[field], value) == index
    # A value with an offending character does not match; one that matches has none.
    if regress.Regex(PATTERNS[field], "u").find(value) is not None:
        assert index == len(value)


@pytest.mark.parametrize(
    ("pattern", "value"),
    [
        pytest.param(r"^(a)\1$", "ab", id="back-reference"),
        pytest.param(r"^a(?<=a)b$", "ac", id="lookbehind"),
        pytest.param(r"^\bword$", "x", id="word-boundary"),
        pytest.param(r"^(", "x", id="unparsable"),
    ],
)
def test_syntax_it_cannot_follow_gives_no_position(pattern: str, value: str) -> None:
    assert first_offending_index(pattern, value) is None


def test_error_shows_a_pattern_it_cannot_follow() -> None:
    """Without a position to name, the one-line error falls back to the pattern itself."""
    page = {"properties": {"code": {"type": "string", "pattern": r"^(a)\1$", "description": "Twice a."}}}
    template = Template(TEMPLATE_PATH, {"spec": {"parameters": [page]}})
    with pytest.raises(TemplateInputError) as raised:
        resolve_parameters(template, {"code": "ab"})
    assert str(raised.value) == (
        "parameter 'code': 'ab' breaks the pattern rule: it must match ^(a)\\1$. Twice a."
    )
