"""Channel settings come from env or TOML; a mistyped CLAWOPS_* variable is a warning naming the nearest one."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.config import load_settings, unknown_env_warnings


def test_channel_settings_from_env_and_toml(clawops_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLAWOPS_TELEGRAM_BOT_TOKEN", "123:abc")
    (clawops_home / "config.toml").write_text('whatsapp_phone_number_id = "1000001"\n')
    settings = load_settings()
    assert settings.telegram_bot_token is not None and settings.telegram_bot_token.get_secret_value() == "123:abc"
    assert settings.telegram_api_base == "https://api.telegram.org"
    assert settings.whatsapp_phone_number_id == "1000001"
    assert "123:abc" not in repr(settings)


def test_unknown_env_vars_name_the_nearest_setting() -> None:
    warnings = unknown_env_warnings(
        {
            "CLAWOPS_TELEGRAM_TOKEN": "x",
            "CLAWOPS_WHATSAP_APP_SECRET": "y",
            "CLAWOPS_HOME": "/tmp",
            "CLAWOPS_HETZNER_TOKEN": "z",
            "PATH": "/bin",
        }
    )
    assert len(warnings) == 2
    assert "CLAWOPS_TELEGRAM_TOKEN" in warnings[0] and "did you mean CLAWOPS_TELEGRAM_BOT_TOKEN?" in warnings[0]
    assert "did you mean CLAWOPS_WHATSAPP_APP_SECRET?" in warnings[1]
