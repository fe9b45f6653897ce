"""Uploads streamed straight into the job spool of the data directory (0600), never the system temp directory.

Starlette's own form parsing keeps an uploaded file in a `SpooledTemporaryFile`, which moves to the system temp
directory once it passes 1 MB: a department's plaintext file would sit in /tmp, and stay there after a crash.
The upload routes read their multipart body here instead: the form's text fields are kept in memory (few and
short), the one file part is written as it arrives into a new spool file (`pdzone.jobs.spool`), and that file
is removed if anything fails before its job owns it. The body's total size is limited by the app's
`BodyLimit` middleware while it streams.
"""

from __future__ import annotations

import contextlib
import errno
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO
from urllib.parse import parse_qsl

import anyio
import python_multipart as multipart
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartState, parse_options_header
from starlette.requests import Request

from pdzone.errors import Invalid, StorageFull
from pdzone.jobs import spool

_SUFFIX = re.compile(r"^\.[a-z0-9]{1,10}$")
_MAX_HEADER = 16 * 1024
#: RFC 2046 §5.1.1: a boundary is 1 to 70 of these characters, not ending in a space.
_BOUNDARY = re.compile(rb"^[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]$")
FULL = ("存储空间已满，上传未保存；请联系系统管理员", "the storage is full; the upload was not kept: contact the "
        "administrator")


@dataclass
class Upload:
    """A parsed upload form: its text fields, and the spooled file (name in the spool, the sender's filename)."""

    fields: dict[str, str] = field(default_factory=dict)
    stored: str | None = None
    filename: str | None = None
    size: int = 0

    def discard(self, data_dir: Path) -> None:
        """Remove the spooled file (the request was refused after it was read)."""
        if self.stored:
            spool.remove(data_dir, [self.stored])
            self.stored = None


def _malformed(why: str) -> Invalid:
    return Invalid("上传的表单格式错误", f"malformed upload form: {why}", code="invalid_request",
                   details={"errors": [{"loc": ["body"], "msg": why, "type": "multipart_invalid"}]})


def storage_full(e: OSError) -> StorageFull:
    return StorageFull(*FULL, details={"errno": e.errno})


async def receive_upload(request: Request, data_dir: Path, *, file_field: str = "file", max_fields: int = 50,
                         max_field_bytes: int = 64 * 1024) -> Upload:
    """Read a multipart/form-data body: text fields, and at most one file (the part named `file_field`)
    streamed into the spool. Malformed forms (a boundary RFC 2046 does not allow, a body that ends before its
    closing boundary, any error of the parser) are refused with `invalid_request`, a full disk with
    `storage_full`; on any failure nothing is left in the spool."""
    ctype, params = parse_options_header(request.headers.get("content-type", ""))
    if ctype == b"application/x-www-form-urlencoded":  # a form sent without its file: its fields only, and few
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > max_fields * max_field_bytes:
                raise _malformed("the form is too long")
        try:
            pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=max_fields)
        except (UnicodeDecodeError, ValueError) as e:
            raise _malformed(str(e)[:200]) from e
        return Upload(fields=dict(pairs))
    if ctype != b"multipart/form-data" or not params.get(b"boundary"):
        raise _malformed("the body must be multipart/form-data")
    if not _BOUNDARY.match(params[b"boundary"]):
        raise _malformed("the multipart boundary must be 1 to 70 characters of RFC 2046")
    up = Upload()
    out: BinaryIO | None = None
    state: dict = {"name": None, "filename": None, "data": bytearray(), "is_file": False, "header": b"",
                   "value": b"", "disposition": b""}
    pending: list[bytes] = []

    def on_part_begin() -> None:
        state.update(name=None, filename=None, data=bytearray(), is_file=False, disposition=b"")

    def on_header_field(data: bytes, start: int, end: int) -> None:
        state["header"] += data[start:end]
        if len(state["header"]) > _MAX_HEADER:
            raise _malformed("a part's header is too long")

    def on_header_value(data: bytes, start: int, end: int) -> None:
        state["value"] += data[start:end]
        if len(state["value"]) > _MAX_HEADER:
            raise _malformed("a part's header is too long")

    def on_header_end() -> None:
        if state["header"].lower() == b"content-disposition":
            state["disposition"] = state["value"]
        state["header"], state["value"] = b"", b""

    def on_headers_finished() -> None:
        nonlocal out
        _, options = parse_options_header(state["disposition"])
        if b"name" not in options:
            raise _malformed('a part has no "name"')
        state["name"] = options[b"name"].decode("utf-8", "replace")
        if "\x00" in state["name"] or b"\x00" in options.get(b"filename", b""):
            raise _malformed("a NUL character in a part's name or file name")
        if b"filename" in options:
            if state["name"] != file_field or up.stored is not None:
                raise _malformed(f"only one file, in the field {file_field!r}, is accepted")
            up.filename = options[b"filename"].decode("utf-8", "replace")
            suffix = Path(up.filename).suffix.lower()
            state["is_file"] = True
            try:
                up.stored, out = spool.create(data_dir, suffix if _SUFFIX.match(suffix) else "")
            except OSError as e:
                if e.errno == errno.ENOSPC:
                    raise storage_full(e) from e
                raise
        elif len(up.fields) >= max_fields:
            raise _malformed("too many fields")

    def on_part_data(data: bytes, start: int, end: int) -> None:
        if state["is_file"]:
            pending.append(data[start:end])
            up.size += end - start
            return
        state["data"] += data[start:end]
        if len(state["data"]) > max_field_bytes:
            raise _malformed(f"the field {state['name']!r} is too long")

    def on_part_end() -> None:
        if not state["is_file"]:
            try:
                up.fields[state["name"]] = state["data"].decode("utf-8")
            except UnicodeDecodeError as e:
                raise _malformed(f"the field {state['name']!r} is not UTF-8") from e
            if "\x00" in up.fields[state["name"]]:  # PostgreSQL text cannot hold one (see web/guard.py)
                raise _malformed(f"the field {state['name']!r} holds a NUL character")

    callbacks = {
        "on_part_begin": on_part_begin, "on_part_data": on_part_data, "on_part_end": on_part_end,
        "on_header_field": on_header_field, "on_header_value": on_header_value, "on_header_end": on_header_end,
        "on_headers_finished": on_headers_finished}
    try:
        # any error of the parser (its constructor's included) is the sender's: 422, never a 500
        try:
            parser = multipart.MultipartParser(params[b"boundary"], callbacks)
        except FormParserError as e:
            raise _malformed(str(e)[:200]) from e
        async for chunk in request.stream():
            try:
                parser.write(chunk)
            except FormParserError as e:
                raise _malformed(str(e)[:200]) from e
            if pending and out is not None:
                data, pending[:] = b"".join(pending), []
                await anyio.to_thread.run_sync(out.write, data)
        try:
            parser.finalize()
        except FormParserError as e:
            raise _malformed(str(e)[:200]) from e
        if parser.state != MultipartState.END:  # cut off: the file may be incomplete, and is not imported
            raise _malformed("the body ends before its closing boundary")
        if out is not None:
            if pending:
                await anyio.to_thread.run_sync(out.write, b"".join(pending))
            await anyio.to_thread.run_sync(spool.commit, out)
    except BaseException as e:
        if out is not None:
            with contextlib.suppress(OSError):
                out.close()
        up.discard(data_dir)
        if isinstance(e, OSError) and e.errno == errno.ENOSPC:
            raise storage_full(e) from e
        raise
    return up
