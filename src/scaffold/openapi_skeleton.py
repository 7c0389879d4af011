"""Write ``skeleton/openapi.json``, the OpenAPI description each generated service commits,
as a template: the document of every variant that has its own, merged line by line under
``{% if %}`` blocks, so a fresh service's ``make openapi`` changes nothing::

    uv run python -m scaffold.openapi_skeleton

Each variant is rendered, installed with uv and asked for its document (``python -m
<package>.openapi``); the merged template is then rendered for every variant again and must
give back each document byte for byte. ``tests/test_every_variant_static_checks.py`` checks
the committed template against every combination of the form's choices.
"""

from __future__ import annotations

import difflib
import itertools
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from scaffold.workflow import Template, run_template

REPOSITORY = Path(__file__).resolve().parents[2]
SKELETON_DOCUMENT = REPOSITORY / "skeleton" / "openapi.json"
NAME = "orders-api"
SAMPLE_VALUES = {
    "name": NAME,
    "description": "Orders",
    "owner": "group:default/platform-team",
    "repoUrl": "github.com?owner=acme&repo=orders-api",
}
DATABASES = ("aurora-postgresql", "aurora-mysql", "dynamodb", "none")
AUTHS = ("jwt", "none")
EVENTS = ("redis-streams", "none")
TITLE_LINE = f'    "title": {json.dumps(NAME)},'
TITLE_TEMPLATE = '    "title": ${{ values.name | dump }},'

Lines = list[str]


def variant_document(template: Template, values: dict[str, Any], work: Path) -> str:
    target = work / f"{values['database']}-{values['auth']}-{values['events']}"
    target.mkdir()
    run_template(template, values, target)
    subprocess.run(
        ["uv", "run", "--quiet", "python", "-m", NAME.replace("-", "_") + ".openapi"],
        cwd=target,
        check=True,
    )
    return (target / "openapi.json").read_text(encoding="utf-8")


# (database, auth, events): no other choice changes the document.
Variant = tuple[str, str, str]
Pair = tuple[str, str]  # (database, auth)


def aligned(documents: dict[Variant, Lines]) -> list[tuple[str, frozenset[Variant]]]:
    """Every document's lines in one sequence, each line with the variants that have it;
    a variant's lines, in order, are its document."""
    merged: list[tuple[str, frozenset[Variant]]] = []
    for variant, lines in documents.items():
        texts = [text for text, _ in merged]
        matcher = difflib.SequenceMatcher(None, texts, lines, autojunk=False)
        grown: list[tuple[str, frozenset[Variant]]] = []
        for operation, start, end, other_start, other_end in matcher.get_opcodes():
            if operation == "equal":
                grown += [(text, owners | {variant}) for text, owners in merged[start:end]]
            else:
                grown += merged[start:end]
                grown += [(text, frozenset({variant})) for text in lines[other_start:other_end]]
        merged = grown
    return merged


def _database_condition(databases: frozenset[str]) -> str | None:
    sql = frozenset({"aurora-postgresql", "aurora-mysql"})
    if databases == frozenset(DATABASES):
        return None
    if databases == sql:
        return "values.sqlDatabase"
    if databases == frozenset(DATABASES) - sql:
        return "not values.sqlDatabase"
    if len(databases) == 1:
        return f"values.database == '{next(iter(databases))}'"
    if len(databases) == len(DATABASES) - 1:
        (missing,) = frozenset(DATABASES) - databases
        return f"values.database != '{missing}'"
    return f"values.database in {sorted(databases)!r}"


def condition(owners: frozenset[Variant]) -> str:
    """The skeleton's test for these variants: per events choice, the (database, auth)
    pairs that have the line."""
    by_events = {events: frozenset((d, a) for d, a, e in owners if e == events) for events in EVENTS}
    if by_events["redis-streams"] == by_events["none"]:
        return _pair_condition(by_events["none"])
    tests = {
        "redis-streams": "values.events == 'redis-streams'",
        "none": "values.events != 'redis-streams'",
    }
    everyone = frozenset((d, a) for d in DATABASES for a in AUTHS)
    terms: list[str] = []
    for events, pairs in by_events.items():
        if not pairs:
            continue
        other = by_events["none" if events == "redis-streams" else "redis-streams"]
        if pairs == everyone:
            terms.insert(0, tests[events])
            continue
        inner = _pair_condition(pairs)
        if other == everyone:  # "or" needs no events test on this side
            terms.append(inner)
        else:
            grouped = f"({inner})" if " or " in inner else inner
            terms.append(f"{tests[events]} and {grouped}")
    return " or ".join(terms)


def _pair_condition(owners: frozenset[Pair]) -> str:
    """Per auth, the databases that have the line."""
    by_auth = {auth: frozenset(d for d, a in owners if a == auth) for auth in AUTHS}
    tests = {"jwt": "values.auth == 'jwt'", "none": "values.auth != 'jwt'"}
    if by_auth["jwt"] == by_auth["none"]:
        database = _database_condition(by_auth["jwt"])
        assert database is not None
        return database
    terms: list[str] = []
    for auth, databases in by_auth.items():
        if databases:
            database = _database_condition(databases)
            # When one auth has the line with every database, "or" needs no auth test on the
            # other side.
            other = by_auth["none" if auth == "jwt" else "jwt"]
            if database is None:
                terms.insert(0, tests[auth])
            elif other == frozenset(DATABASES):
                terms.append(database)
            else:
                terms.append(f"{tests[auth]} and {database}")
    return " or ".join(terms)


def merged_template(documents: dict[Variant, str]) -> str:
    everyone = frozenset(documents)
    lines: Lines = []
    chain: set[Variant] = set()  # the variants of the open if/elif chain's branches
    last_owners: frozenset[Variant] = frozenset()
    for line, owners in aligned({key: doc.splitlines() for key, doc in documents.items()}):
        text = TITLE_TEMPLATE if line == TITLE_LINE else line
        if owners == everyone:
            if chain:
                lines.append("{% endif %}")
                chain = set()
            lines.append(text)
            continue
        if chain and owners == last_owners:
            lines.append(text)
            continue
        if chain and owners.isdisjoint(chain):
            lines.append(f"{{% elif {condition(owners)} %}}")
        else:
            if chain:
                lines.append("{% endif %}")
            chain = set()
            lines.append(f"{{% if {condition(owners)} %}}")
        chain |= owners
        last_owners = owners
        lines.append(text)
    if chain:
        lines.append("{% endif %}")
    return "\n".join(lines) + "\n"


def variant_values(variant: Variant) -> dict[str, Any]:
    database, auth, events = variant
    return {**SAMPLE_VALUES, "database": database, "auth": auth, "events": events}


def collect_documents(template: Template, work: Path) -> dict[Variant, str]:
    return {
        variant: variant_document(template, variant_values(variant), work)
        for variant in itertools.product(DATABASES, AUTHS, EVENTS)
    }


def main() -> None:
    template = Template.load(REPOSITORY / "template.yaml")
    with tempfile.TemporaryDirectory() as directory:
        work = Path(directory)
        documents = collect_documents(template, work)
        SKELETON_DOCUMENT.write_text(merged_template(documents), encoding="utf-8")
        # The skeleton is read again: the check renders the template just written.
        template = Template.load(REPOSITORY / "template.yaml")
        for variant, document in documents.items():
            check = work / f"check-{'-'.join(variant)}"
            check.mkdir()
            run_template(template, variant_values(variant), check)
            if (check / "openapi.json").read_text(encoding="utf-8") != document:
                sys.exit(f"the merged template does not give back {check.name}'s document")


if __name__ == "__main__":
    main()
