"""Values from ``!secret``: a type that shows as ``***`` everywhere until a transport reveals it.

A Secret is deliberately not a ``str``: string operations (joining, concatenation, rich rendering,
JSON encoding of a str subclass) would expose the text, so they fail or mask instead. Only the
fields that declare ``SecretText`` (config/fields.py) accept one; the transport that needs the
value calls ``reveal()`` at the moment it connects. This module imports no pydantic: a site read
from the config cache holds Secrets, and reading a device must not load the schemas.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
    from pydantic_core import CoreSchema

MASK = "***"

T = TypeVar("T")


class Secret:
    """A value read with ``!secret name``: renders as ``***``; ``reveal()`` returns the value."""

    __slots__ = ("_value", "name")

    def __init__(self, value: str | int | float, name: str = "") -> None:
        self._value = value
        self.name = name

    def reveal(self) -> str | int | float:
        """Return the secret value (for the transport that must send it, nothing else)."""
        return self._value

    def __repr__(self) -> str:
        return MASK

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return format(MASK, spec)

    def to_json(self) -> str:
        """Return the JSON form: always the mask."""
        return MASK

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash((Secret, self._value))

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: type[Any], handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        """Accept Secret instances as they are; serialise them as the mask."""
        from pydantic_core import core_schema

        return core_schema.is_instance_schema(
            cls, serialization=core_schema.plain_serializer_function_ser_schema(lambda _: MASK)
        )

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> dict[str, Any]:
        """Describe a secret in JSON Schema as the string it is written as."""
        return {"type": "string"}


def reveal(value: T | Secret) -> T | str | int | float:
    """Return the plain value of a Secret, or value itself when it is not one."""
    return value.reveal() if isinstance(value, Secret) else value


def reveal_text(value: str | Secret) -> str:
    """Return the text of a field that may hold a secret (``SecretText``)."""
    plain = reveal(value)
    return plain if isinstance(plain, str) else str(plain)
