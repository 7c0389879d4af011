"""Checks shared by the TechDocs tests: code blocks, site builds and links.

Every fenced code block of a docs page is either checked or marked. The marker is an HTML
comment on the line before the fence (invisible in the built site):

- ``<!-- excerpt: PATH -->``: the block is a piece of PATH in a rendered service. Its lines
  must appear in that file in the same order; a line ``...`` (or ``# ...``) stands for
  omitted lines. In the template's pages ``<package>`` stands for the package folder.
- ``<!-- file: PATH -->``: a new file the reader adds to a rendered service, which the tests
  write there and check with the service's own tools.
- ``<!-- edit: PATH after: LINE -->`` (or ``before: LINE``): lines the reader inserts into
  PATH after (before) the only line that reads LINE, whitespace around it ignored.

Unmarked blocks are checked by language: ``yaml``, ``json`` and ``toml`` must parse, ``sh``
must pass ``bash -n`` and the caller's command checks; any other unmarked block fails.
"""

from __future__ import annotations

import json
import logging
import re
import shlex
import subprocess
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import jinja2
import jinja2.bccache
import yaml

FENCE = re.compile(r"^(?P<indent> *)(?P<fence>```+|~~~+)(?P<info>[^\n`]*)$")
MARKER = re.compile(r"^\s*<!--\s*(?P<kind>excerpt|file|edit):\s*(?P<target>.+?)\s*-->\s*$")
OMISSION = re.compile(r"^\s*(#\s*)?\.\.\.\s*$")


@dataclass(frozen=True)
class CodeBlock:
    page: str
    line: int
    language: str
    text: str
    marker: str | None  # excerpt, file or edit
    target: str | None

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"


def code_blocks(page: str, markdown: str) -> list[CodeBlock]:
    """The fenced blocks of a page, each with the marker on the line before it."""
    lines = markdown.splitlines()
    blocks: list[CodeBlock] = []
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if not opening:
            index += 1
            continue
        fence, indent = opening["fence"], len(opening["indent"])
        end = index + 1
        while end < len(lines) and lines[end].strip() != fence:
            end += 1
        body = [line[indent:] for line in lines[index + 1 : end]]
        marker = MARKER.match(lines[index - 1]) if index else None
        blocks.append(
            CodeBlock(
                page,
                index + 1,
                opening["info"].strip().split(" ")[0],
                "\n".join(body) + "\n",
                marker["kind"] if marker else None,
                marker["target"] if marker else None,
            )
        )
        index = end + 1
    return blocks


def excerpt_problem(block: CodeBlock, source: str) -> str | None:
    """None if the block's lines appear in ``source`` in order (runs of lines between
    omission markers each contiguous, with the same indentation relative to each other)."""
    runs: list[list[str]] = [[]]
    for line in block.text.splitlines():
        if OMISSION.match(line):
            runs.append([])
        else:
            runs[-1].append(line)
    source_lines = source.splitlines()
    position = 0
    for run in (run for run in runs if run):
        found = _find_run(run, source_lines, position)
        if found is None:
            return f"{block.where}: not in {block.target}: {run[0].strip()!r}"
        position = found + len(run)
    return None


def _find_run(run: list[str], lines: list[str], start: int) -> int | None:
    for index in range(start, len(lines) - len(run) + 1):
        window = lines[index : index + len(run)]
        shift = len(window[0]) - len(window[0].lstrip()) - (len(run[0]) - len(run[0].lstrip()))
        if shift >= 0 and all(
            (line == "" and actual.strip() == "") or actual == " " * shift + line
            for line, actual in zip(run, window, strict=True)
        ):
            return index
    return None


EDIT_TARGET = re.compile(r"^(?P<path>\S+) (?P<where>after|before): (?P<anchor>.+)$")


def apply_edit(block: CodeBlock, source: str) -> str:
    """``source`` with the block's lines inserted after (or before) the only line that
    reads as the marker says."""
    target = EDIT_TARGET.match(block.target or "")
    assert target, f"{block.where}: an edit marker reads 'PATH after: LINE' or 'PATH before: LINE'"
    lines = source.splitlines(keepends=True)
    matches = [index for index, line in enumerate(lines) if line.strip() == target["anchor"].strip()]
    assert len(matches) == 1, f"{block.where}: {len(matches)} lines {target['anchor']!r} in {target['path']}"
    index = matches[0] + (target["where"] == "after")
    return "".join([*lines[:index], block.text, *lines[index:]])


