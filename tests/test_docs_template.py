"""The template's own TechDocs (``docs/``, ``mkdocs.yml``): what they show is true.

- The parameters page is what ``scaffold.parameters_page`` generates from template.yaml.
- Every code block is an excerpt found in a rendered service, code that the tests apply
  to a rendered service and run through its checks and tests, or parsed and checked.
- ``mkdocs build --strict`` with the pinned techdocs-core passes, and no internal link of the
  built site is broken.
- Headless Chromium shows the index and the parameters page with their navigation and the
  diagram; the screenshots are kept under ``test-artifacts/docs/``.
"""

from __future__ import annotations

import copy
import gc
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from docs_checks import (
    CodeBlock,
    apply_edit,
    broken_links,
    build_site,
    code_blocks,
    data_problem,
    excerpt_problem,
    marked_path,
    shell_commands,
    shell_syntax_problem,
)
from local_http import serve_folder
from scaffold.parameters_page import FileReport, render_page
from scaffold.workflow import Template, run_template
from template_matrix import BASE_VALUES, TEMPLATE_PATH, pairwise_submissions

ROOT = TEMPLATE_PATH.parent
DOCS = ROOT / "docs"
PARAMETERS_PAGE = DOCS / "parameters.md"
ARTIFACTS = ROOT / "test-artifacts" / "docs"
PACKAGE = "orders_api"
# Pages about a generated service: their commands run in one.
SERVICE_PAGES = {"extending.md"}
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")


def _pages() -> dict[str, str]:
    return {path.name: path.read_text(encoding="utf-8") for path in sorted(DOCS.glob("*.md"))}


def _blocks() -> list[CodeBlock]:
    return [block for page, text in _pages().items() for block in code_blocks(page, text)]


def _render(values: dict[str, Any], workspace: Path) -> Path:
    workspace.mkdir(parents=True)
    run_template(Template.load(TEMPLATE_PATH), values, workspace)
    return workspace


