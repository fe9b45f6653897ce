"""Input refused at the edge, for every route: NUL and other control characters.

PostgreSQL text cannot hold NUL (0x00): a NUL that reaches SQL is a driver error there (a 500), while SQLite
takes it. So no NUL gets that far: `InputGuard` refuses, with 422 `invalid_request`, a request whose path or
query string holds any C0 control character or DEL (paths and query parameters are names, identifiers,
filters and numbers), and one whose JSON or URL-encoded form body holds a NUL in any string. The upload
parser (`web/upload.py`) refuses NUL in its fields and file name. As a backstop, the app's handlers answer a
NUL error from the database driver, anywhere in an exception's chain, with the same 422 (`nul_in_chain`).

A sign-in with such a name is refused here, before any credential is checked or any attempt is counted,
like a malformed body: it is not an attempt, and is not in the operation log.
"""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qsl, unquote_to_bytes

from starlette.requests import Request
from starlette.responses import JSONResponse

from pdzone.errors import Invalid
from pdzone.web.context import error_body, request_id, request_lang

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_JSON = re.compile(rb"^application/([a-z0-9.+-]*\+)?json\b")
_FORM = b"application/x-www-form-urlencoded"
#: The largest body inspected (the app's BodyLimit has refused larger ones already, except uploads).
_MAX_INSPECTED = 16 * 1024 * 1024


def refused(loc: list, why: str) -> Invalid:
    return Invalid("请求中含有不允许的控制字符（如 NUL）", f"the request holds a control character that is not "
                   f"allowed (such as NUL): {why}", code="invalid_request",
                   details={"errors": [{"loc": loc, "msg": why, "type": "control_character"}]})


def nul_in_chain(exc: BaseException | None) -> bool:
    """The database driver refusing a NUL (psycopg: "cannot contain NUL"), anywhere in the chain."""
    seen = 0
    while exc is not None and seen < 10:
        for part in (exc, getattr(exc, "orig", None)):
            if part is not None and "cannot contain NUL" in str(part):
                return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


def _nul_at(value, loc: list) -> list | None:
    """Where in a parsed JSON document a string (or a key) holds a NUL."""
    stack = [(value, loc)]
    while stack:
        v, at = stack.pop()
        if isinstance(v, str):
            if "\x00" in v:
                return at
        elif isinstance(v, dict):
            for k, item in v.items():
                if "\x00" in k:
                    return [*at, k.replace("\x00", "\\u0000")]
                stack.append((item, [*at, k]))
        elif isinstance(v, list):
            stack.extend((item, [*at, i]) for i, item in enumerate(v))
    return None


def check_target(path: str, query: bytes) -> Invalid | None:
    if _CONTROL.search(path):
        return refused(["path"], "a control character in the path")
    if query and _CONTROL.search(unquote_to_bytes(query).decode("latin-1")):
        return refused(["query"], "a control character in the query string")
    return None


def check_body(ctype: bytes, body: bytes) -> Invalid | None:
    if _JSON.match(ctype):
        if b"\\u0000" not in body:  # a NUL in JSON text is an escape (a raw one makes the JSON invalid)
            return None
        try:
            doc = json.loads(body)
        except (ValueError, RecursionError):
            return None  # the route refuses malformed JSON itself
        at = _nul_at(doc, ["body"])
        return refused(at, "a NUL character in a string") if at is not None else None
    if ctype.startswith(_FORM) and (b"%00" in body or b"\x00" in body):
        try:
            pairs = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
        except ValueError:
            return None
        for k, v in pairs:
            if "\x00" in k or "\x00" in v:
                return refused(["body", k.replace("\x00", "\\u0000")], "a NUL character in a form field")
    return None


class InputGuard:
    """The ASGI check of every request's path, query string and (JSON, URL-encoded) body; see the module."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        err = check_target(scope.get("path", ""), scope.get("query_string", b""))
        if err is not None:
            return await _refuse(scope, send, err)
        ctype = next((v.lower() for k, v in scope["headers"] if k == b"content-type"), b"")
        if not (_JSON.match(ctype) or ctype.startswith(_FORM)):
            return await self.app(scope, receive, send)
        messages, body, more = [], bytearray(), True
        while more and len(body) <= _MAX_INSPECTED:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            body += message.get("body", b"")
            more = message.get("more_body", False)
        if not more:
            err = check_body(ctype, bytes(body))
            if err is not None:
                return await _refuse(scope, send, err)

        async def replay():
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)


async def _refuse(scope, send, err: Invalid) -> None:
    request = Request(scope)
    if scope["path"].startswith("/api/") or not scope["path"].isprintable():
        response = JSONResponse(error_body(err, request_lang(request), request_id(request)), status_code=422)
    else:
        from pdzone.web.console.base import error_page

        response = error_page(request, err)

    async def nothing():
        return {"type": "http.disconnect"}

    await response(scope, nothing, send)
