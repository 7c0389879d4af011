"""Answer migrations: how a template release carries the answers older versions recorded.

A release that renames a parameter, or changes the values it takes, declares it in
`answer-migrations.yaml` at the template's root, a list of entries such as

    - version: 0.2.0        # the release that made the change
      parameter: datadog    # the name older versions recorded
      renamedTo: tracing    # optional: its name from that release on
      values:               # optional: every recorded value and the value it becomes
        true: datadog
        false: none

`scaffold update` reads the file of the version it updates to, so the newest declaration
decides, and applies the entries of versions after the service's recorded one, oldest
first, before the answers are checked against the target's form. The file is read by this
module only, with YAML 1.1 (PyYAML): `yes`, `no`, `on` and `off` are booleans there.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from scaffold.workflow import describe_yaml_error

MIGRATIONS_FILE = "answer-migrations.yaml"
_VERSION = re.compile(r"(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)")
_KEYS = ("version", "parameter", "renamedTo", "values")
# What a form answer can be that a value map can match (JSON's scalars).
_SCALARS = (str, bool, int, float, type(None))


class AnswerMigrationError(Exception):
    """A bad declaration, or a recorded answer it does not cover; the message is one line."""


@dataclass(frozen=True)
class AnswerMigration:
    where: str  # the file and line of the entry, for messages
    version: str
    parameter: str
    renamed_to: str | None
    # (recorded value, new value) pairs; None keeps the value.
    values: tuple[tuple[Any, Any], ...] | None

    @property
    def name(self) -> str:
        return self.renamed_to or self.parameter


def load_migrations(text: str, where: str) -> list[AnswerMigration]:
    """The entries of a migrations file (`where` names it in messages), checked."""
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        document = loader.construct_document(root) if root is not None else []
    except yaml.YAMLError as error:
        raise AnswerMigrationError(describe_yaml_error(Path(where), error)) from error
    finally:
        loader.dispose()
    if root is None:  # an empty file declares nothing
        return []
    if not isinstance(root, yaml.SequenceNode):
        raise AnswerMigrationError(f"{where}: expected a list of migrations")
    lines = [node.start_mark.line + 1 for node in root.value]
    return [_entry(entry, f"{where}:{line}") for entry, line in zip(document, lines, strict=True)]


def _entry(entry: object, where: str) -> AnswerMigration:
    if not isinstance(entry, dict):
        raise AnswerMigrationError(f"{where}: expected a mapping with {', '.join(_KEYS)}")
    unknown = [str(key) for key in entry if key not in _KEYS]
    if unknown:
        raise AnswerMigrationError(f"{where}: unknown key {unknown[0]!r}; an entry has {', '.join(_KEYS)}")
    version, parameter, renamed_to = entry.get("version"), entry.get("parameter"), entry.get("renamedTo")
    if not isinstance(version, str) or not _VERSION.fullmatch(version):
        raise AnswerMigrationError(f"{where}: version must be major.minor.patch, got {version!r}")
    if not isinstance(parameter, str) or not parameter:
        raise AnswerMigrationError(f"{where}: parameter must be a parameter's name, got {parameter!r}")
    if renamed_to is not None and (not isinstance(renamed_to, str) or renamed_to in ("", parameter)):
        raise AnswerMigrationError(f"{where}: renamedTo must be another parameter's name, got {renamed_to!r}")
    values = entry.get("values")
    if values is not None:
        if not isinstance(values, dict) or not values:
            raise AnswerMigrationError(f"{where}: values must map each recorded value to its new value")
        odd = [item for pair in values.items() for item in pair if not isinstance(item, _SCALARS)]
        if odd:
            raise AnswerMigrationError(
                f"{where}: values maps text, numbers, true, false and null only, got {odd[0]!r}"
            )
    if renamed_to is None and values is None:
        raise AnswerMigrationError(f"{where}: an entry needs renamedTo, values or both")
    pairs = tuple(values.items()) if values is not None else None
    return AnswerMigration(where, version, parameter, renamed_to, pairs)


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def _same(left: Any, right: Any) -> bool:
    # JSON and YAML keep true and 1 apart; Python's == does not.
    return type(left) is type(right) and bool(left == right)


def migrate(
    migrations: Collection[AnswerMigration],
    recorded_version: str,
    answers: Mapping[str, Any],
    known: Mapping[str, Mapping[str, Any]],
) -> tuple[dict[str, Any], list[str]]:
    """The answers with every migration after `recorded_version` applied, oldest first, and a
    line per change. `known` is the target form's parameters and their schemas: every answer a
    migration leaves is one of them, with a value of its enum if it has one."""
    if not migrations:
        return dict(answers), []
    if not _VERSION.fullmatch(recorded_version):
        raise AnswerMigrationError(
            f"recorded version {recorded_version!r} is not major.minor.patch, "
            "so the template's answer migrations cannot be ordered after it"
        )
    after = _version_key(recorded_version)
    migrated, changes = dict(answers), []
    # Each name a migration left an answer under, with the last migration that did.
    moved: dict[str, AnswerMigration] = {}
    for migration in sorted(migrations, key=lambda migration: _version_key(migration.version)):
        if _version_key(migration.version) <= after or migration.parameter not in migrated:
            continue
        value = migrated[migration.parameter]
        new_value = value
        if migration.values is not None:
            found = [new for old, new in migration.values if _same(old, value)]
            if not found:
                raise AnswerMigrationError(
                    f"{migration.where}: the recorded {migration.parameter} {json.dumps(value)} "
                    "has no entry in values"
                )
            new_value = found[0]
        if migration.renamed_to is not None and migration.renamed_to in migrated:
            raise AnswerMigrationError(
                f"{migration.where}: the answers record both {migration.parameter} and {migration.renamed_to}"
            )
        del migrated[migration.parameter]
        migrated[migration.name] = new_value
        moved[migration.name] = migration
        changes.append(
            f"{migration.parameter}: {json.dumps(value)} -> {migration.name}: {json.dumps(new_value)}"
            f" (answer migration {migration.version})"
        )
    for name, migration in moved.items():
        if name not in migrated:  # moved on by a later migration
            continue
        if name not in known:
            raise AnswerMigrationError(f"{migration.where}: the target's form has no parameter {name!r}")
        allowed = known[name].get("enum")
        if isinstance(allowed, list) and not any(_same(migrated[name], value) for value in allowed):
            raise AnswerMigrationError(
                f"{migration.where}: {name} {json.dumps(migrated[name])} is not one of the target's "
                f"values ({', '.join(json.dumps(value) for value in allowed)})"
            )
    return migrated, changes
