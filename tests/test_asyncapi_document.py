"""The AsyncAPI document a service with events commits (``asyncapi.json``) is a valid
AsyncAPI 3.0 document: checked against the JSON schema of ``@asyncapi/specs``, the
AsyncAPI initiative's own schemas, at the version ``oracle/package-lock.json`` pins (it
comes with Spectral's rulesets)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from scaffold.workflow import Template, run_template
from template_matrix import BASE_VALUES, TEMPLATE_PATH

ROOT = TEMPLATE_PATH.parent
SPECS = ROOT / "oracle" / "node_modules" / "@asyncapi" / "specs"
SCHEMA = SPECS / "schemas" / "3.0.0-without-$id.json"


@pytest.fixture(scope="module")
def validator() -> jsonschema.protocols.Validator:
    if not SCHEMA.is_file():
        if os.environ.get("CI", "").lower() in {"true", "1"}:
            pytest.fail(f"{SCHEMA} is missing: run `npm ci --prefix oracle`")
        pytest.skip("oracle/node_modules is missing: run `npm ci --prefix oracle`")
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    validator_class = jsonschema.validators.validator_for(schema)
    return validator_class(schema)


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("events")
    run_template(Template.load(TEMPLATE_PATH), {**BASE_VALUES, "events": "redis-streams"}, root)
    parsed: dict[str, Any] = json.loads((root / "asyncapi.json").read_text(encoding="utf-8"))
    return parsed


def test_the_specs_are_the_pinned_ones() -> None:
    lock = json.loads((ROOT / "oracle" / "package-lock.json").read_text(encoding="utf-8"))
    pinned = lock["packages"]["node_modules/@asyncapi/specs"]["version"]
    if not SPECS.is_dir():
        pytest.skip("oracle/node_modules is missing")
    installed = json.loads((SPECS / "package.json").read_text(encoding="utf-8"))["version"]
    assert installed == pinned


def test_the_document_is_valid_asyncapi_3(
    validator: jsonschema.protocols.Validator, document: dict[str, Any]
) -> None:
    assert document["asyncapi"] == "3.0.0"
    problems = [
        f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
        for error in validator.iter_errors(document)
    ]
    assert not problems, "\n".join(problems[:10])


def test_the_check_finds_an_invalid_document(
    validator: jsonschema.protocols.Validator, document: dict[str, Any]
) -> None:
    # AsyncAPI 2's verb: 3.0 operations only send or receive.
    broken = json.loads(json.dumps(document))
    (operation,) = broken["operations"].values()
    operation["action"] = "publish"
    assert list(validator.iter_errors(broken))


def test_the_service_name_is_in_the_title_and_the_stream(tmp_path: Path) -> None:
    values = {**BASE_VALUES, "name": "billing-svc", "events": "redis-streams"}
    run_template(Template.load(TEMPLATE_PATH), values, tmp_path)
    document = json.loads((tmp_path / "asyncapi.json").read_text(encoding="utf-8"))
    assert document["info"]["title"] == "billing-svc events"
    assert [channel["address"] for channel in document["channels"].values()] == ["billing-svc:product-events"]
