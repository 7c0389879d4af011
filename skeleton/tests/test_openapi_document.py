"""The committed OpenAPI description (openapi.json) is the code's, and it tells every answer:
each error response with the error envelope and its headers, a summary and a description
on every operation, and the tenant header's rule in its schema."""

import json
import re
from pathlib import Path
from typing import Any

import pytest

from ${{ values.packageName }}.core.tenancy import TENANT_ID_HEADER, is_well_formed_tenant_id
from ${{ values.packageName }}.openapi import openapi_document

COMMITTED = Path(__file__).resolve().parents[1] / "openapi.json"
ENVELOPE = {"$ref": "#/components/schemas/ErrorEnvelope"}
# The probes answer 503 with their own report, for the orchestrator.
PROBE_REPORTS = {("/health/startup", "503"), ("/health/ready", "503")}
HEADERS_OF_ERRORS = {
    "429": "Retry-After",
    "503": "Retry-After",
{% if values.auth == 'jwt' %}
    "401": "WWW-Authenticate",
    "403": "WWW-Authenticate",
{% endif %}
}


def test_the_committed_document_is_the_code_s() -> None:
    if COMMITTED.read_text(encoding="utf-8") != openapi_document():
        pytest.fail("openapi.json differs from the code: run `make openapi` and commit it")


@pytest.fixture(scope="module")
def operations() -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, item in json.loads(openapi_document())["paths"].items()
        for method, operation in item.items()
    ]


def test_every_error_response_has_the_envelope_and_its_headers(
    operations: list[tuple[str, str, dict[str, Any]]],
) -> None:
    problems = []
    for path, method, operation in operations:
        for status, response in operation["responses"].items():
            if int(status) < 400 or (path, status) in PROBE_REPORTS:
                continue
            schema = response.get("content", {}).get("application/json", {}).get("schema")
            if schema != ENVELOPE:
                problems.append(f"{method} {path} {status}: no error envelope")
            header = HEADERS_OF_ERRORS.get(status)
            if header and not response.get("headers", {}).get(header, {}).get("required"):
                problems.append(f"{method} {path} {status}: {header} not declared")

    assert not problems, problems


def test_every_operation_has_a_summary_a_description_and_the_pipeline_s_errors(
    operations: list[tuple[str, str, dict[str, Any]]],
) -> None:
    for path, method, operation in operations:
        assert operation.get("summary"), (method, path)
        assert operation.get("description"), (method, path)
        assert {"413", "431", "500", "504"} <= operation["responses"].keys(), (method, path)


@pytest.mark.parametrize(
    "tenant", ["a", "A.b_c-9", "x" * 100, "", "x" * 101, "-a", ".a", "a b", "a/b", "é", "a\n"]
)
def test_the_tenant_header_schema_is_the_rule_the_service_applies(
    operations: list[tuple[str, str, dict[str, Any]]], tenant: str
) -> None:
    schemas = [
        parameter["schema"]
        for path, _, operation in operations
        if path.startswith("/api/")
        for parameter in operation["parameters"]
        if parameter["name"] == TENANT_ID_HEADER and parameter["in"] == "header"
    ]
{% if values.events == 'redis-streams' %}
    assert len(schemas) == 6  # the five product routes and the product event stream
{% else %}
    assert len(schemas) == 5
{% endif %}
    schema = schemas[0]
    # As JSON Schema reads it: an ECMAScript pattern, which `$` ends only at the very end.
    fits = (
        schema["minLength"] <= len(tenant) <= schema["maxLength"]
        and re.search(schema["pattern"].removesuffix("$") + r"\Z", tenant) is not None
    )

    assert all(other == schema for other in schemas)
    assert fits == is_well_formed_tenant_id(tenant)


def _leaves(schema: dict[str, Any], components: dict[str, Any]) -> list[dict[str, Any]]:
    """The typed schemas inside ``schema``: references followed, alternatives and fields."""
    if "$ref" in schema:
        return _leaves(components[schema["$ref"].rsplit("/", 1)[1]], components)
    parts = [*schema.get("anyOf", []), *schema.get("properties", {}).values()]
    if "items" in schema:
        parts.append(schema["items"])
    return [schema, *(leaf for part in parts for leaf in _leaves(part, components))]


def test_every_input_is_bounded_in_the_schema() -> None:
    """What .spectral.yaml says of the OWASP string and integer rules it turns off: every
    string a client sends has a maxLength, pattern, format or enum (If-Match aside, bounded
    by the header size limit) and every integer a minimum and a maximum."""
    document = json.loads(openapi_document())
    components = document["components"]["schemas"]
    inputs = []
    for item in document["paths"].values():
        for operation in item.values():
            inputs += [(p["name"], p["schema"]) for p in operation.get("parameters", [])]
            for content in operation.get("requestBody", {}).get("content", {}).values():
                inputs.append(("body", content["schema"]))
    unbounded = [
        name
        for name, schema in inputs
        if name.lower() != "if-match"
        for leaf in _leaves(schema, components)
        if (
            leaf.get("type") == "string"
            and not {"maxLength", "pattern", "format", "enum"} & leaf.keys()
        )
        or (leaf.get("type") == "integer" and not {"minimum", "maximum"} <= leaf.keys())
    ]

    assert inputs
    assert not unbounded
