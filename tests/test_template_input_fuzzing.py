"""Template input fuzzing: every value the form accepts renders into files that still parse
and carry the exact value, and every value that could break a file is refused by the form's
JSON Schema, by scaffold and by Backstage's own check, before anything is written.

Accepted values are drawn from the schema itself (hypothesis ``from_regex`` on each field's
``pattern``, also restricted to an alphabet of characters that mean something in YAML, TOML,
Markdown or templates) and kept when the field's whole schema accepts them.
"""

from __future__ import annotations

import ast
import functools
import json
import re
import string
import tempfile
import tomllib
from collections.abc import Iterator, Mapping
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import markdown  # type: ignore[import-untyped]
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mkdocs.config import load_config

from oracle import validate_parameters
from scaffold.cli import main
from scaffold.workflow import (
    ParameterValidator,
    Template,
    TemplateInputError,
    known_parameters,
    resolve_parameters,
    run_template,
)
from template_matrix import AURORA, BASE_VALUES, SKELETON_PATH, TEMPLATE_PATH, choice_parameters

TEMPLATE = Template.load(TEMPLATE_PATH)
PROPERTIES = known_parameters(TEMPLATE)
FREE_TEXT = ("name", "description", "owner", "system", "repoUrl")
# Copied without templating: the same bytes as in the skeleton, GitHub expressions intact.
WORKFLOWS = Path(".github/workflows")
TEMPLATE_MARKERS = ("${{", "{%", "{#")
# Characters with a meaning in YAML, TOML, JSON, Markdown, HTML, shells or templates, and
# text that is not ASCII (accents, CJK, right-to-left, emoji with a joiner, combining mark).
SPECIAL = string.ascii_letters + string.digits + " \"'`:#&*!%@|>{}[](),.-_/\\?=+~^$;<"
ALPHABET = SPECIAL + "éü漢字😀\u200d👍\u00a0אب\u0301"
# Kubernetes: object names (DNS-1123 labels here) and label values.
DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
LABEL_VALUE = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
# The Docker reference grammar (distribution/reference) for ghcr.io/<path>[:tag].
IMAGE = re.compile(r"ghcr\.io(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)+(:[\w][\w.-]{0,127})?")
BLOCK_TAGS = {
    "address", "article", "aside", "blockquote", "details", "dialog", "dd", "div", "dl", "dt",
    "fieldset", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr",
    "iframe", "li", "main", "nav", "ol", "p", "pre", "script", "section", "style", "summary",
    "table", "ul",
}  # fmt: skip
SAFE_URL = re.compile(r"(https?://|mailto:)")


def accepts(field: str, value: Any) -> bool:
    return bool(ParameterValidator(PROPERTIES[field]).is_valid(value))


def without_lookarounds(pattern: str) -> str:
    """``pattern`` without its ``(?=...)`` and ``(?!...)`` groups (hypothesis cannot generate
    from a lookahead followed by more pattern); what they require is checked afterwards."""
    kept, depth, skipping_from, in_class, index = [], 0, None, False, 0
    while index < len(pattern):
        token = pattern[index : index + 2] if pattern[index] == "\\" else pattern[index]
        if not in_class and token == "(":
            depth += 1
            if skipping_from is None and pattern[index : index + 3] in ("(?=", "(?!"):
                skipping_from = depth
        elif not in_class and token == ")":
            depth -= 1
            if skipping_from == depth + 1:
                skipping_from = None
                index += 1
                continue
        elif token in ("[", "]"):
            in_class = token == "["
        if skipping_from is None:
            kept.append(token)
        index += len(token)
    return "".join(kept)


def _field_values(field: str) -> st.SearchStrategy[str]:
    """Strings that the field's pattern matches, kept if its whole schema accepts them; the
    description also from the alphabet of special characters."""
    pattern = without_lookarounds(PROPERTIES[field]["pattern"])
    drawn = st.from_regex(pattern, fullmatch=True)
    if field == "description":
        drawn = drawn | st.from_regex(pattern, fullmatch=True, alphabet=ALPHABET)
    return drawn.filter(functools.partial(accepts, field))


FIELD_VALUES = {field: _field_values(field) for field in FREE_TEXT}


