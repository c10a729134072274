"""YAML loading that keeps file:line:col for every node.

Safe loading only (the C loader when available). Scalars follow YAML 1.2 habits where YAML 1.1 surprises
people: ``7:00`` stays a string (not 420) and ``on``/``off``/``yes``/``no`` stay strings.
Tags: ``!env NAME``, ``!secret name`` (from secrets.yaml beside the file; a ``Secret`` that shows as
``***``), ``!include file`` (inside the folder tree of the file first loaded, symlinks resolved).
Aliases are bounded: a document whose aliases expand it past ``MAX_EXPANDED`` values, that nests
deeper than ``MAX_DEPTH`` or that refers to itself is refused before anything is built from it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from smartbuild.config.secret import Secret
from smartbuild.errors import ConfigError, Problem

try:
    _BaseLoader: type = yaml.CSafeLoader
except AttributeError:  # libyaml not available
    _BaseLoader = yaml.SafeLoader

PathKey = tuple[Any, ...]

MAX_EXPANDED = 200_000  # values a document may hold once its aliases are expanded
MAX_DEPTH = 100  # nesting of mappings and sequences
SECRETS_FILE = "secrets.yaml"

# What a load read, for the validated-config cache (config/cache.py): file -> sha256 of its text,
# and environment variable -> its value (None when unset). None when nobody records.
RECORD: dict[str, dict[str, str | None]] | None = None


def _record(kind: str, key: str, value: str | None) -> None:
    if RECORD is not None:
        RECORD.setdefault(kind, {})[key] = value


@dataclass(frozen=True)
class Loc:
    """A position in a file (1-based line and column)."""

    file: str
    line: int
    col: int


@dataclass
class Document:
    """A parsed YAML document with the location of every value and key."""

    data: Any
    file: str
    values: dict[PathKey, Loc] = field(default_factory=dict)
    keys: dict[PathKey, Loc] = field(default_factory=dict)
    secrets: set[PathKey] = field(default_factory=set)

    def locate(self, path: PathKey, *, key: bool = False) -> Loc | None:
        """Return the location of path, or of its deepest located parent."""
        path = tuple(path)
        if key and path in self.keys:
            return self.keys[path]
        while True:
            if path in self.values:
                return self.values[path]
            if not path:
                return None
            path = path[:-1]

    def is_secret(self, path: PathKey) -> bool:
        """Return True when path is, or lies under, a value from !secret."""
        return any(tuple(path[: len(s)]) == s for s in self.secrets)

    def problem(self, path: PathKey, message: str, *, key: bool = False) -> Problem:
        """Return a Problem located at path."""
        loc = self.locate(path, key=key)
        return Problem(
            message,
            file=loc.file if loc else self.file,
            line=loc.line if loc else None,
            col=loc.col if loc else None,
            path=format_path(path),
        )


def format_path(path: PathKey) -> str:
    """Return a path as people write it: ``devices.th-1.points[2]``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


class _Loader(_BaseLoader):
    """Safe loader with smartbuild's tags and YAML-1.2-like scalars."""

    sb_file: Path
    sb_includes: dict[int, Document]
    sb_secret_nodes: set[int]
    sb_stack: tuple[Path, ...]
    sb_root: Path


