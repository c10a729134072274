"""Load device templates: each file validates against the schema of its transport family."""

from __future__ import annotations

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


def load_template(path: str | Path, schemas: Schemas) -> Template:
    """Load and validate one template file against its family's schema.

    Nothing is cached: a template may `!include` other files or use `!env`, and a long-running
    process that reloads must see every change to them.
    """
    p = Path(path)
    if not p.is_file():
        raise ConfigError(Problem("file not found", file=str(p)))
    doc = load_document(p)
    if doc.data is None:
        raise ConfigError(Problem("the file is empty", file=str(p), line=1, col=1))
    schema = template_schema(str(p), doc.data, schemas, doc)
    return validate_document(schema, doc)
