"""`smartbuild schema` prints JSON Schemas that validate the shipped examples."""

from __future__ import annotations

import json

import jsonschema
import pytest
import yaml

from tests.conftest import EXAMPLES


@pytest.mark.parametrize("kind", ["site", "template", "profile"])
def test_schema_is_valid_json_schema(run, kind):
    result = run("schema", kind)
    assert result.exit_code == 0, result.output
    schema = json.loads(result.stdout)
    jsonschema.Draft202012Validator.check_schema(schema)


def test_site_schema_accepts_the_example_site(run):
    schema = json.loads(run("schema", "site").stdout)
    jsonschema.validate(yaml.safe_load((EXAMPLES / "site.yaml").read_text()), schema)
