"""The `fetch:template` action of @backstage/plugin-scaffolder-backend 4.2.0.

Mirrors `createTemplateActionHandler`: every entry's relative path is rendered, entries
whose path renders empty, absolute or with `//` are skipped, binary files and symlinks
are copied as they are, text files are rendered and written with their source mode.
"""

from __future__ import annotations

import fnmatch
import os
import re
import stat
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scaffold.binary import MAX_BYTES, UTF8_BOUNDARY_RESERVE, is_binary_bytes
from scaffold.nunjucks import Renderer, RenderError, prepare_context

BINARY_SNIFF_BYTES = MAX_BYTES + UTF8_BOUNDARY_RESERVE


class FetchTemplateError(Exception):
    """The action refused its input or a file failed to render."""


@dataclass(frozen=True)
class FetchTemplateOptions:
    """The action's inputs other than `url` and `values`."""

    target_path: str = "./"
    copy_without_templating: Sequence[str] | None = None
    template_file_extension: str | bool | None = None
    trim_blocks: bool = False
    lstrip_blocks: bool = False
    replace: bool = False
    cookiecutter_compat: bool = False

    @classmethod
    def from_input(cls, data: Mapping[str, Any]) -> FetchTemplateOptions:
        copy = data.get("copyWithoutTemplating")
        if copy is not None and not isinstance(copy, list):
            raise FetchTemplateError("Fetch action input copyWithoutTemplating must be an Array")
        return cls(
            target_path=str(data.get("targetPath") or "./"),
            copy_without_templating=copy,
            template_file_extension=data.get("templateFileExtension"),
            trim_blocks=bool(data.get("trimBlocks")),
            lstrip_blocks=bool(data.get("lstripBlocks")),
            replace=bool(data.get("replace")),
            cookiecutter_compat=bool(data.get("cookiecutterCompat")),
        )


@dataclass
class FetchTemplateResult:
    written: list[str] = field(default_factory=list)
    skipped_existing: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SkeletonEntry:
    """One entry as globby lists it: a posix path relative to the skeleton, folders with `/`."""

    location: str
    kind: str  # "dir", "text", "binary" or "symlink"
    content: str | bytes  # rendered text, raw bytes, or the link target
    mode: int


@dataclass(frozen=True)
class Skeleton:
    """A skeleton read once, so that rendering it many times does no repeated reads."""

    root: Path
    entries: tuple[SkeletonEntry, ...]

    @classmethod
    def load(cls, root: Path) -> Skeleton:
        root = root.resolve()
        if not root.is_dir():
            raise FetchTemplateError(f"template directory {root} does not exist")
        return cls(root, tuple(_read_entries(root, root, "")))


def _read_entries(root: Path, directory: Path, prefix: str) -> Iterator[SkeletonEntry]:
    for entry in sorted(os.scandir(directory), key=lambda item: item.name):
        location = prefix + entry.name
        mode = stat.S_IMODE(entry.stat(follow_symlinks=False).st_mode)
        if entry.is_symlink():
            target = os.readlink(entry.path)
            resolved = os.path.normpath(os.path.join(directory, target))
            # Backstage copies a local skeleton before rendering it; links leading out of it are lost.
            if resolved == str(root) or resolved.startswith(str(root) + os.sep):
                yield SkeletonEntry(location, "symlink", target, mode)
        elif entry.is_dir():
            yield SkeletonEntry(location + "/", "dir", "", mode)
            yield from _read_entries(root, Path(entry.path), location + "/")
        else:
            data = Path(entry.path).read_bytes()
            if is_binary_bytes(data[:BINARY_SNIFF_BYTES]):
                yield SkeletonEntry(location, "binary", data, mode)
            else:
                yield SkeletonEntry(location, "text", data.decode("utf-8", errors="replace"), mode)


def _glob_regex(pattern: str) -> re.Pattern[str]:
    """A picomatch-style glob: `*` stays within a segment, `**` crosses them, dots match."""
    parts: list[str] = []
    index = 0
    while index < len(pattern):
        if pattern.startswith("**/", index):
            parts.append("(?:.*/)?")
            index += 3
        elif pattern.startswith("**", index):
            parts.append(".*")
            index += 2
        elif pattern[index] == "*":
            parts.append("[^/]*")
            index += 1
        elif pattern[index] == "?":
            parts.append("[^/]")
            index += 1
        elif pattern[index] == "[":
            closing = pattern.find("]", index + 1)
            if closing < 0:
                parts.append(re.escape("["))
                index += 1
            else:
                parts.append(fnmatch.translate(pattern[index : closing + 1])[4:-3])
                index = closing + 1
        elif pattern[index] == "{":
            closing = pattern.find("}", index + 1)
            if closing < 0:
                parts.append(re.escape("{"))
                index += 1
            else:
                options = pattern[index + 1 : closing].split(",")
                parts.append("(?:" + "|".join(_glob_regex(option).pattern[1:-1] for option in options) + ")")
                index = closing + 1
        else:
            parts.append(re.escape(pattern[index]))
            index += 1
    return re.compile("^" + "".join(parts) + "$")


def _matches_any(location: str, patterns: Sequence[re.Pattern[str]]) -> bool:
    bare = location.rstrip("/")
    return any(pattern.match(bare) for pattern in patterns)


