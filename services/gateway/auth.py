"""Bearer tokens with roles. Tokens come from the environment and/or a secrets file; a presented
token is compared with every known token in constant time (SHA-256 digests, `compare_digest`)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from services.gateway.settings import GatewaySettings


class Role(StrEnum):
    VIEWER = "viewer"
    OPERATOR = "operator"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: `name` is what the audit log records."""

    name: str
    role: Role

    @property
    def may_operate(self) -> bool:
        return self.role is Role.OPERATOR


class TokenFileError(ValueError):
    """A secrets file that cannot be read; the message names the file and line."""


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def parse_tokens_file(text: str, origin: str = "tokens file") -> list[tuple[str, Role, str]]:
    """`name role token` per line; blank lines and `#` comments are skipped."""
    out: list[tuple[str, Role, str]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) != 3:
            raise TokenFileError(f"{origin}:{number}: expected `name role token`, got {len(parts)} fields")
        name, role, token = parts
        try:
            out.append((name, Role(role), token))
        except ValueError:
            raise TokenFileError(
                f"{origin}:{number}: role {role!r} is not one of {[r.value for r in Role]}"
            ) from None
        if len(token) < 16:
            raise TokenFileError(f"{origin}:{number}: token of {name!r} is shorter than 16 characters")
    return out


class Tokens:
    """The known tokens; `who(token)` is the principal, or None for an unknown token."""

    def __init__(self, entries: list[tuple[str, Role, str]]) -> None:
        if not entries:
            raise ValueError(
                "no API tokens: set TRADEBUS_API_TOKEN (and TRADEBUS_API_VIEWER_TOKEN) "
                "or TRADEBUS_GATEWAY_TOKENS_FILE"
            )
        self._entries = [(_digest(token), Principal(name, role)) for name, role, token in entries]

    @classmethod
    def from_settings(cls, s: GatewaySettings) -> Tokens:
        entries: list[tuple[str, Role, str]] = []
        if s.api_token:
            entries.append(("operator", Role.OPERATOR, s.api_token.get_secret_value()))
        if s.viewer_token:
            entries.append(("viewer", Role.VIEWER, s.viewer_token.get_secret_value()))
        if s.tokens_file is not None:
            path = Path(s.tokens_file)
            try:
                text = path.read_text()
            except OSError as exc:
                raise TokenFileError(f"{path}: cannot read: {exc.strerror}") from None
            entries += parse_tokens_file(text, str(path))
        return cls(entries)

    def who(self, token: str) -> Principal | None:
        given = _digest(token)
        found: Principal | None = None
        for digest, principal in self._entries:  # every entry, whatever matched: no early exit
            if secrets.compare_digest(given, digest):
                found = principal
        return found