# Keep YAML 1.1 resolvers except sexagesimal numbers and yes/no/on/off booleans.
_OVERRIDES = {
    "tag:yaml.org,2002:bool": re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    "tag:yaml.org,2002:int": re.compile(
        r"^(?:[-+]?0b[0-1_]+|[-+]?0o?[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+)$"
    ),
    "tag:yaml.org,2002:float": re.compile(
        r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
}
_Loader.yaml_implicit_resolvers = {}
for _first, _resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items():
    for _tag, _regexp in _resolvers:
        _Loader.yaml_implicit_resolvers.setdefault(_first, []).append(
            (_tag, _OVERRIDES.get(_tag, _regexp))
        )


def _mark_problem(loader: _Loader, node: yaml.Node, message: str) -> ConfigError:
    mark = node.start_mark
    return ConfigError(Problem(message, str(loader.sb_file), mark.line + 1, mark.column + 1))


def _construct_env(loader: _Loader, node: yaml.Node) -> str:
    name = loader.construct_scalar(node)
    if not isinstance(name, str) or not name:
        raise _mark_problem(loader, node, "!env needs the name of an environment variable")
    if RECORD is not None:
        from smartbuild.config.cache import text_digest

        value = os.environ.get(name)
        _record("env", name, None if value is None else text_digest(value))
    if name not in os.environ:
        raise _mark_problem(
            loader, node, f"environment variable {name!r} is not set; export it or edit the file"
        )
    return os.environ[name]


def _construct_secret(loader: _Loader, node: yaml.Node) -> Any:
    name = loader.construct_scalar(node)
    secrets_file = loader.sb_file.parent / SECRETS_FILE
    if not secrets_file.is_file():
        raise _mark_problem(
            loader, node, f"!secret {name!r}: no secrets.yaml next to {loader.sb_file.name}"
        )
    secrets = load_document(secrets_file, _secrets=True).data or {}
    if not isinstance(secrets, dict) or name not in secrets:
        raise _mark_problem(loader, node, f"!secret {name!r} is not defined in {secrets_file}")
    value = secrets[name]
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise _mark_problem(
            loader, node, f"!secret {name!r} must be a single text or number in {secrets_file}"
        )
    loader.sb_secret_nodes.add(id(node))
    return Secret(value, str(name))


def _construct_include(loader: _Loader, node: yaml.Node) -> Any:
    rel = loader.construct_scalar(node)
    if not isinstance(rel, str) or not rel.strip():
        raise _mark_problem(loader, node, "!include needs a file name")
    if Path(rel).is_absolute() or rel.startswith("~"):
        raise _mark_problem(
            loader,
            node,
            f"!include {rel!r}: write a path relative to {loader.sb_file.name}, not an absolute one",
        )
    target = (loader.sb_file.parent / rel).resolve()
    if not _inside(target, loader.sb_root):
        raise _mark_problem(
            loader,
            node,
            f"!include {rel!r} leads outside the site's folder {loader.sb_root}; "
            "includes stay inside the folder tree of the file (symlinks resolved)",
        )
    if target.name == SECRETS_FILE:  # its values are read one by one, as secrets
        raise _mark_problem(
            loader, node, f"!include {rel!r}: {SECRETS_FILE} is read only through !secret name"
        )
    if target in loader.sb_stack:
        raise _mark_problem(loader, node, f"!include {rel!r} includes itself")
    if not target.is_file():
        raise _mark_problem(loader, node, f"!include {rel!r}: file not found ({target})")
    doc = load_document(target, _stack=(*loader.sb_stack, target), _root=loader.sb_root)
    loader.sb_includes[id(node)] = doc
    return doc.data


def _inside(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
    except ValueError:
        return False
    return True


_Loader.add_constructor("!env", _construct_env)
_Loader.add_constructor("!secret", _construct_secret)
_Loader.add_constructor("!include", _construct_include)


def load_document(
    path: str | os.PathLike[str],
    *,
    _stack: tuple[Path, ...] = (),
    _root: Path | None = None,
    _secrets: bool = False,
) -> Document:
    """Parse one YAML file into a located Document; raise ConfigError with a location."""
    file = Path(path)
    name = str(path)
    if not _secrets and file.resolve().name == SECRETS_FILE:
        # read as a site, template or profile, its values would be echoed in messages
        raise ConfigError(
            Problem(f"{SECRETS_FILE} is read only through `!secret name`", file=name),
            hint="point smartbuild at the site, template or profile file that uses the secrets",
        )
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(Problem("file not found", file=name)) from None
    except IsADirectoryError:
        raise ConfigError(Problem("is a directory, expected a YAML file", file=name)) from None
    except PermissionError:
        raise ConfigError(
            Problem("cannot read the file: permission denied", file=name),
            hint="check the file's owner and mode",
        ) from None
    except UnicodeDecodeError as error:
        raise ConfigError(Problem(f"not UTF-8 text ({error.reason})", file=name)) from None
    if RECORD is not None:
        from smartbuild.config.cache import text_digest

        _record("files", str(file.resolve()), text_digest(text))
    return load_text(text, name, _stack=_stack or (file.resolve(),), _root=_root)


def load_text(
    text: str, file: str, *, _stack: tuple[Path, ...] = (), _root: Path | None = None
) -> Document:
    """Parse YAML text as if it came from file (includes stay inside file's folder tree)."""
    loader = _Loader(text)
    loader.sb_file = Path(file)
    loader.sb_includes = {}
    loader.sb_secret_nodes = set()
    loader.sb_stack = _stack
    loader.sb_root = _root or Path(file).parent.resolve()
    try:
        node = loader.get_single_node()
        if node is not None:
            _check_expansion(node, file)
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        message = " ".join(p for p in (error.context, error.problem) if p) or "invalid YAML"
        raise ConfigError(
            Problem(
                f"invalid YAML: {message}",
                file,
                mark.line + 1 if mark else None,
                mark.column + 1 if mark else None,
            )
        ) from None
    except yaml.YAMLError as error:
        raise ConfigError(Problem(f"invalid YAML: {error}", file)) from None
    finally:
        loader.dispose()
    doc = Document(data, file)
    if node is not None:
        problems: list[Problem] = []
        _walk(loader, node, (), doc, problems)
        if problems:
            raise ConfigError(problems)
    return doc


def _check_expansion(root: yaml.Node, file: str) -> None:
    """Refuse alias bombs, self-referring aliases and absurd nesting before construction."""
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def fail(node: yaml.Node, message: str) -> ConfigError:
        mark = node.start_mark
        return ConfigError(Problem(message, file, mark.line + 1, mark.column + 1))

    def size(node: yaml.Node, depth: int) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in active:
            raise fail(node, "this alias refers to a node that contains it (a recursive alias)")
        if depth > MAX_DEPTH:
            raise fail(node, f"nested deeper than {MAX_DEPTH} levels")
        total = 1
        if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)):
            active.add(key)
            children = (
                [n for pair in node.value for n in pair]
                if isinstance(node, yaml.MappingNode)
                else node.value
            )
            for child in children:
                total += size(child, depth + 1)
                if total > MAX_EXPANDED:
                    break  # no need to count an alias bomb to the end
            active.discard(key)
        sizes[key] = total
        return total

    if size(root, 0) <= MAX_EXPANDED:
        return
    node = root  # point at the innermost node that alone is past the limit
    while isinstance(node, (yaml.MappingNode, yaml.SequenceNode)):
        children = (
            [n for pair in node.value for n in pair]
            if isinstance(node, yaml.MappingNode)
            else node.value
        )
        bigger = [c for c in children if sizes.get(id(c), 0) > MAX_EXPANDED]
        if not bigger:
            break
        node = bigger[0]
    raise fail(
        node,
        f"YAML aliases expand this to more than {MAX_EXPANDED:,} values (an alias bomb?); "
        "write the values out or use fewer nested aliases",
    )


