"""Settings (PDZONE_* environment variables, or an optional TOML file named by PDZONE_CONFIG)."""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict, TomlConfigSettingsSource

_MEMORY = r"^[0-9]+(\.[0-9]+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$"
_UNITS = {"KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12, "KIB": 2**10, "MIB": 2**20, "GIB": 2**30,
          "TIB": 2**40}


def memory_bytes(text: str) -> int:
    """A memory size as the settings write it (`2GB`, `512 MiB`) in bytes."""
    m = re.match(r"^([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]+)$", text.strip())
    if not m or m.group(2).upper() not in _UNITS:
        raise ValueError(f"not a memory size: {text!r}")
    return int(float(m.group(1)) * _UNITS[m.group(2).upper()])


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
    # Sign-in throttling (docs/threat-model.md#sign-in): failed attempts per (account, source address)
    # and per source address within a window; a refused attempt answers like a wrong password.
    lockout_threshold: int = Field(default=5, ge=1)
    lockout_window_s: int = Field(default=15 * 60, ge=1)
    login_address_threshold: int = Field(default=50, ge=1)
    login_ipv6_prefix: int = Field(default=64, ge=1, le=128)  # IPv6 sign-ins are throttled per network
    session_idle_timeout_s: int = Field(default=30 * 60, ge=60)
    session_max_age_s: int = Field(default=12 * 3600, ge=60)
    api_token_max_days: int = Field(default=90, ge=1)
    password_min_length: int = Field(default=10, ge=8)
    token_cache_ttl_s: float = Field(default=5.0, ge=0)

    # Operation log
    checkpoint_every_events: int = Field(default=1000, ge=1)
    checkpoint_every_s: int = Field(default=300, ge=1)
    integrate_every_s: float = Field(default=1.0, gt=0)
    audit_denial_window_s: int = Field(default=60, ge=0)  # 0: every denial is its own event
    audit_clock_tolerance_s: float = Field(default=300.0, ge=0)

    # Background jobs (imports): a queue in the database, run by the server and by `pdzone worker`
    job_workers: int = Field(default=1, ge=0, le=32)
    job_poll_s: float = Field(default=1.0, gt=0)
    job_heartbeat_s: float = Field(default=5.0, gt=0)
    job_stale_after_s: float = Field(default=300.0, gt=0)
    job_max_attempts: int = Field(default=3, ge=1)

    # Limits on what a caller may send (ISSUE 8 §5): request bodies, uploads and what an import may read
    max_body_bytes: int = Field(default=2 * 1024 * 1024, ge=1024)  # any request but an upload
    max_upload_bytes: int = Field(default=512 * 1024 * 1024, ge=1024)  # the dataset upload routes
    import_max_rows: int = Field(default=10_000_000, ge=1)
    import_max_columns: int = Field(default=1_000, ge=1)  # checked from the header / metadata, before any row
    import_max_cells: int = Field(default=200_000_000, ge=1)  # rows × columns
    import_max_uncompressed_bytes: int = Field(default=512 * 1024 * 1024, ge=1024)  # xlsx members, Parquet
    import_max_ratio: float = Field(default=100.0, ge=2)  # uncompressed / compressed, per xlsx member
    import_memory_limit: str = Field(default="2GB", pattern=_MEMORY)  # an import's estimated working memory
    worker_memory_limit: str = Field(default="", pattern=rf"{_MEMORY}|^$")  # RLIMIT_AS of `pdzone worker`
    spool_stale_after_s: float = Field(default=3600.0, gt=0)  # an unowned spooled upload older than this goes

    # Clean room
    cleanroom_engine: Literal["duckdb", "postgres", "spark"] = "duckdb"
    cleanroom_engine_url: str = ""  # postgres: the zone's PostgreSQL DSN; spark: master URL or sc:// address
    cleanroom_k: int = Field(default=10, ge=2)
    # level 1, exact aggregates under a grant without the rows form: the fewest rows a released group stands for
    cleanroom_min_group_level1: int = Field(default=5, ge=1)
    cleanroom_min_group_level2: int = Field(default=10, ge=1)   # ad-hoc (DP) answers of level-2 data
    cleanroom_min_group_level3: int = Field(default=20, ge=1)
    cleanroom_min_group_level4: int = Field(default=50, ge=1)
    cleanroom_delta_per_query: float = Field(default=1e-7, gt=0, lt=1e-3)
    cleanroom_timeout_s: float = Field(default=60.0, gt=0)
    cleanroom_max_rows: int = Field(default=1000, ge=1, le=100_000)
    # accepted queries that still failed: this many for one grant within the window raise an alert
    cleanroom_fail_alert_threshold: int = Field(default=3, ge=1)
    cleanroom_fail_alert_window_s: float = Field(default=3600.0, gt=0)
    cleanroom_memory_limit: str = Field(default="4GB", pattern=_MEMORY)

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
