"""The base of every message on the bus: frozen, strict about unknown fields, versioned."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, PlainSerializer

#: Money on the wire: a Decimal that serializes as a plain decimal string ("0.50"), never a float.
Money = Annotated[Decimal, PlainSerializer(lambda d: format(d, "f"), return_type=str, when_used="json")]

#: Integer nanoseconds since the Unix epoch (UTC).
Nanos = int


class Message(BaseModel):
    """Frozen pydantic model with a schema version; unknown fields are an error."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    SCHEMA_VERSION: ClassVar[int] = 1
    schema_version: int = 1

    def model_post_init(self, context: Any, /) -> None:
        if self.schema_version != self.SCHEMA_VERSION:
            raise ValueError(
                f"{type(self).__name__}: schema_version {self.schema_version} is not supported "
                f"(this build speaks {self.SCHEMA_VERSION})"
            )

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> Any:
        return cls.model_validate_json(data)
