"""The console: server-rendered pages in zh-CN (default) or English, for the people who run and
oversee a zone — supervisors, auditors, security and system administrators.

Pages are thin: authorize through `Ctx.require`, call an action or a query, render a template.
Every form carries a CSRF token; every write is one transaction through the area's actions.
"""

from fastapi import APIRouter

from pdzone.web.console import auth, catalog, directory, home, oplog

router = APIRouter(include_in_schema=False)
for _sub in (auth.router, home.router, directory.router, oplog.router, catalog.router):
    router.include_router(_sub, include_in_schema=False)

__all__ = ["router"]
