"""What can go wrong, as exceptions: one class per kind of answer, all under `PdzoneError`.

The server answers errors as JSON ``{"code", "message", "message_zh", "message_en", "details"?}``;
`error_from_response` turns such an answer into the matching class so a notebook can catch, say,
`BudgetExhausted` without looking at status codes.
"""

from __future__ import annotations

from typing import Any

LANGS = ("zh", "en")


class PdzoneError(Exception):
    """Any failure the server reported or the client met, with a code and a message in zh and en."""

    status: int | None = None
    code = "error"

    def __init__(self, message_zh: str, message_en: str, *, status: int | None = None, code: str | None = None,
                 details: dict[str, Any] | None = None, lang: str = "zh", request_id: str | None = None) -> None:
        self.message_zh = message_zh
        self.message_en = message_en
        if status is not None:
            self.status = status
        if code:
            self.code = code
        self.details = details or {}
        self.lang = lang
        self.request_id = request_id  # quote it to the operator: their logs carry it
        super().__init__(self.message)

    @property
    def message(self) -> str:
        """The message in the client's language (``lang`` of `Client`)."""
        return self.message_en if self.lang == "en" else self.message_zh

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class InvalidQuery(PdzoneError):
    """400/422: the request or the SQL was malformed, or a value was out of range."""

    status = 422
    code = "invalid_request"


class AuthenticationError(PdzoneError):
    """401: no token, or a token that is wrong, revoked or expired."""

    status = 401
    code = "not_authenticated"


class PolicyRefused(PdzoneError):
    """403: the zone's policy refused the query, or the caller lacks the grant or permission."""

    status = 403
    code = "forbidden"


class NotFound(PdzoneError):
    """404: no such route, dataset, scenario or query."""

    status = 404
    code = "not_found"


class BudgetExhausted(PdzoneError):
    """409: the grant's privacy budget (epsilon) cannot pay for this query."""

    status = 409
    code = "budget_exhausted"


class PendingApproval(PdzoneError):
    """202: the query waits for the security admin's approval; fetch it later with `Client.result`."""

    status = 202
    code = "pending_approval"

    def __init__(self, query_id: int, *, status_text: str = "pending", waited_s: float | None = None,
                 lang: str = "zh", details: dict[str, Any] | None = None) -> None:
        self.query_id = query_id
        self.query_status = status_text
        zh = f"查询 {query_id} 须经安全管理员审批（当前状态：{status_text}），请稍后用 result({query_id}) 取结果"
        en = (f"query {query_id} awaits the security admin's approval (status: {status_text}); "
              f"fetch it later with result({query_id})")
        if waited_s is not None:
            zh = f"已等待 {waited_s:.0f} 秒，" + zh
            en = f"after waiting {waited_s:.0f} s, " + en
        super().__init__(zh, en, details={"query_id": query_id, "status": status_text, **(details or {})},
                         lang=lang)


class ServerError(PdzoneError):
    """5xx, or an answer that is not the JSON the API speaks (a proxy's page, a wrong base URL)."""

    status = 500
    code = "server_error"


class ConnectionFailed(PdzoneError):
    """The server could not be reached or did not answer in time (no HTTP status)."""

    status = None
    code = "connection_failed"


_BY_STATUS: dict[int, type[PdzoneError]] = {
    400: InvalidQuery, 422: InvalidQuery, 401: AuthenticationError, 403: PolicyRefused, 404: NotFound,
    409: BudgetExhausted,
}


def error_class(status: int) -> type[PdzoneError]:
    """The exception class for an HTTP error status; other 4xx stay the base class."""
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    return ServerError if status >= 500 or status < 400 else PdzoneError


def error_from_response(status: int, body: Any, *, lang: str = "zh", request_id: str | None = None) -> PdzoneError:
    """Build the exception for an error answer; `body` is the decoded JSON, or None when it was not JSON."""
    if not isinstance(body, dict) or not ({"code", "message", "message_zh", "message_en"} & body.keys()):
        return ServerError(f"服务器返回了无法识别的应答（HTTP {status}），请检查 base_url 是否指向 pdzone",
                           f"the server answered something that is not pdzone's JSON (HTTP {status}); "
                           "check that base_url points at pdzone",
                           status=status, code="bad_response", lang=lang, request_id=request_id)
    fallback = str(body.get("message") or f"HTTP {status}")
    zh = str(body.get("message_zh") or fallback)
    en = str(body.get("message_en") or fallback)
    details = body.get("details")
    cls = error_class(status)
    return cls(zh, en, status=status, code=str(body.get("code") or cls.code),
               details=details if isinstance(details, dict) else ({"details": details} if details else None),
               lang=lang, request_id=body.get("request_id") or request_id)


class ValuesWithheld(UserWarning):
    """An accepted query's values are withheld (``df.attrs["withheld"]``): the zone answered, but without numbers.

    It happens when the engine cannot finish a query it accepted (time or memory limit). The answer has the
    shape of a success so that failing tells nothing about the data; the budget was spent.
    """

