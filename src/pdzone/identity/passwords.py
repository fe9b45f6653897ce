"""Password hashing (argon2id, RFC 9106 low-memory profile), password policy, TOTP (RFC 6238)."""

from __future__ import annotations

import time

import pyotp
from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from pdzone.errors import Invalid

# RFC 9106 §4, second recommended option: t=3, m=64 MiB, p=4.
_HASHER = PasswordHasher(time_cost=3, memory_cost=64 * 1024, parallelism=4, hash_len=32, salt_len=16,
                         type=Type.ID)
# A hash of nothing anyone knows, verified when the user does not exist, so timing tells no names.
_DUMMY = _HASHER.hash("pdzone-no-such-user")


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    try:
        return _HASHER.verify(stored or _DUMMY, password) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def check_password_policy(password: str, *, username: str = "", min_length: int = 10) -> None:
    """MLPS level 3 (等保三级) style policy: length, three character classes, not the username."""
    classes = sum([any(c.islower() for c in password), any(c.isupper() for c in password),
                   any(c.isdigit() for c in password), any(not c.isalnum() for c in password)])
    if len(password) < min_length or classes < 3:
        raise Invalid(f"密码至少 {min_length} 位，并包含大写字母、小写字母、数字、符号中的三类",
                      f"a password needs at least {min_length} characters from three of: upper, lower, "
                      "digit, symbol", code="weak_password")
    if username and username.lower() in password.lower():
        raise Invalid("密码不能包含用户名", "a password must not contain the username", code="weak_password")
    if len(password) > 256:
        raise Invalid("密码过长", "password too long", code="weak_password")


def new_totp_secret() -> str:
    return pyotp.random_base32()


def totp_step(secret: str, code: str, *, last_step: int, now: float | None = None) -> int | None:
    """The time step a code belongs to (±1 step of drift), or None; a step is never accepted twice."""
    if not code or not code.isdigit() or len(code) != 6:
        return None
    totp = pyotp.TOTP(secret)  # HMAC-SHA1, 6 digits, 30 s: what authenticator apps speak
    now = time.time() if now is None else now
    step = int(now // 30)
    for s in (step, step - 1, step + 1):
        if s > last_step and pyotp.utils.strings_equal(totp.at(s * 30), code):
            return s
    return None


def totp_uri(secret: str, username: str, issuer: str = "pdzone") -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=issuer)