@st.composite
def submissions(draw: st.DrawFn) -> dict[str, Any]:
    """What the form can submit: free text the schema accepts, and any allowed choice."""
    values: dict[str, Any] = {
        field: draw(FIELD_VALUES[field]) for field in ("name", "description", "owner", "repoUrl")
    }
    system = draw(st.none() | FIELD_VALUES["system"])
    if system is not None:
        values["system"] = system
    choices = choice_parameters(TEMPLATE)
    for name, allowed in choices.items():
        if name != "orm":
            values[name] = draw(st.sampled_from(allowed))
    if values["database"] in AURORA:
        values["orm"] = draw(st.sampled_from(choices["orm"]))
    return values


# --- what the rendered files must carry ----------------------------------------------------


def entity_ref(value: str, default_kind: str) -> str:
    """``[kind:][namespace/]name`` with the defaults filled in and the kind lowercased."""
    kind, _, rest = value.partition(":") if ":" in value else (default_kind, ":", value)
    namespace, _, name = rest.partition("/") if "/" in rest else ("default", "/", rest)
    return f"{kind.lower()}:{namespace}/{name}"


def repository(repo_url: str) -> tuple[str, str]:
    query = parse_qs(urlsplit(f"https://{repo_url}").query, strict_parsing=True)
    return query["owner"][0], query["repo"][0]


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))


@functools.cache
def techdocs_markdown() -> markdown.Markdown:
    """Python-Markdown with the extensions and settings TechDocs (techdocs-core) builds with."""
    with tempfile.TemporaryDirectory() as workspace:
        run_template(TEMPLATE, BASE_VALUES, Path(workspace))
        config = load_config(str(Path(workspace) / "mkdocs.yml"))
        config = config.plugins.on_config(config)
        return markdown.Markdown(
            extensions=config["markdown_extensions"], extension_configs=config["mdx_configs"]
        )


def markdown_problems(text: str, description: str, where: str) -> list[str]:
    """The description is line 3, a paragraph of its own that leaves the rest of the page as
    it is with any other description (as TechDocs renders it)."""
    lines = text.split("\n")
    if lines[2] != description:
        return [f"{where}: line 3 is {lines[2]!r}, not the description"]
    md = techdocs_markdown()
    html = md.reset().convert(text)
    reference = md.reset().convert("\n".join([*lines[:2], "DESCRIPTION", *lines[3:]]))
    before, marker, after = reference.partition("<p>DESCRIPTION</p>")
    assert marker, f"{where}: the reference page has no description paragraph"
    if not (html.startswith(before) and html.endswith(after) and len(html) >= len(before) + len(after)):
        return [f"{where}: the description changes the rest of the page"]
    paragraph = html[len(before) : len(html) - len(after)]
    parser = _Tags()
    parser.feed(paragraph)
    tags = parser.tags
    if not (paragraph.startswith("<p>") and paragraph.endswith("</p>") and tags[0] == ("p", [])):
        return [f"{where}: the description is not a plain paragraph: {paragraph!r}"]
    problems = [
        f"{where}: <{tag}> inside the description paragraph" for tag, _ in tags[1:] if tag in BLOCK_TAGS
    ]
    for tag, attributes in tags[1:]:
        for attribute, value in attributes:
            allowed = (
                SAFE_URL.match(value or "")
                if attribute in ("href", "src")
                else attribute in ("alt", "class", "title")
            )
            if not allowed:
                problems.append(f"{where}: <{tag} {attribute}={value!r}> in the description paragraph")
    return problems


def _walk(node: Any, key: str | None = None) -> Iterator[tuple[str | None, Any]]:
    yield key, node
    if isinstance(node, dict):
        for child_key, child in node.items():
            yield from _walk(child, str(child_key))
    elif isinstance(node, list):
        for child in node:
            yield from _walk(child)


