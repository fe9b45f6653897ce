"""Crypto suites (gm: SM2/SM3/SM4, intl: Ed25519/SHA-256/AES-GCM) and the local key store."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pdzone.crypto import LocalKeyStore, get_suite
from pdzone.crypto.suites import DecryptionError

SUITES = ["gm", "intl"]


def test_sm3_known_answer():
    # GB/T 32905-2016 example 1: SM3("abc")
    assert get_suite("gm").hash(b"abc").hex() == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"


@pytest.mark.parametrize("name", SUITES)
@settings(max_examples=40, deadline=None)
@given(data=st.binary(max_size=2000), aad=st.binary(max_size=50))
def test_aead_round_trip_and_tamper(name, data, aad):
    suite = get_suite(name)
    key = suite.new_data_key()
    blob = suite.encrypt(key, data, aad)
    assert suite.decrypt(key, blob, aad) == data
    flipped = bytearray(blob)
    flipped[len(blob) // 2] ^= 1
    with pytest.raises(DecryptionError):
        suite.decrypt(key, bytes(flipped), aad)
    with pytest.raises(DecryptionError):
        suite.decrypt(key, blob, aad + b"x")


@pytest.mark.parametrize("name", SUITES)
@settings(max_examples=10, deadline=None)
@given(msg=st.binary(max_size=300))
def test_signatures_bind_message_and_key(name, msg):
    suite = get_suite(name)
    k1, k2 = suite.generate_private_key(), suite.generate_private_key()
    sig = k1.sign(msg)
    assert k1.public().verify(sig, msg)
    assert not k1.public().verify(sig, msg + b"!")
    assert not k2.public().verify(sig, msg)
    assert not k1.public().verify(b"\x30\x00", msg)  # malformed signatures fail, never raise
    assert k1.public().key_id != k2.public().key_id


def test_sm2_checkpoint_signature_verifies_with_openssl(tmp_path):
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.fail("openssl is needed to check SM2 interoperability")
    key = get_suite("gm").generate_private_key()
    body = b"pdzone audit checkpoint v1\norigin: pdzone\nsize: 3\n"
    (tmp_path / "pub.pem").write_bytes(key.public().pem)
    (tmp_path / "body").write_bytes(body)
    (tmp_path / "sig").write_bytes(key.sign(body))
    cmd = [openssl, "pkeyutl", "-verify", "-pubin", "-inkey", str(tmp_path / "pub.pem"), "-rawin", "-digest", "sm3",
           "-pkeyopt", "distid:1234567812345678", "-in", str(tmp_path / "body"), "-sigfile", str(tmp_path / "sig")]
    ok = subprocess.run(cmd, capture_output=True, text=True)
    assert ok.returncode == 0 and "Verified Successfully" in ok.stdout
    (tmp_path / "body").write_bytes(body + b"x")
    assert subprocess.run(cmd, capture_output=True).returncode != 0


def test_keystore_is_private_persistent_and_needs_its_passphrase(tmp_path):
    ks = LocalKeyStore(tmp_path, b"pass-1")
    secret = ks.secret("hmac")
    key = ks.signing_key("platform", "gm")
    assert (tmp_path / "keystore.json").stat().st_mode & 0o777 == 0o600
    assert secret.hex() not in (tmp_path / "keystore.json").read_text()
    again = LocalKeyStore(tmp_path, b"pass-1")
    assert again.secret("hmac") == secret and again.signing_key("platform", "gm").pem == key.pem
    with pytest.raises(DecryptionError):
        LocalKeyStore(tmp_path, b"wrong").secret("hmac")


def test_generated_passphrase_goes_to_the_data_dir_with_mode_0600(tmp_path):
    from pdzone.config import Settings
    from pdzone.crypto import open_keystore

    ks = open_keystore(Settings(data_dir=tmp_path))
    ks.secret("x")
    assert (tmp_path / "keystore.pass").stat().st_mode & 0o777 == 0o600
    assert open_keystore(Settings(data_dir=tmp_path)).secret("x") == ks.secret("x")


def test_keystore_made_under_one_suite_opens_under_the_other(tmp_path):
    secret = LocalKeyStore(tmp_path, b"pw", "gm").secret("x")
    assert LocalKeyStore(tmp_path, b"pw", "intl").secret("x") == secret
