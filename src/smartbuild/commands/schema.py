"""`smartbuild schema`: JSON Schemas of smartbuild's file formats, for editors."""

from __future__ import annotations

import click

from smartbuild.cli import get_app

FORMATS = ("site", "template", "profile")


def json_schema(kind: str) -> dict[str, object]:
    """Return the JSON Schema of a file format."""
    if kind == "site":
        from smartbuild.config.schema import Site as model
    elif kind == "template":
        from smartbuild.config.schema import Template as model  # type: ignore[assignment]
    else:
        from smartbuild.profiles.schema import Profile as model  # type: ignore[assignment]
    schema = model.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = f"smartbuild {kind} file"
    return schema


@click.command()
@click.argument("kind", type=click.Choice(FORMATS))
def schema(kind: str) -> None:
    """Print the JSON Schema of a file format."""
    get_app().output.emit_json(json_schema(kind))
