"""The home page (工作台): who you are, for which organization, and what your roles let you do."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request

from pdzone.audit import queries as aq
from pdzone.governance import actions as gov
from pdzone.identity import queries as idq
from pdzone.identity.roles import Perm
from pdzone.web.console.base import ConsoleRoute, page_ctx, render
from pdzone.web.context import Ctx

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)


def _tasks(ctx: Ctx, s, zone_names: dict[str, str]) -> list[tuple[str, str, dict]]:
    """(link, message id, message values) for each thing the caller's roles let them do."""
    p = ctx.principal
    tasks: list[tuple[str, str, dict]] = []
    if p.can(Perm.ORG_MANAGE) or p.can(Perm.USER_MANAGE):
        tasks.append(("/directory", "task.directory_manage", {}))
    elif p.zones_with(Perm.DIRECTORY_READ):
        tasks.append(("/directory", "task.directory_read", {}))
    filing_zones = p.zones_with(Perm.FILING_DECIDE)
    if filing_zones:
        pending = idq.list_filings(s, filing_zones, status="pending")
        tasks.append(("/filings", "task.filings", {"n": len(pending)}))
    if p.zones_with(Perm.ROLE_GRANT):
        tasks.append(("/filings#grant", "task.roles", {}))
    read_zones = p.zones_with(Perm.AUDIT_READ)
    if p.zones_with(Perm.AUDIT_REVIEW):
        tasks.append(("/log?unreviewed=1", "task.log_review", {}))
    elif None in read_zones:
        tasks.append(("/log", "task.log_all", {}))
    else:
        for z in sorted(z for z in read_zones if z):
            tasks.append(("/log?" + urlencode({"zone": z}), "task.log_zone", {"zone": zone_names.get(z, z)}))
    if p.zones_with(Perm.CHECKPOINT_COSIGN):
        waiting = sum(1 for _, cos in aq.list_checkpoints(s, 20) if not any(c.user_id == p.user_id for c in cos))
        tasks.append(("/checkpoints", "task.cosign", {"n": waiting}))
    if read_zones:
        tasks.append(("/log#verify", "task.verify", {}))
    return tasks


@router.get("/")
def home(request: Request, ctx: Ctx = Depends(page_ctx)):
    with ctx.rt.store.sessions() as s:
        zone_names = {z.code: z.name for z in gov.list_zones(s)}
        tasks = _tasks(ctx, s, zone_names)
    roles = [(r.value, zone_names.get(z, z) if z else None) for r, z in ctx.principal.roles]
    return render(request, "console/home.html", ctx=ctx, tasks=tasks, roles=roles)