def _walk(
    loader: _Loader, node: yaml.Node, path: PathKey, doc: Document, problems: list[Problem]
) -> None:
    mark = node.start_mark
    doc.values[path] = Loc(doc.file, mark.line + 1, mark.column + 1)
    if id(node) in loader.sb_secret_nodes:
        doc.secrets.add(path)
    included = loader.sb_includes.get(id(node))
    if included is not None:
        for sub, loc in included.values.items():
            doc.values[path + sub] = loc
        for sub, loc in included.keys.items():
            doc.keys[path + sub] = loc
        doc.secrets.update(path + s for s in included.secrets)
        return
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        merged = any(k.tag == "tag:yaml.org,2002:merge" for k, _ in node.value)
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = loader.construct_object(key_node, deep=True)
            try:
                hash(key)
            except TypeError:
                problems.append(
                    Problem(
                        "mapping keys must be scalars",
                        doc.file,
                        key_node.start_mark.line + 1,
                        key_node.start_mark.column + 1,
                        format_path(path),
                    )
                )
                continue
            kmark = key_node.start_mark
            if key in seen and not merged:
                problems.append(
                    Problem(
                        f"duplicate key {key!r} (first at line {seen[key]}); remove one of them",
                        doc.file,
                        kmark.line + 1,
                        kmark.column + 1,
                        format_path(path),
                    )
                )
            seen[key] = kmark.line + 1
            sub = (*path, key)
            doc.keys[sub] = Loc(doc.file, kmark.line + 1, kmark.column + 1)
            _walk(loader, value_node, sub, doc, problems)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(loader, item, (*path, index), doc, problems)
