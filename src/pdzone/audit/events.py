"""Recording events: who did what to which target, with what outcome (R-21.2).

`record` adds the event to the caller's session, so it commits or rolls back with the change
it describes. The event has no place in the log yet: `pdzone.audit.log.integrate` gives it
its `seq` after commit, so a rolled-back transaction never leaves a hole.

When it is written, each event gets its id and a MAC over its canonical encoding
(`encoding.mac_bytes`) under the key store's event MAC key (`configure` wires the key in): a
row inserted straight into the database carries no valid MAC, and integration refuses it.

Repeated denials of one caller and action within a window (`audit_denial_window_s`) are
aggregated: the first is written as an event, later ones only add to the window's count
(`audit_denial_windows`), and integration writes one summary event when the window closes.
"""

from __future__ import annotations

import datetime as dt
import getpass
import hmac
import json
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from sqlalchemy import bindparam, event, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from pdzone.audit.encoding import mac_bytes
from pdzone.audit.models import AuditEvent, AuditLogState, DenialWindow
from pdzone.crypto import get_suite
from pdzone.db import Store, utcnow


class Action(StrEnum):
    """Every audited action, as area.object.verb."""

    ZONE_CREATE = "governance.zone.create"
    ORG_CREATE = "identity.org.create"
    ORG_DISABLE = "identity.org.disable"
    USER_CREATE = "identity.user.create"
    USER_DISABLE = "identity.user.disable"
    USER_PASSWORD_CHANGE = "identity.user.password_change"
    ROLE_GRANT = "identity.role.grant"
    ROLE_REVOKE = "identity.role.revoke"
    FILING_REQUEST = "identity.filing.request"
    FILING_FILE = "identity.filing.file"
    FILING_REVOKE = "identity.filing.revoke"
    LOGIN = "identity.session.login"
    LOGOUT = "identity.session.logout"
    TOKEN_ISSUE = "identity.token.issue"
    TOKEN_REVOKE = "identity.token.revoke"
    ACCESS = "identity.access.check"
    AUDIT_REVIEW = "audit.event.review"
    AUDIT_COSIGN = "audit.checkpoint.cosign"
    AUDIT_WITNESS_KEY = "audit.witness_key.register"
    AUDIT_EXPORT = "audit.log.export"
    AUDIT_MAC_FAILURE = "audit.log.mac_failure"
    AUDIT_DENIALS = "audit.denials.aggregate"
    DATASET_IMPORT = "catalog.dataset.import"
    DATASET_SCAN = "catalog.dataset.scan"
    DATASET_SET_LEVEL = "catalog.dataset.set_level"
    DATASET_FLAG_R28 = "catalog.dataset.flag_r28"
    DATASET_COLUMN = "catalog.dataset.column"
    DATASET_DESTROY = "catalog.dataset.destroy"
    DATASET_METADATA = "catalog.dataset.metadata"
    DATASET_LINEAGE = "catalog.dataset.lineage"
    DATASET_CONTRIBUTIONS = "catalog.dataset.contributions"
    PROPOSAL_CREATE = "catalog.proposal.create"
    PROPOSAL_ACCEPT = "catalog.proposal.accept"
    PROPOSAL_REJECT = "catalog.proposal.reject"
    SCENARIO_ADD = "egress.scenario.add"
    GRANT_ADD = "egress.grant.add"
    GRANT_REVOKE = "egress.grant.revoke"
    DATASET_CAP = "egress.dataset.cap"
    QUERY_RELEASE = "egress.query.release"
    QUERY_HOLD = "cleanroom.query.hold"
    QUERY_APPROVE = "cleanroom.query.approve"
    QUERY_REJECT = "cleanroom.query.reject"
    QUERY_FAIL = "cleanroom.query.fail"
    QUERY_ALERT = "cleanroom.query.alert"
    SYSTEM_DEMO_SEED = "system.demo.seed"
    JOB_ENQUEUE = "system.job.enqueue"


class Outcome(StrEnum):
    SUCCESS = "success"
    DENIED = "denied"
    FAILED = "failed"


@dataclass(frozen=True)
class Actor:
    """Who acts, and from where. `name` is what the log shows: user:NAME, token:ID, os:USER@HOST."""

    name: str
    user_id: int | None = None
    org_id: int | None = None
    token_id: int | None = None
    source_ip: str | None = None
    request_id: str | None = None

    def at(self, *, source_ip: str | None = None, request_id: str | None = None) -> Actor:
        return replace(self, source_ip=source_ip, request_id=request_id)


