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
    SYSTEM_DEMO_SEED = "system.demo.seed"


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


def record(session: Session, *, actor: Actor, action: Action | str, target_type: str | None = None,
           target_id: object = None, outcome: Outcome | str = Outcome.SUCCESS, zone: str | None = None,
           details: dict[str, Any] | None = None, at: dt.datetime | None = None) -> AuditEvent:
    """Add one event to the session; it commits with the caller's transaction."""
    ev = AuditEvent(
        occurred_at=at or utcnow(),
        actor=actor.name,
        actor_user_id=actor.user_id,
        actor_org_id=actor.org_id,
        token_id=actor.token_id,
        zone=zone,
        action=str(action),
        target_type=target_type,
        target_id=None if target_id is None else str(target_id),
        outcome=str(outcome),
        source_ip=actor.source_ip,
        request_id=actor.request_id,
        details=canonical_json(details or {}),
    )
    session.add(ev)
    return ev
