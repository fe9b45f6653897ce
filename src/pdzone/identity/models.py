"""Identity tables: organizations, real-name users, roles, filing (备案), access tokens."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from pdzone.db import Base, BigId, UTCDateTime


class Organization(Base):
    __tablename__ = "organizations"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(30))
    uscc: Mapped[str] = mapped_column(String(18), unique=True)
    zone_code: Mapped[str | None] = mapped_column(ForeignKey("zones.code"))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class User(Base):
    """A real-name user (实名). The ID number is kept encrypted, with a keyed hash for uniqueness."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    real_name: Mapped[str] = mapped_column(String(100))
    id_number_enc: Mapped[bytes] = mapped_column(LargeBinary)
    id_number_index: Mapped[bytes] = mapped_column(LargeBinary(64), unique=True)
    id_number_masked: Mapped[str] = mapped_column(String(18))
    mobile: Mapped[str] = mapped_column(String(20))
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    totp_secret_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    totp_last_step: Mapped[int] = mapped_column(BigInteger, default=0)
    # Unused since migration 0008 (sign-in throttling lives in `login_throttle`); kept so it can be downgraded.
    # superseded by login_throttle (migration 0008: attempts reserved per account and address); kept so
    # that a downgrade finds them, never read or written
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    failed_since: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    locked_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


# roles.ADMIN_ROLES, platform-wide: a security admin may also hold the role for several zones, one row each.
PLATFORM_ADMIN_SQL = "role IN ('system_admin', 'security_admin', 'auditor') AND zone_code IS NULL"


class RoleAssignment(Base):
    """A role, platform-wide (zone_code NULL) or for one zone."""

    __tablename__ = "role_assignments"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    role: Mapped[str] = mapped_column(String(30))
    zone_code: Mapped[str | None] = mapped_column(ForeignKey("zones.code"))
    granted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    granted_by: Mapped[str] = mapped_column(String(200))

    __table_args__ = (
        UniqueConstraint("user_id", "role", "zone_code", name="uq_role_assignment"),
        # 三权分立 held by the database for the platform-wide admin roles: at most one per account,
        # whatever the interleaving of grants (a check in Python alone let parallel grants through).
        # Zone-scoped admin grants are serialised by a lock on the user's row (actions.do_grant_role).
        Index("uq_role_assignments_platform_admin", "user_id", unique=True,
              sqlite_where=text(PLATFORM_ADMIN_SQL), postgresql_where=text(PLATFORM_ADMIN_SQL)),
        # NULL zones are distinct to a plain unique constraint: a platform-wide role at most once.
        Index("uq_role_assignments_platform", "user_id", "role", unique=True,
              sqlite_where=text("zone_code IS NULL"), postgresql_where=text("zone_code IS NULL")),
    )


class Filing(Base):
    """Filing (备案) of a person who processes a zone's data: pending → filed → revoked."""

    __tablename__ = "filings"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    zone_code: Mapped[str] = mapped_column(ForeignKey("zones.code"))
    status: Mapped[str] = mapped_column(String(10))
    request_reason: Mapped[str] = mapped_column(Text, default="")
    decision_reason: Mapped[str | None] = mapped_column(Text)
    decided_by: Mapped[str | None] = mapped_column(String(200))
    requested_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (UniqueConstraint("user_id", "zone_code", name="uq_filing_user_zone"),)


class AccessToken(Base):
    """A console session or an API token; only a hash of the secret is stored."""

    __tablename__ = "access_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    kind: Mapped[str] = mapped_column(String(10))  # session / api
    name: Mapped[str] = mapped_column(String(100), default="")
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(64), unique=True)
    scopes: Mapped[str] = mapped_column(Text, default="*")  # space-separated, or * for all of the user's
    zone_code: Mapped[str | None] = mapped_column(String(64))
    mfa: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class LoginThrottle(Base):
    """Sign-in attempts per key in a fixed window: one row per (account, source address) and per address.

    The key is a hash, so names mistyped into the username field are not kept. An attempt is reserved
    here, by a conditional update, before the password is checked (see identity.auth).
    """

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    window_start: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