def kubernetes_problems(manifests: Mapping[str, list[Any]], values: Mapping[str, Any]) -> list[str]:
    """Names, label values and images of every manifest are valid and carry the values."""
    problems = []
    name = values["name"]
    for path, documents in manifests.items():
        for document in documents:
            where = f"{path} ({document.get('kind')})"
            object_name = document.get("metadata", {}).get("name")
            if object_name is not None and (
                object_name not in (name, f"{name}-worker", f"{name}-migrate", f"{name}-events")
                or len(object_name) > 63
                or not DNS_LABEL.fullmatch(object_name)
            ):
                problems.append(f"{where}: object name {object_name!r}")
            for key, node in _walk(document):
                if key in ("labels", "matchLabels", "pairs") and isinstance(node, dict):
                    problems += [
                        f"{where}: label {label}={value!r}"
                        for label, value in node.items()
                        if not (isinstance(value, str) and len(value) <= 63 and LABEL_VALUE.fullmatch(value))
                    ]
                if key == "data" and isinstance(node, dict):
                    problems += [
                        f"{where}: {k}={v!r} is not a string"
                        for k, v in node.items()
                        if not isinstance(v, str)
                    ]
                if key in ("image", "images") and isinstance(node, str) and not IMAGE.fullmatch(node):
                    problems.append(f"{where}: image {node!r}")
    (kustomization,) = manifests["k8s/kustomization.yaml"]
    pairs = kustomization["labels"][0]["pairs"]
    expected_part_of = values["systemName"] or name
    if (pairs["app.kubernetes.io/name"], pairs["app.kubernetes.io/part-of"]) != (name, expected_part_of):
        problems.append(f"k8s/kustomization.yaml: labels {pairs}")
    image = f"ghcr.io/{values['repoOwner'].lower()}/{values['repoName'].lower()}"
    if kustomization["images"][0]["name"] != image or not IMAGE.fullmatch(image):
        problems.append(f"k8s/kustomization.yaml: image {kustomization['images'][0]['name']!r}")
    return problems


def service_problems(root: Path, submitted: Mapping[str, Any], values: Mapping[str, Any]) -> list[str]:
    """Everything that is wrong with one rendered service, as one line each."""
    problems: list[str] = []

    def expect(where: str, actual: Any, expected: Any) -> None:
        if actual != expected:
            problems.append(f"{where}: {actual!r} != {expected!r}")

    name, description = submitted["name"], submitted["description"]
    package = name.replace("-", "_")
    owner, repo = repository(submitted["repoUrl"])
    url = f"https://github.com/{owner}/{repo}"
    owner_ref = entity_ref(submitted["owner"], "group")
    system_ref = entity_ref(submitted["system"], "system") if submitted.get("system") else None
    expect("skeleton value systemName", values["systemName"], system_ref.split("/")[1] if system_ref else "")

    # Every file is where it belongs, parses, and has no template syntax left.
    documents: dict[str, list[Any]] = {}  # of the YAML files (libyaml, PyYAML's resolver)
    constants: set[Any] = set()  # in the package's Python files that quote the name
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if not path.resolve().is_relative_to(root.resolve()):
            problems.append(f"{relative}: outside the output folder")
        if not path.is_file():
            continue
        text = path.read_text(encoding="utf-8")
        if relative.parent == WORKFLOWS:
            expect(str(relative), path.read_bytes(), (SKELETON_PATH / relative).read_bytes())
        else:
            problems += [f"{relative}: {marker} left" for marker in TEMPLATE_MARKERS if marker in text]
        try:
            if path.suffix in (".yaml", ".yml"):
                loaded = yaml.load_all(text, Loader=yaml.CSafeLoader)
                documents[relative.as_posix()] = [document for document in loaded if document]
            elif path.suffix == ".toml":
                tomllib.loads(text)
            elif path.suffix == ".json":
                json.loads(text)
            elif path.suffix == ".py":
                tree = ast.parse(text, filename=str(relative))
                if relative.parts[:2] == ("src", package) and f'"{name}"' in text:
                    constants |= {node.value for node in ast.walk(tree) if isinstance(node, ast.Constant)}
        except (yaml.YAMLError, tomllib.TOMLDecodeError, json.JSONDecodeError, SyntaxError) as error:
            problems.append(f"{relative}: does not parse: {error}")

    # Every submitted parameter, recorded as it was submitted, for `scaffold update`.
    answers = json.loads((root / ".template-answers.json").read_text(encoding="utf-8"))["parameters"]
    expect(".template-answers.json parameters", {key: answers.get(key) for key in submitted}, dict(submitted))

    pyproject = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    expect("pyproject project.name", pyproject["project"]["name"], name)
    expect("pyproject project.description", pyproject["project"]["description"], description)
    expect("pyproject project.urls.Repository", pyproject["project"]["urls"]["Repository"], url)
    expect(
        "pyproject wheel packages",
        pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"],
        [f"src/{package}"],
    )

    entity, api, *resources = documents["catalog-info.yaml"]
    expect("catalog metadata.name", entity["metadata"]["name"], name)
    expect("catalog metadata.description", entity["metadata"]["description"], description)
    annotations = entity["metadata"]["annotations"]
    expect("catalog project-slug", annotations["github.com/project-slug"], f"{owner}/{repo}")
    expect("catalog kubernetes-id", annotations["backstage.io/kubernetes-id"], name)
    expect("catalog links", entity["metadata"]["links"][0]["url"], url)
    expect("catalog spec.owner", entity["spec"]["owner"], owner_ref)
    expect("catalog spec.system", entity["spec"].get("system"), system_ref)
    expect("catalog API name", api["metadata"]["name"], name)
    for other in (api, *resources):
        expect(f"catalog {other['kind']} spec.owner", other["spec"]["owner"], owner_ref)
        expect(f"catalog {other['kind']} spec.system", other["spec"].get("system"), system_ref)

    (mkdocs,) = documents["mkdocs.yml"]
    expect("mkdocs", [mkdocs[key] for key in ("site_name", "site_description", "repo_url", "repo_name")],
           [name, description, url, f"{owner}/{repo}"])  # fmt: skip

    (compose,) = documents["docker-compose.yml"]
    expect("compose name", compose["name"], name)
    expect("compose app image", compose["services"]["app"]["image"], f"{name}:local")

    dockerfile = (root / "Dockerfile").read_text(encoding="utf-8")
    labels = dict(re.findall(r'(org\.opencontainers\.image\.\w+)="([^"\\]*)"', dockerfile))
    expect(
        "Dockerfile labels",
        [labels.get(f"org.opencontainers.image.{key}") for key in ("title", "source")],
        [name, url],
    )

    expect(f"a string constant {name!r} in src/{package}", name in constants, True)

    env = (root / ".env.example").read_text(encoding="utf-8").splitlines()
    problems += [
        f".env.example: {line!r}"
        for line in env
        if line
        and not line.startswith("#")
        and not re.fullmatch(rf"{values['envPrefix']}[A-Z0-9_]+=\S*", line)
    ]

    readme = (root / "README.md").read_text(encoding="utf-8")
    expect("README owner", f"| Owner | `{owner_ref}` |" in readme.splitlines(), True)
    problems += markdown_problems(readme, description, "README.md")
    problems += markdown_problems(
        (root / "docs" / "index.md").read_text(encoding="utf-8"), description, "docs/index.md"
    )
    manifests = {path: found for path, found in documents.items() if path.startswith("k8s/")}
    return problems + kubernetes_problems(manifests, values)


