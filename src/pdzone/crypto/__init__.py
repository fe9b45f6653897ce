"""Crypto suites and the key store.

Two suites, chosen by `PDZONE_CRYPTO_SUITE`:

* ``gm`` (default): SM3 hash, SM4-GCM encryption, SM2 signatures (GB/T 32918, with the
  default distinguishing ID ``1234567812345678``, so OpenSSL verifies them).
* ``intl``: SHA-256, AES-256-GCM, Ed25519.

Everything calls the suite through :func:`get_suite`; nothing names an algorithm directly.
"""

from pdzone.crypto.keystore import KeyStore, LocalKeyStore, open_keystore
from pdzone.crypto.suites import (
    CryptoSuite,
    PrivateKey,
    PublicKey,
    get_suite,
    suite_names,
)
from pdzone.crypto.vault import Vault

__all__ = [
    "CryptoSuite",
    "KeyStore",
    "LocalKeyStore",
    "PrivateKey",
    "PublicKey",
    "Vault",
    "get_suite",
    "open_keystore",
    "suite_names",
]