def _is_skipped(rendered: str) -> bool:
    return rendered == "" or rendered.startswith("/") or "//" in rendered


def _safe_child(root: str, relative: str) -> str:
    candidate = os.path.normpath(os.path.join(root, relative))
    if candidate != root and not candidate.startswith(root + os.sep):
        raise FetchTemplateError(
            f"Relative path is not allowed to refer to a directory outside its parent: {relative}"
        )
    return candidate


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _utf8(text: str) -> bytes:
    """Encode as Node's Buffer does: a lone UTF-16 surrogate becomes U+FFFD."""
    return _LONE_SURROGATE.sub("\ufffd", text).encode("utf-8")


def fetch_template(
    skeleton: Path | Skeleton,
    workspace: Path,
    values: Mapping[str, Any],
    options: FetchTemplateOptions | None = None,
) -> FetchTemplateResult:
    """Render `skeleton` into `workspace` (joined with targetPath) as Backstage would."""
    options = options or FetchTemplateOptions()
    source = skeleton if isinstance(skeleton, Skeleton) else Skeleton.load(skeleton)
    workspace = workspace.resolve()
    output_dir = _safe_child(str(workspace), options.target_path)
    if output_dir == str(source.root) or output_dir.startswith(str(source.root) + os.sep):
        raise FetchTemplateError("targetPath must not be within template path")
    extension = _extension(options)
    if options.cookiecutter_compat:
        raise FetchTemplateError("cookiecutterCompat is not supported by this renderer")
    patterns = [_glob_regex(glob) for glob in options.copy_without_templating or []]
    renderer = Renderer(trim_blocks=options.trim_blocks, lstrip_blocks=options.lstrip_blocks)
    context = prepare_context({"values": dict(values)})
    result = FetchTemplateResult()
    claimed: dict[str, str] = {}

    for entry in source.entries:
        location = local_path = entry.location
        if extension:
            render_contents = _node_extname(location) == extension
            if render_contents:
                local_path = location[: -len(extension)]
        else:
            render_contents = not _matches_any(location, patterns)
        local_path = _render(renderer, local_path, context, f"path {location!r}")
        if _is_skipped(local_path):
            continue
        output_path = _safe_child(output_dir, local_path)
        # A file whose name renders empty inside a folder renders to the folder's path, which
        # Backstage skips because the folder exists: not a collision.
        if entry.kind != "dir" and not local_path.endswith("/"):
            earlier = claimed.setdefault(output_path, location)
            if earlier != location:
                raise FetchTemplateError(
                    f"{location!r} and {earlier!r} both render to {local_path!r}; Backstage would keep "
                    "whichever its directory listing returns first, so the skeleton is ambiguous"
                )
        # fs.existsSync follows links: a dangling link counts as free and is written through.
        if os.path.exists(output_path) and not options.replace:
            result.skipped_existing.append(local_path)
            continue
        try:
            _write_entry(entry, output_path, renderer, context, render_contents=render_contents)
        except OSError as error:
            raise FetchTemplateError(f"cannot write {local_path!r}: {error.strerror or error}") from error
        result.written.append(local_path)
    return result


def _write_entry(
    entry: SkeletonEntry,
    output_path: str,
    renderer: Renderer,
    context: dict[str, Any],
    *,
    render_contents: bool,
) -> None:
    if entry.kind == "dir":
        os.makedirs(output_path, exist_ok=True)
        return
    os.makedirs(os.path.dirname(output_path), exist_ok=True)
    if entry.kind == "symlink":
        # fs.copy replaces an existing link but refuses to put a link over anything else.
        if os.path.islink(output_path):
            os.unlink(output_path)
        os.symlink(entry.content, output_path)
    elif entry.kind == "binary":
        assert isinstance(entry.content, bytes)
        if os.path.islink(output_path):
            os.unlink(output_path)  # fs.copy replaces a link instead of writing through it
        _write(output_path, entry.content, entry.mode)
        os.chmod(output_path, entry.mode)  # fs.copy keeps the mode exactly, umask or not
    else:
        assert isinstance(entry.content, str)
        text = entry.content
        if render_contents:
            text = _render(renderer, text, context, f"file {entry.location!r}")
        _write(output_path, _utf8(text), entry.mode)  # fs.outputFile writes through a link


def _node_extname(path: str) -> str:
    """Node's `path.extname`: trailing slashes are ignored, a leading dot is no extension."""
    base = path.rstrip("/").rsplit("/", 1)[-1]
    dot = base.rfind(".")
    return "" if dot <= 0 or base == ".." else base[dot:]


def _extension(options: FetchTemplateOptions) -> str | None:
    configured = options.template_file_extension
    if not configured:
        return None
    if options.copy_without_templating or options.cookiecutter_compat:
        raise FetchTemplateError(
            "Fetch action input extension incompatible with copyWithoutTemplating and cookiecutterCompat"
        )
    extension = ".njk" if configured is True else str(configured)
    return extension if extension.startswith(".") else "." + extension


def _render(renderer: Renderer, source: str, context: dict[str, Any], where: str) -> str:
    try:
        return renderer.render(source, context)
    except RenderError as error:
        raise FetchTemplateError(f"{where}: {error}") from error


def _write(path: str, data: bytes, mode: int) -> None:
    """`fs.outputFile(path, data, {mode})`: the mode applies (through the umask) on creation."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)
