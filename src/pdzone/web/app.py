"""The ASGI application: API, console, error handling, background log maintenance and job workers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from importlib.metadata import version as _dist_version
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as SATimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from pdzone.errors import PdzoneError
from pdzone.web.context import error_body, request_id, request_lang
from pdzone.web.runtime import Runtime

log = logging.getLogger("pdzone.web")
__version__ = _dist_version("pdzone")
STATIC = Path(__file__).parent / "static"


def create_app(runtime: Runtime | None = None, *, maintain_log: bool = True, run_jobs: bool = True) -> FastAPI:
    """The app; while it runs it maintains the operation log and runs `PDZONE_JOB_WORKERS` job workers."""
    runtime = runtime or Runtime.from_settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        tasks = [asyncio.create_task(_maintain_loop(runtime))] if maintain_log else []
        if run_jobs:
            tasks += [asyncio.create_task(_job_loop(runtime, n)) for n in range(runtime.settings.job_workers)]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    app = FastAPI(title="pdzone", version=__version__, lifespan=lifespan, openapi_url="/openapi.json",
                  docs_url=None, redoc_url=None,
                  description="Public data zone platform (公共数据专区). Errors are JSON "
                              "{code, message}; codes are listed in docs/errors.md.")
    app.state.runtime = runtime

    app.add_middleware(SecurityHeaders)

    @app.exception_handler(PdzoneError)
    async def domain_error(request: Request, exc: PdzoneError):
        ctx = getattr(request.state, "ctx", None)
        if exc.status == 403 and ctx is not None and not getattr(exc, "recorded", False):
            await asyncio.to_thread(ctx.record_denial, exc, f"{request.method} {request.url.path}")
        return JSONResponse(error_body(exc, request_lang(request), request_id(request)), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError):
        errs = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
                for e in exc.errors()]
        body = {"code": "invalid_request", "message_zh": "请求参数无效", "message_en": "invalid request",
                "details": {"errors": errs}, "request_id": request_id(request)}
        body["message"] = body["message_en"] if request_lang(request) == "en" else body["message_zh"]
        return JSONResponse(body, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        zh = {404: "找不到该资源", 405: "不支持该请求方法"}.get(exc.status_code, "请求错误")
        body = {"code": code, "message": zh if request_lang(request) == "zh" else str(exc.detail),
                "message_zh": zh, "message_en": str(exc.detail), "request_id": request_id(request)}
        return JSONResponse(body, status_code=exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(OperationalError)
    @app.exception_handler(SATimeoutError)
    async def database_error(request: Request, exc: Exception):
        """A busy database (SQLite's lock, a PostgreSQL lock or statement timeout, a full pool) is 503
        `busy` with Retry-After, not 500: the request did nothing and may be sent again."""
        if not _busy(exc):
            return await unexpected(request, exc)
        log.warning("database busy: %s %s: %s", request.method, request.url.path, str(exc).splitlines()[0])
        body = {"code": "busy", "message_zh": "系统繁忙，请稍后重试", "message_en": "the database is busy: "
                "retry shortly", "request_id": request_id(request)}
        body["message"] = body["message_en"] if request_lang(request) == "en" else body["message_zh"]
        return JSONResponse(body, status_code=503, headers={"Retry-After": "1"})

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        log.exception("unexpected error", extra={"request_id": request_id(request)})
        body = {"code": "internal_error", "message_zh": "服务器内部错误，已记录", "message_en": "internal error; "
                "it has been logged", "request_id": request_id(request)}
        body["message"] = body["message_en"] if request_lang(request) == "en" else body["message_zh"]
        return JSONResponse(body, status_code=500)

    @app.get("/healthz", include_in_schema=False)
    def healthz():
        return {"status": "ok", "version": __version__}

    from pdzone.web.api import router as api_router
    from pdzone.web.console import router as console_router

    app.include_router(api_router)
    app.include_router(console_router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


# SQLSTATEs of a busy PostgreSQL: lock_not_available, query_canceled (timeouts), too_many_connections,
# serialization_failure, deadlock_detected.
_BUSY_SQLSTATES = frozenset({"55P03", "57014", "53300", "40001", "40P01"})


def _busy(exc: Exception) -> bool:
    if isinstance(exc, SATimeoutError):  # no pooled connection free in time
        return True
    orig = getattr(exc, "orig", None)
    if getattr(orig, "sqlstate", None) in _BUSY_SQLSTATES:
        return True
    msg = str(orig or exc).lower()
    return "database is locked" in msg or "database table is locked" in msg or "database is busy" in msg


_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"content-security-policy",
     b"default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'"),
]


class SecurityHeaders:
    """Request id and security headers on every response (plain ASGI: no per-request task overhead)."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        rid = None
        for k, v in scope["headers"]:
            if k == b"x-request-id":
                rid = v.decode("latin-1")[:64]
                break
        rid = rid or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode()), *_HEADERS]
            await send(message)

        return await self.app(scope, receive, send_with_headers)


async def _maintain_loop(runtime: Runtime) -> None:
    """Integrate committed events and sign due checkpoints, about once a second."""
    while True:
        try:
            await asyncio.to_thread(runtime.maintain_log)
        except Exception:
            log.exception("operation log maintenance failed")
        await asyncio.sleep(runtime.settings.integrate_every_s)


async def _job_loop(runtime: Runtime, n: int) -> None:
    """One in-process worker of the job queue: runs queued jobs (imports), polling when there are none.

    A job runs in a worker thread; stopping the server stops the polling, and a job cut off by the process's
    end is re-queued by any worker once its heartbeat is stale (the queue is in the database)."""
    import pdzone.catalog.tasks  # noqa: F401  (registers the catalog's job handlers)
    from pdzone.jobs.worker import Worker, worker_name

    worker = Worker.from_settings(runtime.store, runtime, runtime.settings, name=worker_name(f":web{n}"))
    while True:
        try:
            ran = await asyncio.to_thread(worker.run_once)
        except Exception:
            log.exception("job worker failed")
            ran = False
        if not ran:
            await asyncio.sleep(runtime.settings.job_poll_s)
