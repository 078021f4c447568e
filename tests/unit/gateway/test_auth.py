from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from services.gateway.auth import Principal, Role, TokenFileError, Tokens, parse_tokens_file
from services.gateway.settings import GatewaySettings

FILE = """
# name role token
alice operator alice-token-0123456789
bob   viewer   bob-token-0123456789abc   # read only
"""


def test_tokens_from_env_and_file(tmp_path: Path) -> None:
    path = tmp_path / "tokens"
    path.write_text(FILE)
    s = GatewaySettings(api_token=SecretStr("env-operator-token-xyz"), tokens_file=path)
    tokens = Tokens.from_settings(s)
    assert tokens.who("alice-token-0123456789") == Principal("alice", Role.OPERATOR)
    assert tokens.who("bob-token-0123456789abc") == Principal("bob", Role.VIEWER)
    assert tokens.who("env-operator-token-xyz") == Principal("operator", Role.OPERATOR)
    for wrong in ("", "alice-token-012345678", "alice-token-0123456789 ", "bob", "ALICE-TOKEN-0123456789"):
        assert tokens.who(wrong) is None
    assert not Principal("bob", Role.VIEWER).may_operate


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("alice operator", ":1: expected `name role token`, got 2"),
        ("\n\nalice admin alice-token-0123456789", ":3: role 'admin'"),
        ("alice viewer short", ":1: token of 'alice' is shorter than 16"),
    ],
)
def test_a_bad_tokens_file_names_the_line(text: str, message: str) -> None:
    with pytest.raises(TokenFileError, match=message.replace("(", r"\(").replace("`", "`")):
        parse_tokens_file(text, "tokens")


def test_no_tokens_at_all_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="TRADEBUS_API_TOKEN"):
        Tokens.from_settings(GatewaySettings())


def test_an_unreadable_tokens_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(TokenFileError, match="missing"):
        Tokens.from_settings(GatewaySettings(tokens_file=tmp_path / "missing"))
