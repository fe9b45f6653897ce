"""The ASGI application: API, console, error handling, background log maintenance and job workers."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import uuid
from importlib.metadata import version as _dist_version
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as SATimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.formparsers import MultiPartParser

from pdzone.errors import PayloadTooLarge, PdzoneError, StorageFull
from pdzone.web.context import error_body, request_id, request_lang
from pdzone.web.guard import InputGuard, nul_in_chain
from pdzone.web.runtime import Runtime

log = logging.getLogger("pdzone.web")
__version__ = _dist_version("pdzone")
STATIC = Path(__file__).parent / "static"


def create_app(runtime: Runtime | None = None, *, maintain_log: bool = True, run_jobs: bool = True) -> FastAPI:
    """The app; while it runs it maintains the operation log and runs `PDZONE_JOB_WORKERS` job workers."""
    runtime = runtime or Runtime.from_settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        if run_jobs:
            await asyncio.to_thread(_sweep_spools, runtime)
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

    app.add_middleware(InputGuard)  # inside BodyLimit: the bodies it reads are already limited
    app.add_middleware(BodyLimit, max_body=runtime.settings.max_body_bytes,
                       max_upload=runtime.settings.max_upload_bytes)
    app.add_middleware(SecurityHeaders)
    # Form routes other than the upload routes (which stream to the data-dir spool, see web/upload.py) parse
    # with Starlette, whose file parts would move to the system temp directory past `spool_max_size`: their
    # whole body is at most `max_body_bytes`, so keep every such part in memory.
    MultiPartParser.spool_max_size = max(MultiPartParser.spool_max_size, runtime.settings.max_body_bytes)

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
        return _invalid_request(request, errs)

    @app.exception_handler(OSError)
    async def os_error(request: Request, exc: OSError):
        return await unexpected(request, exc)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        if exc.status_code == 400 and (exc.__cause__ or exc.__context__) is not None:
            # a body FastAPI could not parse (invalid UTF-8, nesting too deep, an integer too long, a broken
            # multipart form): the same answer as any other malformed request
            return _invalid_request(request, [{"loc": ["body"], "msg": str(exc.__cause__)[:200],
                                               "type": type(exc.__cause__).__name__}])
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

    @app.exception_handler(DBAPIError)
    async def driver_error(request: Request, exc: Exception):
        if nul_in_chain(exc):  # a backstop: InputGuard refuses NUL at the edge, PostgreSQL text cannot hold one
            return _invalid_request(request, [{"loc": ["body"], "msg": "a NUL character", "type": "control_character"}])
        return await unexpected(request, exc)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        if _disk_full(exc):
            log.error("no space left on the device", extra={"request_id": request_id(request)})
            return await domain_error(request, StorageFull(*STORAGE_FULL))
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

    app.include_router(api_router, responses=ERROR_RESPONSES)
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


def _invalid_request(request: Request, errors: list[dict]) -> JSONResponse:
    body = {"code": "invalid_request", "message_zh": "请求参数无效", "message_en": "invalid request",
            "details": {"errors": errors}, "request_id": request_id(request)}
    body["message"] = body["message_en"] if request_lang(request) == "en" else body["message_zh"]
    return JSONResponse(body, status_code=422)


STORAGE_FULL = ("存储空间已满，操作未完成；请联系系统管理员", "the storage is full; nothing was changed: contact the "
                "administrator")


def _disk_full(exc: BaseException) -> bool:
    """ENOSPC, or the database saying its disk is full (SQLite, PostgreSQL), anywhere in the exception's chain."""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
            return True
        if isinstance(exc, DBAPIError) and ("disk is full" in str(exc.orig) or "No space left" in str(exc.orig)):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


class ErrorOut(BaseModel):
    """Every error of the API (docs/errors.md): a stable code, the message in both languages, the request id."""

    code: str = Field(description="machine-readable code, listed in docs/errors.md")
    message: str = Field(description="the message in the caller's language")
    message_zh: str
    message_en: str
    details: dict | None = Field(default=None, description="more about the error, when there is more to say")
    request_id: str


_ERROR_STATUSES = {400: "Malformed input (e.g. SQL that does not parse)", 401: "Not signed in, or the token is "
                   "invalid or expired", 403: "Not permitted (recorded)", 404: "No such resource",
                   409: "Conflicts with existing data", 413: "The body or upload is over its limit "
                   "(`payload_too_large`), or an import is (`import_too_large`, …)",
                   422: "The request does not match the schema (`invalid_request`), or a domain rule refused it",
                   500: "Internal error (logged)", 507: "The storage is full (`storage_full`)"}
#: The error answers of every API route, in the OpenAPI document.
ERROR_RESPONSES: dict[int | str, dict] = {status: {"model": ErrorOut, "description": text}
                                          for status, text in _ERROR_STATUSES.items()}


_UPLOAD_ROUTES = {("POST", "/api/v1/datasets"), ("POST", "/catalog/import")}


class BodyLimit:
    """Request bodies at most `max_body` bytes, uploads (the dataset upload routes) at most `max_upload`.

    A declared Content-Length over the limit is refused before any of the body is read; a chunked body (or one
    longer than it declared) is counted as it arrives, and refused when it passes the limit: the route reading
    it stops (`PayloadTooLarge` from `receive`), and whatever it answered is replaced by the 413. The API
    answers in the house JSON format, the console with its error page."""

    def __init__(self, app, *, max_body: int, max_upload: int) -> None:
        self.app, self.max_body, self.max_upload = app, max_body, max_upload

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self.max_upload if (scope["method"], scope["path"].rstrip("/")) in _UPLOAD_ROUTES else self.max_body
        for k, v in scope["headers"]:
            if k == b"content-length":
                try:
                    declared = int(v)
                except ValueError:
                    declared = 0
                if declared > limit:
                    return await self._refuse(scope, send, limit)
                break
        seen = 0
        over = False
        started = False

        async def counted():
            nonlocal seen, over
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    over = True
                    raise _too_large(limit)
            return message

        async def guarded(message):
            nonlocal started
            if over:
                return  # the route's own answer to the cut-off body: the 413 replaces it
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, guarded)
        except Exception:
            if not over:
                raise
        if over and not started:
            await self._refuse(scope, send, limit)

    async def _refuse(self, scope, send, limit: int) -> None:
        request = Request(scope)
        err = _too_large(limit)
        if scope["path"].startswith("/api/"):
            response = JSONResponse(error_body(err, request_lang(request), request_id(request)), status_code=413)
        else:
            from pdzone.web.console.base import error_page

            response = error_page(request, err)
        response.headers["Connection"] = "close"

        async def nothing():
            return {"type": "http.disconnect"}

        await response(scope, nothing, send)


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"请求内容超过上限 {limit} 字节", f"the request body exceeds the limit of {limit} bytes",
                           details={"limit": limit})


def _sweep_spools(runtime: Runtime) -> None:
    """Remove uploads a crash left in the spool (no job owns them); never stops the server from starting."""
    from pdzone.jobs.worker import sweep_spools

    try:
        sweep_spools(runtime.store, runtime.settings.data_dir, older_than_s=runtime.settings.spool_stale_after_s)
    except Exception:
        log.exception("could not sweep the job spool")


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
