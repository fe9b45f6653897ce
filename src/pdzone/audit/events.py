"""Recording events: who did what to which target, with what outcome (R-21.2).

`record` adds the event to the caller's session, so it commits or rolls back with the change
it describes. The event has no place in the log yet: `pdzone.audit.log.integrate` gives it
its `seq` after commit, so a rolled-back transaction never leaves a hole.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import socket
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from pdzone.audit.models import AuditEvent
from pdzone.db import utcnow


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
    DATASET_IMPORT = "catalog.dataset.import"
    DATASET_SCAN = "catalog.dataset.scan"
    DATASET_SET_LEVEL = "catalog.dataset.set_level"
    DATASET_FLAG_R28 = "catalog.dataset.flag_r28"
    DATASET_COLUMN = "catalog.dataset.column"
    DATASET_DESTROY = "catalog.dataset.destroy"
    DATASET_METADATA = "catalog.dataset.metadata"
    DATASET_LINEAGE = "catalog.dataset.lineage"
    DATASET_CONTRIBUTIONS = "catalog.dataset.contributions"
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


class PendingEvent:
    """An event added to a session and not yet written; `id` is set once it is (see flush_events)."""

    __slots__ = ("id", "row")

    def __init__(self, row: dict[str, Any]) -> None:
        self.row = row
        self.id: int | None = None

    def __getattr__(self, name: str) -> Any:
        try:
            return self.row[name]
        except KeyError:
            raise AttributeError(name) from None


_KEY = "pdzone.audit.pending"


def record(session: Session, *, actor: Actor, action: Action | str, target_type: str | None = None,
           target_id: object = None, outcome: Outcome | str = Outcome.SUCCESS, zone: str | None = None,
           details: dict[str, Any] | None = None, at: dt.datetime | None = None) -> PendingEvent:
    """Add one event to the session's transaction; it is written when the transaction commits.

    Events are written with one multi-row INSERT per transaction rather than as ORM objects, so
    a batch of a thousand costs little more than one (the figures are in bench/audit_append.py).
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
    session.info.setdefault(_KEY, []).append(ev)
    return ev


def flush_events(session: Session, *, with_ids: bool = True) -> None:
    """Write the session's pending events now (inside its transaction); `with_ids` gives them their ids."""
    pending: list[PendingEvent] = session.info.pop(_KEY, [])
    if not pending:
        return
    table = AuditEvent.__table__
    if not with_ids:
        session.execute(table.insert(), [p.row for p in pending])
        return
    if len(pending) == 1:
        pending[0].id = session.execute(table.insert().values(pending[0].row)).inserted_primary_key[0]
        return
    result = session.execute(table.insert().returning(table.c.id, sort_by_parameter_order=True),
                             [p.row for p in pending])
    for p, (new_id,) in zip(pending, result, strict=True):
        p.id = new_id


@event.listens_for(Session, "before_commit")
def _write_pending(session: Session) -> None:
    # At commit nobody waits for the ids: a plain multi-row INSERT. Callers that need an event's id
    # (a receipt) call flush_events() themselves before committing.
    flush_events(session, with_ids=False)


@event.listens_for(Session, "after_rollback")
def _drop_pending(session: Session) -> None:
    session.info.pop(_KEY, None)
