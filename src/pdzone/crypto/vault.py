"""Field encryption for personal data the platform itself keeps (e.g. users' ID numbers)."""

from __future__ import annotations

from pdzone.crypto.keystore import KeyStore
from pdzone.crypto.suites import CryptoSuite


class Vault:
    """Encrypts named fields under keys from the key store, and makes keyed hashes for lookups."""

    def __init__(self, suite: CryptoSuite, keystore: KeyStore) -> None:
        self.suite = suite
        self.keystore = keystore

    def _key(self, purpose: str) -> bytes:
        return self.keystore.secret(f"field:{self.suite.name}:{purpose}", self.suite.data_key_len)

    def encrypt(self, purpose: str, plaintext: str) -> bytes:
        return self.suite.encrypt(self._key(purpose), plaintext.encode(), aad=purpose.encode())

    def decrypt(self, purpose: str, blob: bytes) -> str:
        return self.suite.decrypt(self._key(purpose), bytes(blob), aad=purpose.encode()).decode()

    def blind_index(self, purpose: str, value: str) -> bytes:
        """A keyed hash (HMAC-SM3 under gm) that finds equal values without storing them."""
        return self.suite.hmac(self.keystore.secret(f"index:{purpose}"), value.encode())

    def token_hash(self, token: str) -> bytes:
        return self.suite.hash(token.encode())
