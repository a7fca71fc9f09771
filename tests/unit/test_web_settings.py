"""`[web]`: operator tokens from the environment only, checked, never shown."""

from pathlib import Path

import pytest

from pegkeeper.config import ConfigError, load_settings
from pegkeeper.config.web import parse_operator_tokens

TOKEN = "t0ken-0123456789abcdef"


def test_tokens_come_from_the_environment_and_are_never_shown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PEGKEEPER_WEB__OPERATOR_TOKENS", f"alice:{TOKEN}, bob.ops@example:{TOKEN}X")
    web = load_settings().web
    assert web.tokens() == {"alice": TOKEN, "bob.ops@example": f"{TOKEN}X"}
    assert TOKEN not in repr(web) and TOKEN not in str(web.model_dump())


def test_no_tokens_means_read_only() -> None:
    assert load_settings().web.tokens() == {}


def test_tokens_in_a_file_are_refused_without_showing_them(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(f'[web]\noperator_tokens = "alice:{TOKEN}"\n')
    with pytest.raises(ConfigError) as refused:
        load_settings(path)
    message = str(refused.value)
    assert "web.operator_tokens" in message and "PEGKEEPER_WEB__OPERATOR_TOKENS" in message
    assert TOKEN not in message


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("alice", "entry 1 must be NAME:TOKEN"),
        (f"al ice:{TOKEN}", "entry 1 must be NAME:TOKEN"),
        (f"alice:{TOKEN},:{TOKEN}Y", "entry 2 must be NAME:TOKEN"),
        ("alice:short", "the token of operator 'alice' is 5 characters; use at least 16"),
        (f"alice:{TOKEN},alice:{TOKEN}Y", "operator 'alice' is named twice"),
        (f"alice:{TOKEN},bob:{TOKEN}", "operator 'bob' shares a token"),
    ],
)
def test_malformed_tokens_are_refused_naming_what_is_wrong(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_operator_tokens(text)


def test_a_bad_token_in_the_environment_stops_the_start_without_showing_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PEGKEEPER_WEB__OPERATOR_TOKENS", "alice:tooshort-secret")
    with pytest.raises(ConfigError) as refused:
        load_settings()
    assert "web.operator_tokens" in str(refused.value) and "at least 16" in str(refused.value)
    assert "tooshort-secret" not in str(refused.value)
