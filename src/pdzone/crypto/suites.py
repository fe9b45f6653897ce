"""The `gm` (SM2/SM3/SM4) and `intl` (Ed25519/SHA-256/AES-256-GCM) suites behind one interface."""

from __future__ import annotations

import hashlib
import hmac as std_hmac
import os
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives import hmac as c_hmac
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from pdzone.errors import Invalid

NONCE = 12
TAG = 16


class DecryptionError(Invalid):
    code = "decryption_failed"


@dataclass(frozen=True)
class PublicKey:
    """A verification key: its suite, PEM (SubjectPublicKeyInfo) and key id (hash of the DER)."""

    suite: str
    pem: bytes

    @property
    def key_id(self) -> str:
        return get_suite(self.suite).key_id(self.pem)

    def verify(self, signature: bytes, message: bytes) -> bool:
        return get_suite(self.suite).verify(self.pem, signature, message)


@dataclass(frozen=True)
class PrivateKey:
    suite: str
    pem: bytes  # PKCS#8, unencrypted: the key store encrypts it at rest

    def sign(self, message: bytes) -> bytes:
        return get_suite(self.suite).sign(self.pem, message)

    def public(self) -> PublicKey:
        return PublicKey(self.suite, get_suite(self.suite).public_pem(self.pem))


class CryptoSuite(ABC):
    name: str
    hash_name: str
    cipher_name: str
    signature_name: str
    data_key_len: int

    @abstractmethod
    def hash_factory(self) -> Callable[[bytes], object]:
        """A constructor like ``hashlib.sha256``: ``f(data).digest()``."""

    def hash(self, data: bytes) -> bytes:
        return self.hash_factory()(data).digest()  # type: ignore[attr-defined]

    @abstractmethod
    def hmac(self, key: bytes, data: bytes) -> bytes: ...

    @abstractmethod
    def _aead(self, key: bytes, nonce: bytes, data: bytes, aad: bytes, encrypt: bool) -> bytes: ...

    def encrypt(self, key: bytes, plaintext: bytes, aad: bytes = b"") -> bytes:
        """Authenticated encryption; returns nonce || ciphertext || tag."""
        nonce = os.urandom(NONCE)
        return nonce + self._aead(key, nonce, plaintext, aad, True)

    def decrypt(self, key: bytes, blob: bytes, aad: bytes = b"") -> bytes:
        if len(blob) < NONCE + TAG:
            raise DecryptionError("密文长度无效", "ciphertext too short")
        try:
            return self._aead(key, blob[:NONCE], blob[NONCE:], aad, False)
        except InvalidTag as e:
            raise DecryptionError("密文校验失败（密钥错误或数据被篡改）",
                                  "ciphertext failed authentication (wrong key or tampered)") from e

    def new_data_key(self) -> bytes:
        return os.urandom(self.data_key_len)

    @abstractmethod
    def generate_private_key(self) -> PrivateKey: ...

    @abstractmethod
    def sign(self, private_pem: bytes, message: bytes) -> bytes: ...

    @abstractmethod
    def verify(self, public_pem: bytes, signature: bytes, message: bytes) -> bool: ...

    @abstractmethod
    def public_pem(self, private_pem: bytes) -> bytes: ...

    def key_id(self, public_pem: bytes) -> str:
        der = serialization.load_pem_public_key(public_pem).public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        ) if self.name == "intl" else _sm2_der(public_pem)
        return self.hash(der)[:8].hex()


def _sm3_factory() -> Callable[[bytes], object]:
    try:
        from _hashlib import new as openssl_new  # hashlib.new without its Python wrapper: the log's hot path

        openssl_new("sm3", b"")
        return lambda data=b"": openssl_new("sm3", data)
    except (ImportError, ValueError):  # Python's OpenSSL without SM3: use cryptography's
        class _H:
            def __init__(self, data: bytes = b"") -> None:
                self._h = hashes.Hash(hashes.SM3())
                self._h.update(data)

            def update(self, data: bytes) -> None:
                self._h.update(data)

            def digest(self) -> bytes:
                return self._h.finalize()

        return _H


def _sm2_der(public_pem: bytes) -> bytes:
    from tongsuopy.crypto import serialization as ts

    return ts.load_pem_public_key(public_pem).public_bytes(
        ts.Encoding.DER, ts.PublicFormat.SubjectPublicKeyInfo)


