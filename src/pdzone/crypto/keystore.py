"""Key store: where the platform's secrets and keys live.

`LocalKeyStore` keeps them in one file in the data dir (mode 0600), each entry encrypted under a
key derived (scrypt) from the keystore passphrase. The passphrase comes from
`PDZONE_KEYSTORE_PASSPHRASE`, or the file named by `PDZONE_KEYSTORE_PASSPHRASE_FILE`; when neither
is set it is generated into the data dir (0600) and never prompted for. A deployment that wants
the passphrase off the host (an HSM or a KMS) implements `KeyStore` for it.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import secrets
from abc import ABC, abstractmethod
from pathlib import Path

from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from pdzone.config import Settings
from pdzone.crypto.suites import PrivateKey, get_suite

PASS_FILE = "keystore.pass"
STORE_FILE = "keystore.json"


class KeyStore(ABC):
    """Named secrets and signing keys; created on first use, never returned in plaintext to clients."""

    @abstractmethod
    def secret(self, name: str, length: int = 32) -> bytes: ...

    @abstractmethod
    def signing_key(self, name: str, suite: str) -> PrivateKey: ...

    @abstractmethod
    def existing_signing_key(self, name: str, suite: str) -> PrivateKey | None:
        """The key if it exists; never creates one (a verifier must not mint a new platform key)."""

    @abstractmethod
    def mac_key(self, name: str) -> bytes:
        """A 32-byte MAC key of its own kind (`mac:NAME`), kept apart from named secrets."""

    @abstractmethod
    def existing_mac_key(self, name: str) -> bytes | None:
        """The MAC key if it exists; never creates one."""


def write_private(path: Path, data: bytes) -> None:
    """Write a file only its owner can read (0600), atomically and durably."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    # a temporary name of its own: two writers of one path (threads or processes) must not share it
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class LocalKeyStore(KeyStore):
    def __init__(self, directory: Path, passphrase: bytes, suite: str = "gm") -> None:
        self.dir = directory
        self.path = directory / STORE_FILE
        self._passphrase = passphrase
        self._suite = get_suite(suite)
        self._cache: dict[str, bytes] = {}
        self._kek: bytes | None = None

    @contextlib.contextmanager
    def _locked(self):
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.dir / (STORE_FILE + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def _load(self) -> dict:
        if not self.path.exists():
            return {"version": 1, "cipher": self._suite.cipher_name,
                    "salt": base64.b64encode(os.urandom(16)).decode(), "entries": {}}
        return json.loads(self.path.read_text(encoding="utf-8"))

    def _key(self, doc: dict) -> bytes:
        if self._kek is None:
            # The file's own cipher decides the key size: a store made under one suite opens under the other.
            length = get_suite("gm" if doc.get("cipher") == "sm4-gcm" else "intl").data_key_len
            kdf = Scrypt(salt=base64.b64decode(doc["salt"]), length=length, n=2**14, r=8, p=1)
            self._kek = kdf.derive(self._passphrase)
        return self._kek

    def _get(self, name: str, make) -> bytes:
        if name in self._cache:
            return self._cache[name]
        with self._locked():
            doc = self._load()
            suite = get_suite("gm" if doc.get("cipher") == "sm4-gcm" else "intl")
            kek = self._key(doc)
            entry = doc["entries"].get(name)
            if entry is None:
                value = make()
                doc["entries"][name] = base64.b64encode(
                    suite.encrypt(kek, value, aad=name.encode())).decode()
                write_private(self.path, json.dumps(doc, indent=1).encode())
            else:
                value = suite.decrypt(kek, base64.b64decode(entry), aad=name.encode())
        self._cache[name] = value
        return value

    def secret(self, name: str, length: int = 32) -> bytes:
        return self._get(f"secret:{name}", lambda: secrets.token_bytes(length))

    def signing_key(self, name: str, suite: str) -> PrivateKey:
        pem = self._get(f"signing:{suite}:{name}", lambda: get_suite(suite).generate_private_key().pem)
        return PrivateKey(suite, pem)

    def existing_signing_key(self, name: str, suite: str) -> PrivateKey | None:
        entry = f"signing:{suite}:{name}"
        if entry not in self._cache and (not self.path.exists() or entry not in self._load()["entries"]):
            return None
        return self.signing_key(name, suite)


    def mac_key(self, name: str) -> bytes:
        return self._get(f"mac:{name}", lambda: secrets.token_bytes(32))

    def existing_mac_key(self, name: str) -> bytes | None:
        entry = f"mac:{name}"
        if entry not in self._cache and (not self.path.exists() or entry not in self._load()["entries"]):
            return None
        return self.mac_key(name)


def _passphrase(settings: Settings) -> bytes:
    if settings.keystore_passphrase:
        return settings.keystore_passphrase.encode()
    if settings.keystore_passphrase_file:
        return settings.keystore_passphrase_file.read_bytes().strip()
    path = settings.ensure_data_dir() / PASS_FILE
    if not path.exists():
        with contextlib.suppress(FileExistsError):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_urlsafe(32))
    return path.read_bytes().strip()


def open_keystore(settings: Settings) -> KeyStore:
    return LocalKeyStore(settings.ensure_data_dir(), _passphrase(settings), settings.crypto_suite)
