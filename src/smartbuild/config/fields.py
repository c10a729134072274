"""Field types the pydantic schemas share (kept apart so that config/secret.py needs no pydantic)."""

from __future__ import annotations

from typing import Annotated

from pydantic import WithJsonSchema

from smartbuild.config.secret import Secret

# A text field that may also be given as ``!secret name`` (addresses with credentials, tokens).
SecretText = Annotated[str | Secret, WithJsonSchema({"type": "string"})]
