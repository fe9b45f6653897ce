"""Settings (PDZONE_* environment variables, or an optional TOML file named by PDZONE_CONFIG)."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict, TomlConfigSettingsSource


def _default_data_dir() -> Path:
    return Path(os.environ.get("PDZONE_DATA_DIR") or Path.cwd() / "pdzone-data")


class Settings(BaseSettings):
    """Everything that differs between deployments. See docs/configuration.md."""

    model_config = SettingsConfigDict(env_prefix="PDZONE_", extra="ignore")

    data_dir: Path = Field(default_factory=_default_data_dir)
    database_url: str = ""
    crypto_suite: Literal["gm", "intl"] = "gm"
    # Secrets: given directly, or as a file path (…_FILE); generated into data_dir when absent.
    keystore_passphrase: str = ""
    keystore_passphrase_file: Path | None = None
    deployment_name: str = "pdzone"

    # Authentication (R-21.1, MLPS level 3)
    lockout_threshold: int = Field(default=5, ge=1)
    lockout_window_s: int = Field(default=15 * 60, ge=1)
    session_idle_timeout_s: int = Field(default=30 * 60, ge=60)
    session_max_age_s: int = Field(default=12 * 3600, ge=60)
    api_token_max_days: int = Field(default=90, ge=1)
    password_min_length: int = Field(default=10, ge=8)
    token_cache_ttl_s: float = Field(default=5.0, ge=0)

    # Operation log
    checkpoint_every_events: int = Field(default=1000, ge=1)
    checkpoint_every_s: int = Field(default=300, ge=1)
    integrate_every_s: float = Field(default=1.0, gt=0)

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings,
                                   file_secret_settings):
        sources = [init_settings, env_settings, file_secret_settings]
        toml = os.environ.get("PDZONE_CONFIG")
        if toml:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml))
        return tuple(sources)

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'pdzone.db').resolve()}"

    def ensure_data_dir(self) -> Path:
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        return self.data_dir


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def reset_settings() -> None:
    """Forget cached settings (tests and the CLI change the environment)."""
    get_settings.cache_clear()
