"""Write ``skeleton/${{ 'asyncapi.json' if values.events == 'redis-streams' else '' }}``,
the AsyncAPI description a service with events commits, as a template, so that a fresh
service's ``make asyncapi`` changes nothing::

    uv run python -m scaffold.asyncapi_skeleton

One variant with events is rendered, installed with uv and asked for its document (``python
-m <package>.events.asyncapi``); no other choice changes it, and the service's name appears
only in the title and the stream's address, which become template expressions. The template
is then rendered under another name and must give back that service's document.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from scaffold.openapi_skeleton import NAME, REPOSITORY
from scaffold.openapi_skeleton import SAMPLE_VALUES as SERVICE_VALUES
from scaffold.workflow import Template, run_template

SKELETON_DOCUMENT = (
    REPOSITORY / "skeleton" / "${{ 'asyncapi.json' if values.events == 'redis-streams' else '' }}"
)
SAMPLE_VALUES = {**SERVICE_VALUES, "database": "none", "events": "redis-streams"}
# The document's only values that come from the service's name: (JSON text, template).
NAMED = (
    (json.dumps(f"{NAME} events"), "${{ (values.name + ' events') | dump }}"),
    (json.dumps(f"{NAME}:product-events"), "${{ (values.name + ':product-events') | dump }}"),
)


def variant_document(template: Template, values: dict[str, Any], target: Path) -> str:
    run_template(template, values, target)
    package = str(values["name"]).replace("-", "_")
    subprocess.run(
        ["uv", "run", "--quiet", "python", "-m", f"{package}.events.asyncapi"], cwd=target, check=True
    )
    return (target / "asyncapi.json").read_text(encoding="utf-8")


def skeleton_text(document: str) -> str:
    for text, expression in NAMED:
        if document.count(text) != 1:
            sys.exit(f"expected {text} once in the document, found it {document.count(text)} times")
        document = document.replace(text, expression)
    if NAME in document:
        sys.exit(f"the document names {NAME!r} outside the title and the stream's address")
    return document


def main() -> None:
    template = Template.load(REPOSITORY / "template.yaml")
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        document = variant_document(template, SAMPLE_VALUES, work / "sample")
        SKELETON_DOCUMENT.write_text(skeleton_text(document), encoding="utf-8")
        # The skeleton is read again: another name's render must be that service's document.
        other = {**SAMPLE_VALUES, "name": "billing-svc", "repoUrl": "github.com?owner=acme&repo=billing-svc"}
        rendered = work / "check"
        rendered.mkdir()
        run_template(Template.load(REPOSITORY / "template.yaml"), other, rendered)
        expected = variant_document(template, other, work / "other")
        if (rendered / "asyncapi.json").read_text(encoding="utf-8") != expected:
            sys.exit("the template does not give back another service's document")


if __name__ == "__main__":
    main()
