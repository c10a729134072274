"""Validate located YAML documents with pydantic and report file:line:col problems."""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar, Union

from pydantic import BaseModel, ValidationError

from smartbuild.config.secret import Secret
from smartbuild.config.yamlload import Document, PathKey, load_document
from smartbuild.errors import ConfigError, Problem
from smartbuild.suggest import did_you_mean

M = TypeVar("M", bound=BaseModel)


def _unwrap(annotation: Any) -> list[Any]:
    """Return the concrete types an annotation may hold (Optional/Union/Annotated removed)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        out: list[Any] = []
        for arg in typing.get_args(annotation):
            out.extend(_unwrap(arg))
        return out
    return [annotation]


def _step(annotation: Any, part: Any) -> Any:
    for candidate in _unwrap(annotation):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            fields = _fields(candidate)
            if part in fields:
                return fields[part]
        origin = typing.get_origin(candidate)
        args = typing.get_args(candidate)
        if origin in (dict, Mapping) and len(args) == 2 and not isinstance(part, int):
            return args[1]
        if origin in (list, tuple, set, frozenset) and args and isinstance(part, int):
            return args[0]
    return None


def _fields(model: type[BaseModel]) -> dict[str, Any]:
    return {(f.alias or name): f.annotation for name, f in model.model_fields.items()}


def allowed_keys(model: type[BaseModel], path: PathKey) -> list[str]:
    """Return the keys a closed model accepts at path inside a document."""
    annotation: Any = model
    for part in path:
        annotation = _step(annotation, part)
        if annotation is None:
            return []
    for candidate in _unwrap(annotation):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return list(_fields(candidate))
    return []


def _data_path(data: Any, loc: tuple[Any, ...]) -> PathKey:
    """Keep only the loc parts that index into the data (drop pydantic's union tags)."""
    path: list[Any] = []
    current = data
    for part in loc:
        if isinstance(current, dict) and part in current:
            current = current[part]
            path.append(part)
        elif (
            isinstance(current, dict)
            and isinstance(part, str)
            and part.isdigit()
            and int(part) in current
        ):
            current = current[int(part)]
            path.append(int(part))
        elif isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current):
            current = current[part]
            path.append(part)
        elif isinstance(current, dict | list):
            # a key that is not in the data: missing or extra; keep it as the last element
            path.append(part)
            break
    return tuple(path)


def problems_from(error: ValidationError, doc: Document, model: type[BaseModel]) -> list[Problem]:
    """Turn a pydantic ValidationError into located problems."""
    problems: list[Problem] = []
    seen: set[tuple[PathKey, str]] = set()
    for err in error.errors(include_url=False):
        path = _data_path(doc.data, tuple(err["loc"]))
        kind = err["type"]
        if kind == "extra_forbidden":
            key = path[-1] if path else "?"
            hint = did_you_mean(str(key), allowed_keys(model, path[:-1]))
            allowed = allowed_keys(model, path[:-1])
            if not hint and allowed:
                hint = f" Allowed keys: {', '.join(sorted(allowed))}."
            problem = doc.problem(path, f"unknown key {key!r}.{hint}", key=True)
        elif kind == "missing":
            problem = doc.problem(path[:-1], f"missing required key {path[-1]!r}")
            problem = Problem(
                problem.message, problem.file, problem.line, problem.col, _fmt(path[:-1])
            )
        else:
            message = (
                str(err["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
            )
            ctx = err.get("ctx") or {}
            value = err.get("input")
            secret = doc.is_secret(path)
            if isinstance(value, Secret):
                message = (
                    "a !secret value cannot be used here; secrets are for credentials "
                    "(a device's address) and are never shown"
                )
            elif kind in ("literal_error", "enum") and isinstance(value, str) and not secret:
                expected = [
                    e.strip().strip("'")
                    for e in str(ctx.get("expected", "")).replace(" or ", ",").split(",")
                ]
                message = (
                    f"{value!r} is not allowed: {message.lower()}.{did_you_mean(value, expected)}"
                )
            elif (
                not secret
                and isinstance(value, (str, int, float, bool))
                and kind not in ("value_error", "assertion_error")
                and repr(value) not in message  # custom errors often quote the value already
            ):
                message = f"{message} (got {value!r})"
            problem = doc.problem(path, message)
        marker = (path, problem.message)
        if marker not in seen:
            seen.add(marker)
            problems.append(problem)
    return problems


def _fmt(path: PathKey) -> str:
    from smartbuild.config.yamlload import format_path

    return format_path(path)


def validate_document(model: type[M], doc: Document, context: dict[str, Any] | None = None) -> M:
    """Validate a located document against a closed model; raise ConfigError with locations."""
    try:
        return model.model_validate(doc.data, context=context)
    except ValidationError as error:
        raise ConfigError(problems_from(error, doc, model)) from None


def load_model(
    model: type[M], path: str, context: dict[str, Any] | None = None
) -> tuple[M, Document]:
    """Load a YAML file and validate it; return the model and its located document."""
    doc = load_document(path)
    if doc.data is None:
        raise ConfigError(Problem("the file is empty", file=path, line=1, col=1))
    if not isinstance(doc.data, dict):
        raise ConfigError(doc.problem((), "expected a mapping of keys to values at the top level"))
    return validate_document(model, doc, context), doc
