"""Wiring: settings → store, key store, crypto suite, vault, platform signing key."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from pdzone.audit import events as audit_events
from pdzone.audit import log as audit_log
from pdzone.config import Settings, get_settings
from pdzone.crypto import CryptoSuite, KeyStore, PrivateKey, Vault, get_suite, open_keystore
from pdzone.db import Store


@dataclass
class Runtime:
    settings: Settings
    store: Store

    @classmethod
    def from_settings(cls, settings: Settings | None = None, **engine_kw) -> Runtime:
        settings = settings or get_settings()
        return cls(settings, Store(settings.resolved_database_url, **engine_kw))

    def __post_init__(self) -> None:
        # Events are MACed with a key of the key store, opened only when the first event is written.
        audit_events.configure(self.store, audit_events.LogConfig(
            mac_key=lambda: self.keystore.mac_key(audit_events.MAC_KEY_NAME),
            existing_mac_key=self.existing_mac_key, default_suite=self.settings.crypto_suite,
            denial_window_s=self.settings.audit_denial_window_s))

    def existing_mac_key(self) -> bytes | None:
        """The event MAC key, if this host holds a key store with one (never creates either)."""
        from pdzone.crypto.keystore import STORE_FILE

        if not (self.settings.data_dir / STORE_FILE).exists():
            return None
        return self.keystore.existing_mac_key(audit_events.MAC_KEY_NAME)

    @cached_property
    def keystore(self) -> KeyStore:
        return open_keystore(self.settings)

    @property
    def suite(self) -> CryptoSuite:
        return get_suite(self.settings.crypto_suite)

    @cached_property
    def vault(self) -> Vault:
        return Vault(self.suite, self.keystore)

    @cached_property
    def datasets(self):
        """Where sealed dataset versions live (under the data dir)."""
        from pdzone.dataplane.storage import DatasetStorage

        return DatasetStorage(self.settings.data_dir, self.suite)

    @cached_property
    def engine(self):
        """The clean room's query engine (DuckDB by default; PostgreSQL or Spark by settings)."""
        from pdzone.cleanroom.engines import make_engine

        opts = {"url": self.settings.cleanroom_engine_url} if self.settings.cleanroom_engine != "duckdb" else \
            {"memory_limit": self.settings.cleanroom_memory_limit}
        return make_engine(self.settings.cleanroom_engine, **opts)

    def cleanroom(self):
        from pdzone.cleanroom.service import Env

        return Env(self.store, self.keystore, self.suite, self.datasets, self.engine, self.settings)

    @property
    def log_suite(self) -> CryptoSuite:
        """The suite the operation log was started with (it cannot change afterwards)."""
        with self.store.sessions() as s:
            return audit_log.suite_of_log(s, self.settings.crypto_suite)

    def signer(self, suite: CryptoSuite | None = None) -> PrivateKey:
        suite = suite or self.log_suite
        return self.keystore.signing_key("platform", suite.name)

    def trusted_platform_keys(self) -> set[str] | None:
        """Key ids of this host's platform signing keys, or None when this host holds no key store."""
        from pdzone.crypto.keystore import STORE_FILE

        if not (self.settings.data_dir / STORE_FILE).exists():
            return None
        found = {k.public().key_id for k in (self.keystore.existing_signing_key("platform", name)
                                             for name in ("gm", "intl")) if k is not None}
        return found or None

    def maintain_log(self, *, force_checkpoint: bool = False):
        """Integrate committed events and sign a checkpoint when one is due."""
        suite = self.log_suite
        n, cp = audit_log.maintain(self.store, suite, self.signer(suite), origin=self.settings.deployment_name,
                                   every_events=self.settings.checkpoint_every_events,
                                   every_s=self.settings.checkpoint_every_s)
        if force_checkpoint and cp is None:
            cp = audit_log.issue_checkpoint(self.store, suite, self.signer(suite),
                                            origin=self.settings.deployment_name, force=True)
        return n, cp
