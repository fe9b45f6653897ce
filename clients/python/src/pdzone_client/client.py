"""`Client`: the clean room over HTTP, answers as pandas DataFrames.

The analyst never sees a zone's raw data (原始数据不出域，数据可用不可见): the server checks each
query against the grant and scenario, adds noise where the data's level asks for it, spends privacy
budget and returns aggregates with a receipt. This client only speaks that protocol; every rule is
enforced on the server.
"""

from __future__ import annotations

import time
import warnings
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import httpx
import pandas as pd

from pdzone_client._version import __version__
from pdzone_client.errors import (
    LANGS,
    ConnectionFailed,
    PdzoneError,
    PendingApproval,
    PolicyRefused,
    ServerError,
    ValuesWithheld,
    error_from_response,
)
from pdzone_client.frames import budget_frame, frame

API = "/api/v1"
# Statuses of a held query that may still become an answer (approved: waiting to be run).
WAITING = frozenset({"pending", "approved", "running", "queued"})


class Client:
    """A signed-in connection to one pdzone deployment.

    >>> with Client("http://127.0.0.1:8000", token) as pz:
    ...     df = pz.query("SELECT 参保区, COUNT(*) AS n FROM social_insurance GROUP BY 参保区", scenario="credit_2026")

    ``token`` is an API token (``pdz_...``) issued in the console or by ``POST /api/v1/auth/api-tokens``.
    ``lang`` ("zh" or "en") picks the language of error messages. ``transport`` is handed to
    `httpx.Client`, e.g. ``httpx.WSGITransport`` or a mock in tests; ``verify`` is httpx's TLS setting
    (``True``, ``False`` or an ``ssl.SSLContext`` with the deployment's CA).
    """

    def __init__(self, base_url: str, token: str, *, timeout: float = 60.0,
                 transport: httpx.BaseTransport | None = None, verify: Any = True, lang: str = "zh") -> None:
        if lang not in LANGS:
            raise ValueError(f"lang must be one of {LANGS}, not {lang!r}")
        if not token or not isinstance(token, str):
            raise ValueError("token must be a non-empty string (an API token from the pdzone console)")
        base = base_url.rstrip("/")
        if base.endswith(API):  # accept the API's own address too
            base = base[: -len(API)]
        self.base_url = base
        self.lang = lang
        self._http = httpx.Client(
            base_url=base, timeout=timeout, transport=transport, verify=verify,
            follow_redirects=False,  # never carry the bearer token somewhere else
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json",
                     "Accept-Language": "en" if lang == "en" else "zh-CN",
                     "User-Agent": f"pdzone-client/{__version__}"})

    # --- lifecycle ----------------------------------------------------------------------------

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Client({self.base_url!r}, lang={self.lang!r})"  # never the token

    # --- the clean room -----------------------------------------------------------------------

    def query(self, sql: str, scenario: str, *, epsilon: float | Decimal | None = None, wait: bool = False,
              poll_interval: float = 2.0, timeout: float | None = None) -> pd.DataFrame:
        """Run a clean-room query; the receipt is in ``df.attrs["receipt"]``.

        A query the zone's policy holds for the security admin's approval raises `PendingApproval`
        (with ``.query_id``) unless ``wait`` is true: then the client polls every ``poll_interval``
        seconds until the query is answered or rejected (`PolicyRefused`), or until ``timeout``
        seconds have passed (`PendingApproval` again; ``None`` waits as long as it takes).
        """
        body = self._post("/cleanroom/queries", _query_body(sql, scenario, epsilon))
        if "query_id" in body and "rows" not in body:  # 202: held for approval
            query_id = int(body["query_id"])
            if not wait:
                raise PendingApproval(query_id, status_text=str(body.get("status", "pending")), lang=self.lang)
            return self._wait(query_id, poll_interval, timeout)
        return self._answer(body)

    def result(self, query_id: int) -> pd.DataFrame:
        """The answer of a query that was held for approval, once it is answered."""
        return self._result_of(self._get(f"/cleanroom/queries/{_id(query_id)}"), query_id)

    def dry_run(self, sql: str, scenario: str, *, epsilon: float | Decimal | None = None) -> dict[str, Any]:
        """What the query would cost (epsilon) and how accurate it would be, without running it."""
        return self._post("/cleanroom/dry-run", _query_body(sql, scenario, epsilon))

    def mock(self, dataset: str, rows: int = 1000) -> pd.DataFrame:
        """Synthetic rows made from the dataset's metadata only, to write and test SQL against.

        They are not zone data: ``df.attrs["synthetic"]`` is True and ``df.attrs["types"]`` holds the
        declared column types.
        """
        body = self._get(f"/cleanroom/mock/{quote(dataset, safe='')}", params={"rows": int(rows)})
        return frame(body.get("columns") or [], body.get("rows") or [],
                     attrs={"dataset": body.get("dataset", dataset), "types": body.get("types"), "synthetic": True})

    def budget(self, scenario: str) -> pd.DataFrame:
        """The caller's grants in a scenario, one row each, with exact `Decimal` epsilons."""
        return budget_frame(self._get("/cleanroom/budget", params={"scenario": scenario}))

    def schema(self, scenario: str) -> dict[str, Any]:
        """The datasets a scenario lets the caller query: names, levels, columns and their roles."""
        return self._get("/cleanroom/schema", params={"scenario": scenario})

    def me(self) -> dict[str, Any]:
        """Who the token belongs to: user, organization, roles, scopes, expiry."""
        return self._get("/me")

    # --- plumbing -----------------------------------------------------------------------------

    def request(self, method: str, path: str, *, params: dict[str, Any] | None = None, json: Any = None) -> Any:
        """Call any route under /api/v1 (``path`` like ``"/datasets"``) and return its decoded JSON.

        Errors raise the same exceptions as the methods above.
        """
        url = API + "/" + path.lstrip("/")
        try:
            r = self._http.request(method, url, params=params, json=json)
        except httpx.TransportError as e:
            raise ConnectionFailed(f"无法连接 {self.base_url}：{e!s}", f"could not reach {self.base_url}: {e!s}",
                                   lang=self.lang, details={"error": type(e).__name__}) from e
        rid = r.headers.get("x-request-id")
        if r.status_code == 204:
            return None
        try:
            body = r.json()
        except ValueError:
            body = None
        if r.status_code in (200, 201, 202) and body is not None:
            return body
        raise error_from_response(r.status_code, body, lang=self.lang, request_id=rid)

    def _get(self, path: str, *, params: dict[str, Any] | None = None) -> Any:
        return self._object(self.request("GET", path, params=params))

    def _post(self, path: str, json: Any) -> Any:
        return self._object(self.request("POST", path, json=json))

    def _object(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise ServerError("服务器应答不是 JSON 对象", "the server's answer is not a JSON object",
                              status=200, code="bad_response", lang=self.lang)
        return body

    def _answer(self, body: dict[str, Any]) -> pd.DataFrame:
        if "columns" not in body or "rows" not in body:
            raise ServerError("查询应答缺少 columns 或 rows", "the query answer lacks columns or rows",
                              status=200, code="bad_response", lang=self.lang)
        attrs = {"receipt": body.get("receipt") or {}}
        if "query_id" in body:
            attrs["query_id"] = body["query_id"]
        attrs["withheld"] = bool(attrs["receipt"].get("withheld"))
        if attrs["withheld"]:  # accepted, charged, but the engine could not finish: no values, not zeros
            warnings.warn(ValuesWithheld("查询已受理并计入预算，但未能完成：结果数值均已置空" if self.lang == "zh"
                                         else "the query was accepted and charged but could not finish: its "
                                         "values are withheld (null)"), stacklevel=3)
        return frame(body["columns"], body["rows"], attrs=attrs)

    def _result_of(self, body: dict[str, Any], query_id: int) -> pd.DataFrame:
        status = str(body.get("status", ""))
        if status == "answered" or (not status and "rows" in body):
            return self._answer(body)
        if status in WAITING:
            raise PendingApproval(query_id, status_text=status, lang=self.lang)
        if status == "rejected":
            reason = body.get("reason") or body.get("comment")
            raise PolicyRefused(f"查询 {query_id} 未获批准" + (f"：{reason}" if reason else ""),
                                f"query {query_id} was rejected" + (f": {reason}" if reason else ""),
                                status=403, code="query_rejected", details=body, lang=self.lang)
        raise PdzoneError(f"查询 {query_id} 的状态为 {status}，没有结果", f"query {query_id} is {status}: no result",
                          code=f"query_{status or 'unknown'}", details=body, lang=self.lang)

    def _wait(self, query_id: int, poll_interval: float, timeout: float | None) -> pd.DataFrame:
        start = time.monotonic()
        while True:
            try:
                return self.result(query_id)
            except PendingApproval as e:
                status = e.query_status
            waited = time.monotonic() - start
            if timeout is not None and waited >= timeout:
                raise PendingApproval(query_id, status_text=status, waited_s=waited, lang=self.lang) from None
            time.sleep(poll_interval if timeout is None else min(poll_interval, timeout - waited))


def _query_body(sql: str, scenario: str, epsilon: float | Decimal | None) -> dict[str, Any]:
    if not isinstance(sql, str) or not sql.strip():
        raise ValueError("sql must be a non-empty string")
    if not isinstance(scenario, str) or not scenario:
        raise ValueError("scenario must be a scenario code, e.g. 'credit_2026'")
    if epsilon is not None and (isinstance(epsilon, bool) or not isinstance(epsilon, int | float | Decimal)):
        raise TypeError("epsilon must be a number or None")
    # JSON numbers: a Decimal goes as its float (the server re-checks it against the grant anyway).
    return {"sql": sql, "scenario": scenario, "epsilon": None if epsilon is None else float(epsilon)}


def _id(query_id: int) -> int:
    if isinstance(query_id, bool) or not isinstance(query_id, int):
        raise TypeError("query_id must be an int")
    return query_id