def os_actor() -> Actor:
    """The CLI acts with the authority of whoever has a shell on the server."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return Actor(name=f"os:{user}@{socket.gethostname()}")


SYSTEM = Actor(name="system")


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


MAC_KEY_NAME = "audit-events"


@dataclass
class LogConfig:
    """How a store's events are authenticated and aggregated (set once per store by `configure`).

    `mac_key` gives the key store's event MAC key (creating it on first use); `existing_mac_key`
    gives it only if it exists (a verifier must not mint one). The MAC algorithm is the HMAC of
    the log's suite: HMAC-SM3 under `gm`, HMAC-SHA256 under `intl`.
    """

    mac_key: Callable[[], bytes]
    existing_mac_key: Callable[[], bytes | None]
    default_suite: str = "gm"
    denial_window_s: int = 60
    _key: bytes | None = field(default=None, repr=False)
    _suite: str | None = field(default=None, repr=False)
    _mac: Callable[[bytes], bytes] | None = field(default=None, repr=False)

    def key(self) -> bytes:
        if self._key is None:
            self._key = self.mac_key()
        return self._key

    def suite_name(self, session: Session) -> str:
        """The log's suite: fixed by its first integration, else the configured one."""
        if self._suite is None:
            # Before the first integration the log will take the configured suite (Runtime.log_suite).
            found = session.scalar(select(AuditLogState.suite).where(AuditLogState.id == 1))
            self._suite = found or self.default_suite
        return self._suite

    def mac_function(self, session: Session) -> Callable[[bytes], bytes]:
        if self._mac is None:
            self._mac = mac_function(self.suite_name(session), self.key())
        return self._mac


_CONFIG = "pdzone.audit.config"


def mac_function(suite_name: str, key: bytes) -> Callable[[bytes], bytes]:
    """HMAC under the suite's hash with `key`: OpenSSL's HMAC keyed once and copied per message where
    Python's OpenSSL has the hash (the same bytes as CryptoSuite.hmac, at half the cost), else the suite's."""
    suite = get_suite(suite_name)
    try:
        keyed = hmac.new(key, digestmod=suite.hash_name)
    except ValueError:
        return lambda data: suite.hmac(key, data)
    keyed = getattr(keyed, "_hmac", keyed)  # OpenSSL's HMAC object, keyed once: each event copies it

    def mac(data: bytes) -> bytes:
        h = keyed.copy()
        h.update(data)
        return h.digest()

    if mac(b"pdzone") != suite.hmac(key, b"pdzone"):  # pragma: no cover - a broken OpenSSL
        return lambda data: suite.hmac(key, data)
    return mac


def configure(store: Store, config: LogConfig) -> None:
    """Every session of `store` MACs its events with `config`, and integration checks them."""
    store.sessions.configure(info={_CONFIG: config})
    store.audit_config = config  # type: ignore[attr-defined]


def config_of(store: Store) -> LogConfig | None:
    return getattr(store, "audit_config", None)


class PendingEvent:
    """An event added to a session and not yet written; `id` is set once it is (see flush_events).

    `aggregated` is the window's count when a denial was only counted (no row of its own).
    """

    __slots__ = ("aggregated", "id", "row", "window_id")

    def __init__(self, row: dict[str, Any]) -> None:
        self.row = row
        self.id: int | None = None
        self.window_id: int | None = None
        self.aggregated: int | None = None

    def __getattr__(self, name: str) -> Any:
        try:
            return self.row[name]
        except KeyError:
            raise AttributeError(name) from None


_KEY = "pdzone.audit.pending"


def record(session: Session, *, actor: Actor, action: Action | str, target_type: str | None = None,
           target_id: object = None, outcome: Outcome | str = Outcome.SUCCESS, zone: str | None = None,
           details: dict[str, Any] | None = None, at: dt.datetime | None = None,
           aggregate: bool = True) -> PendingEvent:
    """Add one event to the session's transaction; it is written when the transaction commits.

    Events are written with one multi-row INSERT per transaction rather than as ORM objects, so
    a batch of a thousand costs little more than one (the figures are in bench/audit_append.py).
    A denial repeating one already written in the current window only increments that window's
    count (in this transaction); `aggregate=False` writes it as an event whatever.
    """
    ev = PendingEvent({
        "occurred_at": at or utcnow(),
        "actor": actor.name,
        "actor_user_id": actor.user_id,
        "actor_org_id": actor.org_id,
        "token_id": actor.token_id,
        "zone": zone,
        "action": str(action),
        "target_type": target_type,
        "target_id": None if target_id is None else str(target_id),
        "outcome": str(outcome),
        "source_ip": actor.source_ip,
        "request_id": actor.request_id,
        "details": canonical_json(details or {}),
    })
    cfg: LogConfig | None = session.info.get(_CONFIG)
    if aggregate and ev.row["outcome"] == Outcome.DENIED and cfg is not None and cfg.denial_window_s > 0:
        got = _count_denial(session, ev.row, cfg.denial_window_s)
        if got is not None:
            window_id, count = got
            if count > 1:
                ev.aggregated = count
                return ev
            ev.window_id = window_id
    session.info.setdefault(_KEY, []).append(ev)
    return ev


