"""A render says only what is true of its own choices: no file (code, comments, docs,
delivery files) mentions the technologies of a choice the render did not make.

Renders the pairwise-covering set of submissions, which holds every value of every option.
Each rule names the terms of one choice and when they are foreign to a render; a match is
reported as ``variant: rule: path:line: text``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from scaffold.workflow import Template, run_template
from template_matrix import AURORA, TEMPLATE_PATH, combination_id, pairwise_submissions

Values = dict[str, Any]


@dataclass(frozen=True)
class Rule:
    name: str
    foreign: Callable[[Values], bool]
    terms: re.Pattern[str]


def _terms(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


RULES = [
    Rule("PostgreSQL", lambda v: v["database"] != "aurora-postgresql", _terms(r"postgres|asyncpg|psycopg")),
    Rule("MySQL", lambda v: v["database"] != "aurora-mysql", _terms(r"mysql|mariadb")),
    Rule("DynamoDB", lambda v: v["database"] != "dynamodb", _terms(r"dynamo|\bmoto\b")),
    # boto3 also signs Aurora's IAM tokens.
    Rule("AWS SDK", lambda v: v["database"] == "none", _terms(r"boto")),
    Rule("SQL database", lambda v: v["database"] not in AURORA, _terms(r"alembic|sqlalchemy|aurora|sqlite")),
    Rule("ORM", lambda v: v.get("orm") != "sqlalchemy", _terms(r"\borm\b|declarative|mapped_column")),
    Rule("Celery", lambda v: v["taskQueue"] != "celery", _terms(r"celery")),
    Rule("arq", lambda v: v["taskQueue"] != "arq", _terms(r"\barq")),
    Rule(
        "task queue",
        lambda v: v["taskQueue"] == "none",
        # "notify" alone is a general verb (the outbox relay is notified of commits).
        _terms(r"task queues?|task worker|\bnotific|notify_product|enqueue|\bbroker|worker deployment"),
    ),
    Rule("Datadog", lambda v: v["tracing"] != "datadog", _terms(r"datadog|ddtrace|dogstatsd|\bdd[._]")),
    Rule(
        "OpenTelemetry",
        lambda v: v["tracing"] != "opentelemetry",
        _terms(r"otlp|\botel_|traceparent|opentelemetry-"),
    ),
    Rule("JWT", lambda v: v["auth"] != "jwt", _terms(r"jwt|jwks|bearer")),
    Rule(
        "Redis",
        lambda v: v["cache"] == "none" and v["taskQueue"] == "none" and v.get("events", "none") == "none",
        _terms(r"redis|elasticache"),
    ),
    Rule(
        "events",
        lambda v: v.get("events", "none") == "none",
        # Outboxes and dead letters also belong to the task queue; these belong to events alone.
        _terms(r"asyncapi|redis streams?|event stream|server-sent|consumer group|upcast|product\.created\b"),
    ),
    # "cache" alone also names Docker's and uv's build caches, functools.cache and
    # Cache-Control: these phrases name the service's product cache.
    Rule(
        "cache",
        lambda v: v["cache"] == "none",
        _terms(r"cache[- ]aside|\b(the|a) (redis )?cache\b|\bcache's|\bcache, "),
    ),
]


@dataclass(frozen=True)
class Allowed:
    """A mention that is true of the render it is in."""

    rule: str
    path: str
    line: re.Pattern[str]
    reason: str


ALLOWED = [
    Allowed(
        "JWT",
        "src/*/core/logging.py",
        _terms(r"bearer|jwt|eyJ"),
        "every service redacts bearer credentials and JWT-shaped strings from its logs",
    ),
    Allowed("JWT", "tests/test_logging.py", _terms(r"bearer"), "the tests of that redaction"),
    Allowed("JWT", "docs/security.md", _terms(r"bearer|jwt"), "the docs of that redaction"),
    # `scaffold update` renders the template again from these answers, so every parameter is
    # recorded by name, the ones answered "no" too.
    Allowed("ORM", ".template-answers.json", _terms(r'^ *"orm": "none",$'), "the recorded answer"),
]


def _allowed(rule: Rule, path: str, line: str) -> bool:
    return any(
        allowed.rule == rule.name and Path(path).match(allowed.path) and allowed.line.search(line)
        for allowed in ALLOWED
    )


def foreign_mentions(values: Values, root: Path) -> list[str]:
    """Every line of the render at root that names a choice the render did not make."""
    rules = [rule for rule in RULES if rule.foreign(values)]
    found = []
    for file in sorted(path for path in root.rglob("*") if path.is_file()):
        try:
            text = file.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        relative = file.relative_to(root).as_posix()
        found += [
            f"{rule.name}: {relative}:{number}: {line.strip()}"
            for number, line in enumerate(text.splitlines(), start=1)
            for rule in rules
            if rule.terms.search(line) and not _allowed(rule, relative, line)
        ]
    return found


SUBMISSIONS = pairwise_submissions()


def test_the_submissions_hold_every_value_of_every_choice() -> None:
    for name in ("database", "orm", "cache", "taskQueue", "events", "auth", "tracing"):
        seen = {values.get(name) for values in SUBMISSIONS}
        assert len(seen - {None}) >= 2, name


@pytest.mark.parametrize("values", SUBMISSIONS, ids=[combination_id(values) for values in SUBMISSIONS])
def test_a_render_mentions_no_other_choice(values: Values, tmp_path: Path) -> None:
    resolved = run_template(Template.load(TEMPLATE_PATH), values, tmp_path).parameters
    found = foreign_mentions(resolved, tmp_path)
    assert not found, f"{len(found)} mentions of choices this render did not make:\n" + "\n".join(found)


def test_the_check_finds_a_foreign_mention(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "index.md").write_text("Reads products.\nSee MariaDB's docs.\n", encoding="utf-8")
    values: Values = {"database": "aurora-postgresql", "cache": "none", "taskQueue": "none"}
    values |= {"auth": "none", "tracing": "none"}
    assert foreign_mentions(values, tmp_path) == ["MySQL: docs/index.md:2: See MariaDB's docs."]
