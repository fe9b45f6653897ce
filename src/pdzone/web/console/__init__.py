"""The console: server-rendered pages in zh-CN (default) or English, for the people who run and
oversee a zone — supervisors, auditors, security and system administrators — and for the partners'
analysts who query it in the clean room.

Pages are thin: authorize through `Ctx.require`, call an action or a query, render a template.
Every form carries a CSRF token; every write is one transaction through the area's actions.
"""

from fastapi import APIRouter

from pdzone.web.console import auth, catalog, directory, home, jobs, oplog, workbench

router = APIRouter(include_in_schema=False)
for _sub in (auth.router, home.router, directory.router, oplog.router, catalog.router, jobs.router,
             workbench.router):
    router.include_router(_sub, include_in_schema=False)

__all__ = ["router"]