_REQUEST = re.compile(r"^[A-Z]+ /")


def denial_key(actor: str, source_ip: str | None, action: str) -> tuple[str, str, str]:
    """Who and what a denial is counted under: an anonymous caller by address only, a request by its
    route prefix (/api/v1/users/…), so that varying a name or a path does not escape the count."""
    if actor.startswith("anonymous:"):
        actor = "anonymous:*"
    if _REQUEST.match(action):
        method, path = action.split(" ", 1)
        parts = path.split("/")
        if len(parts) > 4:
            path = "/".join(parts[:4]) + "/…"
        action = f"{method} {path}"
    return actor[:200], (source_ip or "")[:64], action[:100]


def window_start(at: dt.datetime, window_s: int) -> dt.datetime:
    epoch = int(at.timestamp())
    return dt.datetime.fromtimestamp(epoch - epoch % window_s, dt.UTC)


def _count_denial(session: Session, row: dict[str, Any], window_s: int) -> tuple[int, int] | None:
    """Count this denial in its window atomically: (window id, count including this one), or None when
    the window has already been summarised (the denial is then written as an event of its own)."""
    actor, ip, action = denial_key(row["actor"], row["source_ip"], row["action"])
    try:
        reason = str(json.loads(row["details"]).get("reason") or "")[:100]
    except (ValueError, AttributeError):
        reason = ""
    t = DenialWindow.__table__
    ins = (pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert)(t)
    stmt = ins.values(actor=actor, source_ip=ip, action=action, reason=reason,
                      window_start=window_start(row["occurred_at"], window_s), window_s=window_s,
                      count=1).on_conflict_do_update(
        index_elements=[t.c.actor, t.c.source_ip, t.c.action, t.c.reason, t.c.window_start],
        set_={"count": t.c.count + 1}, where=t.c.summarized_at.is_(None)).returning(t.c.id, t.c.count)
    got = session.execute(stmt).first()
    return None if got is None else (got[0], got[1])


def _allocate_ids(session: Session, n: int) -> list[int]:
    """Ids for n new events, known before they are written (the MAC covers the id)."""
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        ids = conn.exec_driver_sql("SELECT nextval(pg_get_serial_sequence('audit_events', 'id')) "
                                   f"FROM generate_series(1, {int(n)})").scalars().all()
        return sorted(ids)
    # SQLite: hold the write lock before reading max(id), so that it cannot move under us. Transactions
    # of Store.transaction() began with BEGIN IMMEDIATE; others take it with a write that matches nothing.
    if not conn.get_execution_options().get("pdzone_write"):
        conn.exec_driver_sql("DELETE FROM audit_events WHERE 0")
    top = conn.exec_driver_sql("SELECT coalesce(max(id), 0) FROM audit_events").scalar()
    return list(range(top + 1, top + 1 + n))


def _mac_bytes_of(row: dict[str, Any]) -> bytes:
    return mac_bytes(row["id"], row["occurred_at"], row["actor"], row["actor_user_id"], row["actor_org_id"],
                     row["token_id"], row["zone"], row["action"], row["target_type"], row["target_id"],
                     row["outcome"], row["source_ip"], row["request_id"], row["details"])


def flush_events(session: Session, *, with_ids: bool = True) -> None:
    """Write the session's pending events now (inside its transaction), giving them their ids and MACs.

    (`with_ids` is kept for callers: ids are always known now, since the MAC covers them.)
    """
    pending: list[PendingEvent] = session.info.pop(_KEY, [])
    if not pending:
        return
    cfg: LogConfig | None = session.info.get(_CONFIG)
    mac = cfg.mac_function(session) if cfg is not None else None
    rows = []
    for p, new_id in zip(pending, _allocate_ids(session, len(pending)), strict=True):
        p.id = new_id
        p.row["id"] = new_id
        p.row["mac"] = mac(_mac_bytes_of(p.row)) if mac is not None else None
        rows.append(p.row)
    session.execute(AuditEvent.__table__.insert(), rows)
    opened = [{"wid": p.window_id, "eid": p.id} for p in pending if p.window_id is not None]
    if opened:
        t = DenialWindow.__table__
        session.execute(update(t).where(t.c.id == bindparam("wid")).values(first_event_id=bindparam("eid")), opened)


@event.listens_for(Session, "before_commit")
def _write_pending(session: Session) -> None:
    # At commit nobody waits for the ids: a plain multi-row INSERT. Callers that need an event's id
    # (a receipt) call flush_events() themselves before committing.
    flush_events(session, with_ids=False)


@event.listens_for(Session, "after_rollback")
def _drop_pending(session: Session) -> None:
    session.info.pop(_KEY, None)