# --- accepted values ------------------------------------------------------------------------


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]
)
@given(batch=st.lists(submissions(), min_size=3, max_size=3))
def test_accepted_values_render_into_files_that_parse_and_carry_them(batch: list[dict[str, Any]]) -> None:
    resolved = []
    for submitted in batch:
        with tempfile.TemporaryDirectory() as workspace:
            result = run_template(TEMPLATE, submitted, Path(workspace))
            (step,) = (step for step in result.steps if step.id == "fetchSkeleton")
            assert isinstance(step.input, dict)
            problems = service_problems(Path(workspace), submitted, step.input["values"])
        assert not problems, "\n".join([f"values: {submitted!r}", *problems[:20]])
        resolved.append(result.parameters)
    # The scaffolder API checks what the form submits with the same schema: it agrees.
    assert validate_parameters(TEMPLATE_PATH, resolved) == [[] for _ in resolved]


# --- refused values -------------------------------------------------------------------------

# Values that would break a file, escape the output folder or reach a template engine.
HOSTILE: dict[str, list[str]] = {
    "name": [
        "orders\napi", "orders-api\n", "orders-api\r", "../orders", "orders/../x", "orders/api",
        "${{ parameters.name }}", "{{ name }}", "{% raw %}", "", "ab", "a" * 56, "yes", "null",
        "off", "Orders", "orders_api", "orders api", "-orders", "orders-", "orders--api",
        "orders\x00", "örders", "email",
    ],
    "description": [
        "line\nbreak", "ends with a newline\n", "carriage\rreturn", "tab\there", "nul\x00",
        "del\x7f", "next line\x85", "separator\u2028", "paragraph\u2029",
        "${{ secrets.GITHUB_TOKEN }}", "{{ 7 * 7 }}", "{% raw %}x{% endraw %}", "{# note #}",
        "x" * 281, "", " leading space", "trailing space ", "trailing nbsp\u00a0",
        "# heading", "- list item", "* list item", "+ list item", "> quote", "1. numbered",
        "2) numbered", "```fence", "~~~fence", "| table |", "[ref]: https://example.com",
        "!!! note", "??? details", "=== tab", ": definition", "--8<-- 'secret.txt'",
        "<script>alert(1)</script>", "see <!-- hidden", "close </p> here", "a <?php ?> b",
        "[click](javascript:alert(1))", "an ![image](javascript:alert(1))", "*x*{onclick=alert(1)}",
        "`code`{: onclick=alert(1) }",
        "right-to-left \u202e override", "isolate \u2066x\u2069", "bom \ufeff here",
        "lone \ud800 surrogate", "nonchar \uffff",
    ],
    "owner": [
        "../team", "group:default/../team", "team\n", "team/", "group:default/team/x",
        "${{ user.entity }}", "", "team name", "team\"", "a" * 64, "group:" + "a" * 64,
        "group:" + "n" * 64 + "/team", "group:Default/team", "group::team",
    ],
    "system": ["", "../payments", "payments\n", "pay ments", "{% if x %}", "a" * 64, "system:default/"],
    "repoUrl": [
        *(
            f"github.com?owner=acme&repo={repo}"
            for repo in (
                "../x", "x/../../y", ".github", "orders-", "a..b", 'x"y', "x%0Ay", "x\n", "x&owner=evil",
                "a" * 101, "${{ x }}",
            )
        ),
        "github.com?owner=ac me&repo=x", "github.com?owner=-acme&repo=x", "github.com?owner=acme",
        "github.com?repo=x&owner=acme", "gitlab.com?owner=acme&repo=x",
        "github.com?owner=" + "a" * 40 + "&repo=x",
    ],
}  # fmt: skip
HOSTILE_CASES = [(field, value) for field, values in HOSTILE.items() for value in values]
DEFAULTS = resolve_parameters(TEMPLATE, BASE_VALUES)


