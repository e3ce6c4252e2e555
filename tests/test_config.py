from pathlib import Path

import pytest

from redline.config import ConfigError, Settings, load_settings


def test_defaults_are_embedded_sqlite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    assert settings == Settings()
    assert settings.database.url.startswith("sqlite:///")


def test_unknown_key_is_an_error_naming_file_and_field(tmp_path: Path) -> None:
    cfg = tmp_path / "redline.yaml"
    cfg.write_text("audit:\n  retain_contnet: true\n")
    with pytest.raises(ConfigError, match=r"redline.yaml: audit.retain_contnet"):
        load_settings(cfg)


def test_the_annotated_example_config_loads() -> None:
    settings = load_settings(Path(__file__).parents[1] / "redline.example.yaml")
    assert [p.name for p in settings.providers] == ["openai", "anthropic"]
    assert settings.server.admin_token_env == "REDLINE_ADMIN_TOKEN" and settings.audit.retain_content is False