class GMSuite(CryptoSuite):
    """SM2 / SM3 / SM4-GCM (商用密码)."""

    name = "gm"
    hash_name = "sm3"
    cipher_name = "sm4-gcm"
    signature_name = "sm2-sm3"
    data_key_len = 16

    def __init__(self) -> None:
        self._hf = _sm3_factory()

    def hash_factory(self):
        return self._hf

    def hmac(self, key: bytes, data: bytes) -> bytes:
        h = c_hmac.HMAC(key, hashes.SM3())
        h.update(data)
        return h.finalize()

    def _aead(self, key, nonce, data, aad, encrypt):
        if encrypt:
            enc = Cipher(algorithms.SM4(key), modes.GCM(nonce)).encryptor()
            enc.authenticate_additional_data(aad)
            ct = enc.update(data) + enc.finalize()
            return ct + enc.tag
        if len(data) < TAG:
            raise InvalidTag
        dec = Cipher(algorithms.SM4(key), modes.GCM(nonce, data[-TAG:])).decryptor()
        dec.authenticate_additional_data(aad)
        return dec.update(data[:-TAG]) + dec.finalize()

    def generate_private_key(self) -> PrivateKey:
        from tongsuopy.crypto import serialization as ts
        from tongsuopy.crypto.asymciphers import ec

        key = ec.generate_private_key(ec.SM2())
        pem = key.private_bytes(ts.Encoding.PEM, ts.PrivateFormat.PKCS8, ts.NoEncryption())
        return PrivateKey("gm", pem)

    def sign(self, private_pem: bytes, message: bytes) -> bytes:
        from tongsuopy.crypto import hashes as th
        from tongsuopy.crypto import serialization as ts
        from tongsuopy.crypto.asymciphers import ec

        key = ts.load_pem_private_key(private_pem, password=None)
        return key.sign(message, ec.ECDSA(th.SM3()))

    def verify(self, public_pem: bytes, signature: bytes, message: bytes) -> bool:
        from tongsuopy.crypto import hashes as th
        from tongsuopy.crypto import serialization as ts
        from tongsuopy.crypto.asymciphers import ec
        from tongsuopy.crypto.exceptions import InternalError as TSInternal
        from tongsuopy.crypto.exceptions import InvalidSignature as TSInvalid

        try:
            key = ts.load_pem_public_key(public_pem)
            if not isinstance(key.curve, ec.SM2):
                return False
            key.verify(signature, message, ec.ECDSA(th.SM3()))
            return True
        except (TSInvalid, TSInternal, ValueError, TypeError):  # a malformed DER signature is an InternalError
            return False

    def public_pem(self, private_pem: bytes) -> bytes:
        from tongsuopy.crypto import serialization as ts

        key = ts.load_pem_private_key(private_pem, password=None)
        return key.public_key().public_bytes(ts.Encoding.PEM, ts.PublicFormat.SubjectPublicKeyInfo)


class IntlSuite(CryptoSuite):
    """SHA-256 / AES-256-GCM / Ed25519."""

    name = "intl"
    hash_name = "sha256"
    cipher_name = "aes-256-gcm"
    signature_name = "ed25519"
    data_key_len = 32

    def hash_factory(self):
        return hashlib.sha256

    def hmac(self, key: bytes, data: bytes) -> bytes:
        return std_hmac.new(key, data, hashlib.sha256).digest()

    def _aead(self, key, nonce, data, aad, encrypt):
        a = AESGCM(key)
        return a.encrypt(nonce, data, aad) if encrypt else a.decrypt(nonce, data, aad)

    def generate_private_key(self) -> PrivateKey:
        key = ed25519.Ed25519PrivateKey.generate()
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        return PrivateKey("intl", pem)

    def sign(self, private_pem: bytes, message: bytes) -> bytes:
        key = serialization.load_pem_private_key(private_pem, password=None)
        assert isinstance(key, ed25519.Ed25519PrivateKey)
        return key.sign(message)

    def verify(self, public_pem: bytes, signature: bytes, message: bytes) -> bool:
        try:
            key = serialization.load_pem_public_key(public_pem)
            if not isinstance(key, ed25519.Ed25519PublicKey):
                return False
            key.verify(signature, message)
            return True
        except (InvalidSignature, ValueError, TypeError):
            return False

    def public_pem(self, private_pem: bytes) -> bytes:
        key = serialization.load_pem_private_key(private_pem, password=None)
        return key.public_key().public_bytes(serialization.Encoding.PEM,
                                             serialization.PublicFormat.SubjectPublicKeyInfo)


_SUITES: dict[str, CryptoSuite] = {}


def suite_names() -> tuple[str, ...]:
    return ("gm", "intl")


def get_suite(name: str) -> CryptoSuite:
    if name not in _SUITES:
        if name == "gm":
            _SUITES[name] = GMSuite()
        elif name == "intl":
            _SUITES[name] = IntlSuite()
        else:
            raise Invalid(f"未知的密码套件：{name}", f"unknown crypto suite: {name}",
                          code="unknown_crypto_suite")
    return _SUITES[name]
