"""Settings: file + environment, precedence, and one clear sentence for every mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.config import load_settings
from engine.errors import ConfigError


def test_defaults_live_under_clawops_home(clawops_home: Path) -> None:
    settings = load_settings()
    assert settings.home == clawops_home
    assert settings.store_url == f"sqlite:///{clawops_home / 'clawops.db'}"
    assert settings.confirm_threshold == 10


def test_environment_overrides_the_file(clawops_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (clawops_home / "config.toml").write_text('confirm_threshold = 5\noperator = "alice"\n')
    monkeypatch.setenv("CLAWOPS_CONFIG_FILE", str(clawops_home / "config.toml"))
    assert load_settings().confirm_threshold == 5
    monkeypatch.setenv("CLAWOPS_CONFIRM_THRESHOLD", "3")
    settings = load_settings()
    assert (settings.confirm_threshold, settings.operator) == (3, "alice")


def test_a_typo_in_the_file_names_the_key_and_suggests_the_right_one(clawops_home: Path) -> None:
    (clawops_home / "config.toml").write_text("confirm_treshold = 5\n")
    with pytest.raises(ConfigError, match="Unknown setting 'confirm_treshold'.*did you mean 'confirm_threshold'"):
        load_settings()


def test_invalid_toml_names_the_file(clawops_home: Path) -> None:
    (clawops_home / "config.toml").write_text("confirm_threshold = = 5\n")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_settings()


def test_rule5_threshold_can_be_stricter_never_looser(clawops_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLAWOPS_CONFIRM_THRESHOLD", "50")
    with pytest.raises(ConfigError, match="must be between 1 and 10"):
        load_settings()


def test_missing_explicit_config_file(clawops_home: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(clawops_home / "nope.toml")


def test_secrets_are_never_printed(clawops_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLAWOPS_ANTHROPIC_API_KEY", "sk-ant-canary-123")
    monkeypatch.setenv("CLAWOPS_DATABASE_URL", "postgresql://ops:hunter2@db.example/clawops")
    settings = load_settings()
    shown = repr(settings) + str(settings)
    assert "sk-ant-canary-123" not in shown and "hunter2" not in shown
    assert settings.anthropic_api_key is not None
    assert settings.anthropic_api_key.get_secret_value() == "sk-ant-canary-123"