def _uv_run(service: Path, *command: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    uv = os.environ.get("UV") or shutil.which("uv")
    assert uv, "uv is not on PATH (bash .ci/run installs it)"
    environment = {**os.environ, "UV_PYTHON_DOWNLOADS": "never", "VIRTUAL_ENV": ""}
    return subprocess.run(
        [uv, *command],
        cwd=service,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


# --- The parameters page ----------------------------------------------------------------


@pytest.fixture(scope="module")
def file_report() -> FileReport:
    return FileReport.build(Template.load(TEMPLATE_PATH))


def test_parameters_page_is_generated_from_the_template(file_report: FileReport) -> None:
    expected = render_page(Template.load(TEMPLATE_PATH), file_report)
    assert PARAMETERS_PAGE.read_text(encoding="utf-8") == expected, (
        "docs/parameters.md differs from template.yaml; regenerate it with "
        "`uv run python -m scaffold.parameters_page --output docs/parameters.md`"
    )


def test_parameters_page_follows_every_change_of_the_form(file_report: FileReport) -> None:
    template = Template.load(TEMPLATE_PATH)
    changed = copy.deepcopy(template.document)
    page = changed["spec"]["parameters"][1]
    page["properties"]["cache"]["ui:help"] = "A changed help text."
    page["properties"]["database"]["enumNames"][2] = "DynamoDB, renamed"
    page["properties"]["taskQueue"]["default"] = "arq"
    text = render_page(Template(template.path, changed), file_report)
    assert "Help text: A changed help text." in text
    assert "| `dynamodb` | DynamoDB, renamed |" in text
    assert "- Default: `arq`" in text
    assert text != PARAMETERS_PAGE.read_text(encoding="utf-8")


def test_parameters_page_lists_the_files_of_each_choice(file_report: FileReport) -> None:
    added = file_report.added
    assert "src/<package>/core/tracing.py" in added["tracing"]['"datadog"']
    assert "src/<package>/core/tracing.py" in added["tracing"]['"opentelemetry"']
    assert added["tracing"]['"none"'] == []
    assert "src/<package>/products/orm.py" in added["orm"]['"sqlalchemy"']
    assert "src/<package>/db/connection.py" in added["orm"]['"none"']
    assert "alembic.ini" in added["database"]['"aurora-mysql"']
    assert "alembic.ini" not in added["database"]['"dynamodb"']
    assert ".python-version" in file_report.changed["pythonVersion"]
    # A file two choices add together is listed under each, with the other's values.
    with_events = dict(file_report.added_with["events"]['"redis-streams"'])
    assert (
        with_events["src/<package>/events/outbox_sql.py"] == "database `aurora-postgresql` or `aurora-mysql`"
    )
    assert "src/<package>/events/outbox_sql.py" not in added["events"]['"redis-streams"']
    with_dynamodb = dict(file_report.added_with["database"]['"dynamodb"'])
    assert with_dynamodb["src/<package>/events/outbox_dynamodb.py"] == "events `redis-streams`"


# --- Code blocks ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def variants(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """A pairwise-covering set of rendered services, for excerpts."""
    root = tmp_path_factory.mktemp("variants")
    return [_render(values, root / str(index)) for index, values in enumerate(pairwise_submissions())]


def test_operations_page_states_the_collector_setting_the_service_ships() -> None:
    """The young-generation threshold and CPython's default that docs/operations.md names."""
    module = ROOT / "skeleton" / "src" / "${{ values.packageName }}" / "core" / "gc_tuning.py"
    shipped = re.search(r"^YOUNG_GENERATION_THRESHOLD = ([\d_]+)$", module.read_text(), re.M)
    assert shipped is not None
    stated = re.search(
        r"young\s+generation after ([\d,]+) net allocations of tracked objects instead of "
        r"CPython's default\s+\((\d+) before Python 3\.13\)",
        _pages()["operations.md"],
    )
    assert stated is not None, "docs/operations.md no longer states the collector's threshold"
    assert int(stated[1].replace(",", "")) == int(shipped[1].replace("_", ""))
    assert sys.version_info < (3, 13), "the page names the default of Python 3.11 and 3.12"
    assert int(stated[2]) == gc.get_threshold()[0]


def test_every_code_block_is_checked_or_marked() -> None:
    blocks = _blocks()
    assert len(blocks) >= 20
    unchecked = [
        f"{block.where}: unmarked {block.language or 'plain'} block"
        for block in blocks
        if block.marker is None and block.language not in ("yaml", "json", "toml", "sh")
    ]
    assert not unchecked


def test_excerpts_are_in_a_rendered_service(variants: list[Path]) -> None:
    excerpts = [block for block in _blocks() if block.marker == "excerpt"]
    assert len(excerpts) >= 10
    problems = []
    for block in excerpts:
        path = marked_path(block).replace("<package>", PACKAGE)
        sources = [root / path for root in variants if (root / path).is_file()]
        if not sources:
            problems.append(f"{block.where}: no rendered service has {path}")
            continue
        found = [excerpt_problem(block, source.read_text(encoding="utf-8")) for source in sources]
        if all(found):
            problems.append(str(found[0]))
    assert not problems, "\n".join(problems)


def test_an_excerpt_that_is_not_in_the_file_is_found(variants: list[Path]) -> None:
    source = (variants[0] / f"src/{PACKAGE}/core/errors.py").read_text(encoding="utf-8")
    real = CodeBlock("x.md", 1, "python", "class NotFoundError(ServiceError):\n", "excerpt", "core/errors.py")
    made_up = CodeBlock("x.md", 1, "python", "class NotFoundError(Exception):\n", "excerpt", "core/errors.py")
    assert excerpt_problem(real, source) is None
    assert excerpt_problem(made_up, source) is not None


def test_data_blocks_parse() -> None:
    problems = [problem for block in _blocks() if block.marker is None and (problem := data_problem(block))]
    assert not problems


@pytest.fixture(scope="module")
def default_service(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The service of the form's defaults (Aurora PostgreSQL, ORM), installed with uv."""
    service = _render(dict(BASE_VALUES), tmp_path_factory.mktemp("default") / "orders-api")
    synced = _uv_run(service, "sync", "--quiet", "--compile-bytecode", timeout=900)
    assert synced.returncode == 0, synced.stderr
    return service


def _makefile_targets(service: Path) -> set[str]:
    text = (service / "Makefile").read_text(encoding="utf-8")
    return {line.split(":")[0] for line in text.splitlines() if line[:1].isalpha() and ":" in line}


def _service_dependencies(service: Path) -> str:
    return (service / "pyproject.toml").read_text(encoding="utf-8")


def _template_command_problem(words: list[str], tmp_path: Path) -> str | None:
    if words[:2] == ["uv", "run"] and words[2:3] == ["scaffold"]:
        arguments = words[3:]
        if "--output" in arguments:
            arguments[arguments.index("--output") + 1] = str(tmp_path / f"out{len(list(tmp_path.iterdir()))}")
        ran = subprocess.run(
            [sys.executable, "-m", "scaffold", *arguments],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        return None if ran.returncode == 0 else ran.stderr
    if words[:3] == ["uv", "run", "pytest"]:
        missing = [path for path in words[3:] if not path.startswith("-") and not (ROOT / path).exists()]
        return f"no such test file: {missing}" if missing else None
    if words[:4] == ["uv", "run", "python", "-m"]:
        return None if importlib.util.find_spec(words[4]) else f"no module {words[4]}"
    if words[:2] == ["uv", "run"]:
        return None if (Path(sys.executable).parent / words[2]).exists() else f"no tool {words[2]}"
    if words[:3] == ["npm", "ci", "--prefix"]:
        return None if (ROOT / words[3] / "package-lock.json").is_file() else "no package-lock.json"
    if words[0] == "bash":
        return None if (ROOT / words[1]).is_file() else f"no script {words[1]}"
    if words[:2] == ["uv", "lock"] or words[0] == "git":
        return None
    return f"unknown command {words[0]}"


def _service_command_problem(words: list[str], service: Path) -> str | None:
    if words[0] == "make":
        unknown = set(words[1:]) - _makefile_targets(service)
        return f"no make target {sorted(unknown)}" if unknown else None
    if words[:2] == ["uv", "run"]:
        tool = words[2]
        if tool != "python" and f'"{tool}' not in _service_dependencies(service):
            return f"{tool} is not a dependency of the service"
        if "--factory" in words:
            module = words[words.index("--factory") + 1].split(":")[0]
            path = service / "src" / (module.replace(".", "/") + ".py")
            return None if path.is_file() else f"no module {module}"
        return None
    return f"unknown command {words[0]}"


def test_shell_blocks_run_or_name_what_exists(default_service: Path, tmp_path: Path) -> None:
    shell = [block for block in _blocks() if block.language == "sh"]
    assert len(shell) >= 5
    problems = []
    for block in shell:
        if problem := shell_syntax_problem(block):
            problems.append(problem)
        in_service = block.page in SERVICE_PAGES
        for words in shell_commands(block):
            if words[0] == "cd":
                in_service = True
                continue
            if in_service:
                problem = _service_command_problem(words, default_service)
            else:
                problem = _template_command_problem(words, tmp_path)
            if problem:
                problems.append(f"{block.where}: {' '.join(words)}: {problem}")
    assert not problems, "\n".join(problems)


def test_extending_guide_works_in_a_rendered_service(default_service: Path) -> None:
    """The guide's new files and edits, applied to the default service, pass its lint,
    format check, strict type check and tests (the new ones on a real database)."""
    blocks = [block for block in _blocks() if block.marker in ("file", "edit")]
    assert {block.page for block in blocks} == SERVICE_PAGES
    new_tests = []
    for block in blocks:
        path = default_service / marked_path(block).replace("<package>", PACKAGE)
        code = block.text.replace("<package>", PACKAGE)
        if block.marker == "file":
            assert not path.exists(), f"{block.where}: {path.name} exists already"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(code, encoding="utf-8")
            if path.name.startswith("test_"):
                new_tests.append(str(path.relative_to(default_service)))
        else:
            target = str(block.target).replace("<package>", PACKAGE)
            edit = CodeBlock(block.page, block.line, block.language, code, "edit", target)
            edited = apply_edit(edit, path.read_text(encoding="utf-8"))
            path.write_text(edited, encoding="utf-8")
    assert new_tests
    for check in (
        ("ruff", "check", "."),
        ("ruff", "format", "--check", "."),
        ("mypy",),
        ("pytest", "-q", "-p", "no:cacheprovider", *new_tests, "tests/db/test_migrations.py"),
    ):
        result = _uv_run(default_service, "run", "--no-sync", *check)
        assert result.returncode == 0, f"{' '.join(check)}:\n{result.stdout[-6000:]}\n{result.stderr[-3000:]}"


# --- The built site ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``mkdocs build --strict``, the command TechDocs runs, with the pinned techdocs-core."""
    site = tmp_path_factory.mktemp("site")
    built = subprocess.run(
        [Path(sys.executable).parent / "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    return site


def test_site_builds_every_page_of_the_nav(site: Path) -> None:
    nav = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))["nav"]
    pages = [next(iter(entry.values())) for entry in nav]
    assert sorted(pages) == sorted(path.name for path in DOCS.glob("*.md")), "a page is not in the nav"
    for page in pages:
        html = site / ("index.html" if page == "index.md" else f"{page.removesuffix('.md')}/index.html")
        assert html.is_file(), page
    assert (site / "images" / "architecture.svg").is_file()
    assert (site / "techdocs_metadata.json").is_file(), "not built by techdocs-core"


def test_site_has_no_broken_internal_link(site: Path) -> None:
    assert not broken_links(site)


def test_strict_build_and_link_check_catch_broken_links(tmp_path: Path) -> None:
    shutil.copytree(DOCS, tmp_path / "docs")
    shutil.copy(ROOT / "mkdocs.yml", tmp_path / "mkdocs.yml")
    page = tmp_path / "docs" / "security.md"
    page.write_text(page.read_text(encoding="utf-8") + "\n[gone](no-such-page.md)\n", encoding="utf-8")
    with pytest.raises(Exception, match="warning"):
        build_site(tmp_path / "mkdocs.yml", tmp_path / "strict")
    page.write_text(page.read_text(encoding="utf-8").replace("no-such-page.md", "patterns.md#nowhere"))
    build_site(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert broken_links(tmp_path / "site") == ["security/index.html -> ../patterns/#nowhere: no such anchor"]


# --- In a browser --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def served_site(site: Path) -> Iterator[str]:
    with serve_folder(site) as url:
        yield url


def test_chromium_renders_the_index_and_parameters_pages(served_site: str, tmp_path: Path) -> None:
    from selenium import webdriver  # noqa: PLC0415 (only this test needs a browser)
    from selenium.webdriver.chrome.service import Service  # noqa: PLC0415
    from selenium.webdriver.common.by import By  # noqa: PLC0415

    assert CHROMIUM.is_file(), "apt-get install chromium"
    assert CHROMEDRIVER.is_file(), "apt-get install chromium-driver"
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,1600"):
        options.add_argument(argument)
    nav = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))["nav"]
    titles = [next(iter(entry)) for entry in nav]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    try:
        driver.set_page_load_timeout(30)
        for path, heading in (("/", "FastAPI service template"), ("/parameters/", "Parameters reference")):
            driver.get(served_site + path)
            assert driver.find_element(By.CSS_SELECTOR, "article h1").text.startswith(heading)
            links = driver.find_elements(By.CSS_SELECTOR, "nav.md-nav--primary .md-nav__link")
            shown = {link.get_attribute("textContent").strip() for link in links}  # type: ignore[union-attr]
            assert set(titles) <= shown, set(titles) - shown
            stylesheet = driver.execute_script(
                "return getComputedStyle(document.querySelector('.md-header')).position"
            )
            assert stylesheet == "sticky", "the theme's stylesheet did not load"
            if path == "/":
                diagram = driver.find_element(By.CSS_SELECTOR, "article img[src$='architecture.svg']")
                width = driver.execute_script("return arguments[0].naturalWidth", diagram)
                assert width > 0, "the diagram did not load"
            else:
                rows = driver.find_elements(By.CSS_SELECTOR, "article table tbody tr")
                assert len(rows) >= 15
            name = "index.png" if path == "/" else "parameters.png"
            assert driver.save_screenshot(str(tmp_path / name))
            shutil.copy(tmp_path / name, ARTIFACTS / name)
    finally:
        driver.quit()