@pytest.mark.parametrize(("field", "value"), HOSTILE_CASES, ids=[f"{f}-{v[:20]!r}" for f, v in HOSTILE_CASES])
def test_scaffold_refuses_a_hostile_value_and_writes_nothing(
    field: str, value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    values = tmp_path / "values.json"
    values.write_text(json.dumps({**BASE_VALUES, field: value}), encoding="utf-8")
    output = tmp_path / "out" / "service"
    code = main(
        ["render", "--template", str(TEMPLATE_PATH), "--values", str(values), "--output", str(output)]
    )
    error = capsys.readouterr().err
    assert code == 2
    assert error.startswith(f"scaffold: error: parameter {field!r}: "), error
    assert len(error.splitlines()) == 1
    assert sorted(path.name for path in tmp_path.iterdir()) == ["values.json"]


def test_backstage_refuses_every_hostile_value() -> None:
    errors = validate_parameters(
        TEMPLATE_PATH, [{**DEFAULTS, field: value} for field, value in HOSTILE_CASES]
    )
    accepted = [
        (field, value)
        for (field, value), found in zip(HOSTILE_CASES, errors, strict=True)
        if not any(f"instance.{field} " in error for error in found)
    ]
    assert not accepted
    assert validate_parameters(TEMPLATE_PATH, [DEFAULTS]) == [[]]


# Fragments that make any accepted value unsafe: in every field, line breaks, control
# characters and template markers; in the fields that become names, paths or URLs, also
# path segments, quotes, spaces and markup.
ANYWHERE = ["\n", "\r", "\t", "\x00", "\x1b", "\u2028", "\u202e", "${{ x }}", "{{", "{%", "{#"]
IN_IDENTIFIERS = [*ANYWHERE, "../", "/..", '"', "'", "\\", " ", "#", "<", "`", "%0A", "&"]


@st.composite
def spoiled(draw: st.DrawFn) -> tuple[str, str]:
    field = draw(st.sampled_from(FREE_TEXT))
    value = draw(FIELD_VALUES[field])
    fragment = draw(st.sampled_from(ANYWHERE if field == "description" else IN_IDENTIFIERS))
    at = draw(st.integers(min_value=0, max_value=len(value)))
    return field, value[:at] + fragment + value[at:]


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]
)
@given(batch=st.lists(spoiled(), min_size=15, max_size=15))
def test_an_accepted_value_with_a_breaking_fragment_is_refused(batch: list[tuple[str, str]]) -> None:
    for field, value in batch:
        with pytest.raises(TemplateInputError, match=f"parameter '{field}'"):
            resolve_parameters(TEMPLATE, {**DEFAULTS, field: value})
    errors = validate_parameters(TEMPLATE_PATH, [{**DEFAULTS, field: value} for field, value in batch])
    assert all(found for found in errors), [
        item for item, found in zip(batch, errors, strict=True) if not found
    ]