def marked_path(block: CodeBlock) -> str:
    assert block.target is not None
    return block.target.split(" ")[0]


def data_problem(block: CodeBlock) -> str | None:
    """A problem with an unmarked data block, or None."""
    try:
        if block.language == "yaml":
            list(yaml.safe_load_all(block.text))
        elif block.language == "json":
            json.loads(block.text)
        elif block.language == "toml":
            tomllib.loads(block.text)
        else:
            return None
    except (yaml.YAMLError, json.JSONDecodeError, tomllib.TOMLDecodeError) as error:
        return f"{block.where}: {block.language} does not parse: {error}"
    return None


def shell_commands(block: CodeBlock) -> Iterator[list[str]]:
    """The simple commands of a shell block (comments, continuations and ``&&`` handled)."""
    text = block.text.replace("\\\n", " ")
    for line in text.splitlines():
        for part in re.split(r"&&|\|\||;|\|", line):
            try:
                words = shlex.split(part, comments=True)
            except ValueError:
                continue
            words = [word.strip("()") for word in words]
            while words and (not words[0] or re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", words[0])):
                words = words[1:]
            if words:
                yield words


def shell_syntax_problem(block: CodeBlock) -> str | None:
    checked = subprocess.run(["bash", "-n"], input=block.text, capture_output=True, text=True, check=False)
    return None if checked.returncode == 0 else f"{block.where}: bash -n: {checked.stderr.strip()}"


# --- Sites -------------------------------------------------------------------------------


class _CompiledThemes(jinja2.BytecodeCache):
    """Keeps the theme's compiled Jinja templates between builds in this process: compiling
    them is most of a small site's build time, and the result is the same every time."""

    def __init__(self) -> None:
        self.compiled: dict[str, bytes] = {}

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        if bucket.key in self.compiled:
            bucket.bytecode_from_string(self.compiled[bucket.key])

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        self.compiled[bucket.key] = bucket.bytecode_to_string()


_COMPILED_THEMES = _CompiledThemes()


def build_site(config: Path, site: Path) -> None:
    """``mkdocs build --strict`` in this process (the same code path as the command)."""
    from mkdocs.commands.build import build  # noqa: PLC0415 (heavy import, only when building)
    from mkdocs.config import load_config  # noqa: PLC0415

    logging.getLogger("mkdocs").setLevel(logging.WARNING)
    loaded = load_config(str(config), site_dir=str(site), strict=True)
    get_env = loaded.theme.get_env

    def cached_env() -> jinja2.Environment:
        environment = get_env()
        environment.bytecode_cache = _COMPILED_THEMES
        return environment

    loaded.theme.get_env = cached_env  # type: ignore[method-assign]
    build(loaded)


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if values.get("id"):
            self.ids.add(str(values["id"]))
        if tag == "a" and values.get("name"):
            self.ids.add(str(values["name"]))
        for attribute in ("href", "src"):
            if values.get(attribute) and (tag != "link" or values.get("rel") != "canonical"):
                self.links.append(str(values[attribute]))


def _parse(page: Path) -> _Links:
    parser = _Links()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser


def broken_links(site: Path) -> list[str]:
    """Internal links and anchors of the built site that lead nowhere."""
    site = site.resolve()
    pages = {page: _parse(page) for page in site.rglob("*.html")}
    problems = []
    for page, parsed in pages.items():
        for link in parsed.links:
            parts = urlsplit(link)
            if parts.scheme or parts.netloc or link.startswith(("mailto:", "data:", "javascript:")):
                continue
            base = site if parts.path.startswith("/") else page.parent
            target = (base / unquote(parts.path).lstrip("/")).resolve() if parts.path else page
            if target.is_dir():
                target = target / "index.html"
            where = f"{page.relative_to(site)} -> {link}"
            if not target.is_file():
                problems.append(f"{where}: no such file")
            elif parts.fragment and target.suffix == ".html":
                ids = pages[target].ids if target in pages else _parse(target).ids
                if unquote(parts.fragment) not in ids:
                    problems.append(f"{where}: no such anchor")
    return sorted(problems)
