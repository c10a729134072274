"""Load device templates: each file validates against the schema of its transport family."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from smartbuild.config.locate import validate_document
from smartbuild.config.yamlload import load_document
from smartbuild.errors import ConfigError, Problem
from smartbuild.suggest import did_you_mean

if TYPE_CHECKING:
    from smartbuild.config.schema import Template

# family name -> its Template subclass; assembled from the registered transports
Schemas = Mapping[str, "type[Template]"]


def template_schema(path: str, data: object, schemas: Schemas, doc: object) -> type[Template]:
    """Return the family schema a template document names in ``transport:``."""
    from smartbuild.config.yamlload import Document

    assert isinstance(doc, Document)
    if not isinstance(data, dict):
        raise ConfigError(doc.problem((), "expected a mapping of keys to values at the top level"))
    family = data.get("transport")
    if family is None:
        raise ConfigError(doc.problem(("transport",), "missing required key 'transport'"))
    if not isinstance(family, str) or family not in schemas:
        known = ", ".join(sorted(schemas)) or "none"
        raise ConfigError(
            doc.problem(
                ("transport",),
                f"unknown transport family {family!r}.{did_you_mean(str(family), schemas)}"
                f" Loaded: {known} (a plugin adds others).",
            )
        )
    return schemas[family]


@functools.lru_cache(maxsize=512)
def _load(path: str, mtime_ns: int, schemas: tuple[tuple[str, type[Template]], ...]) -> Template:
    doc = load_document(path)
    if doc.data is None:
        raise ConfigError(Problem("the file is empty", file=path, line=1, col=1))
    schema = template_schema(path, doc.data, dict(schemas), doc)
    return validate_document(schema, doc)


def load_template(path: str | Path, schemas: Schemas) -> Template:
    """Load and validate one template file (cached while the file and the schemas are unchanged)."""
    p = Path(path)
    try:
        mtime = p.stat().st_mtime_ns
    except OSError:
        raise ConfigError(Problem("file not found", file=str(p))) from None
    return _load(str(p), mtime, tuple(sorted(schemas.items())))
