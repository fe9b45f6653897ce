"""Domain errors: a machine-readable code and a human message in zh-CN and en.

Every code is listed in docs/errors.md; the web layer turns these into 4xx JSON.
"""

from __future__ import annotations

from typing import Any


class PdzoneError(Exception):
    status = 400
    code = "invalid"

    def __init__(self, zh: str, en: str, *, code: str | None = None, status: int | None = None,
                 details: dict[str, Any] | None = None) -> None:
        super().__init__(en)
        self.zh = zh
        self.en = en
        if code:
            self.code = code
        if status:
            self.status = status
        self.details = details or {}

    def message(self, lang: str = "zh") -> str:
        return self.en if lang.startswith("en") else self.zh


class Invalid(PdzoneError):
    status = 422
    code = "invalid"


class NotFound(PdzoneError):
    status = 404
    code = "not_found"


class Conflict(PdzoneError):
    status = 409
    code = "conflict"


class Unauthorized(PdzoneError):
    status = 401
    code = "unauthorized"


class Forbidden(PdzoneError):
    status = 403
    code = "forbidden"


class BadRequest(PdzoneError):
    """Malformed input that is not a form field (e.g. SQL that does not parse)."""

    status = 400
    code = "bad_request"


class PayloadTooLarge(PdzoneError):
    """A request body or upload over its configured limit (PDZONE_MAX_BODY_BYTES, PDZONE_MAX_UPLOAD_BYTES)."""

    status = 413
    code = "payload_too_large"


class StorageFull(PdzoneError):
    """The disk is full (ENOSPC): nothing was changed."""

    status = 507
    code = "storage_full"
