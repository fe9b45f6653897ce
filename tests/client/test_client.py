"""The SDK's side of the protocol, against scripted answers (httpx.MockTransport): how statuses become
exceptions, how a held query is waited for, how answers become DataFrames. What the server decides is
tested against the real server in test_live*.py."""

from __future__ import annotations

import json
from decimal import Decimal

import httpx
import pandas as pd
import pytest
from pdzone_client import (
    AuthenticationError,
    BudgetExhausted,
    Client,
    ConnectionFailed,
    InvalidQuery,
    NotFound,
    PdzoneError,
    PendingApproval,
    PolicyRefused,
    ServerError,
    ValuesWithheld,
)

RECEIPT = {"receipt_id": "r-1", "epsilon_spent": "0.5", "grant_id": 7, "noise": "laplace"}


def scripted(*answers, seen: list | None = None, lang: str = "zh") -> Client:
    """A client whose server gives `answers` in turn: (status, json) or (status, bytes, content type)."""
    queue = list(answers)

    def handler(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        status, body, *ctype = queue.pop(0)
        if ctype:
            return httpx.Response(status, content=body, headers={"content-type": ctype[0]})
        return httpx.Response(status, json=body, headers={"x-request-id": "rid-42"})

    return Client("http://zone.example/pdz", "pdz_secret", transport=httpx.MockTransport(handler), lang=lang)


def error(code: str, **extra) -> dict:
    return {"code": code, "message": "中文说明", "message_zh": "中文说明", "message_en": "english text", **extra}


@pytest.mark.parametrize(("status", "cls"), [
    (400, InvalidQuery), (422, InvalidQuery), (401, AuthenticationError), (403, PolicyRefused), (404, NotFound),
    (409, BudgetExhausted), (500, ServerError), (503, ServerError), (429, PdzoneError),
])
def test_each_status_raises_its_exception_with_the_servers_code_and_details(status, cls):
    pz = scripted((status, error("some_code", details={"dataset": "social_insurance"})))
    with pytest.raises(cls) as e:
        pz.dry_run("SELECT COUNT(*) FROM social_insurance", "credit")
    assert type(e.value) is cls
    assert e.value.status == status and e.value.code == "some_code"
    assert e.value.details == {"dataset": "social_insurance"}
    assert (e.value.message, e.value.message_zh, e.value.message_en) == ("中文说明", "中文说明", "english text")
    assert str(e.value) == "some_code: 中文说明"
    assert e.value.request_id == "rid-42"


def test_budget_exhausted_is_catchable_as_any_pdzone_error():
    pz = scripted((409, error("budget_exhausted", details={"epsilon_left": "0.1"})))
    with pytest.raises(PdzoneError) as e:
        pz.query("SELECT COUNT(*) FROM t", "credit", epsilon=0.5)
    assert isinstance(e.value, BudgetExhausted) and e.value.details["epsilon_left"] == "0.1"


@pytest.mark.parametrize("answer", [
    (502, b"<html>Bad Gateway</html>", "text/html"),
    (404, b"<html>nginx</html>", "text/html"),
    (200, b"<html>a login page</html>", "text/html"),
])
def test_an_answer_that_is_not_the_apis_json_is_a_server_error(answer):
    with pytest.raises(ServerError) as e:
        scripted(answer).me()
    assert e.value.code == "bad_response" and e.value.status == answer[0]
    assert "check that base_url points at pdzone" in e.value.message_en  # the likely cause: a wrong address
    with pytest.raises(ServerError) as e:
        scripted((200, [1, 2, 3])).me()
    assert e.value.code == "bad_response"


def test_a_transport_failure_is_connection_failed():
    def handler(request):
        raise httpx.ConnectTimeout("timed out", request=request)

    pz = Client("http://zone.example", "pdz_secret", transport=httpx.MockTransport(handler))
    with pytest.raises(ConnectionFailed) as e:
        pz.me()
    assert e.value.status is None and "zone.example" in e.value.message
    assert isinstance(e.value.__cause__, httpx.ConnectTimeout)


def test_lang_picks_the_message_and_is_sent_as_accept_language():
    seen: list[httpx.Request] = []
    for lang, header, text in (("zh", "zh-CN", "中文说明"), ("en", "en", "english text")):
        with pytest.raises(PolicyRefused) as e:
            scripted((403, error("forbidden")), seen=seen, lang=lang).me()
        assert e.value.message == text and str(e.value) == f"forbidden: {text}"
        assert seen[-1].headers["accept-language"] == header
    with pytest.raises(ValueError, match="lang"):
        Client("http://zone.example", "pdz_secret", lang="fr")


def test_query_posts_sql_scenario_epsilon_with_the_token_and_returns_a_frame_with_its_receipt():
    seen: list[httpx.Request] = []
    answer = {"columns": ["参保区", "n", "avg_base", "note", "n"],
              "rows": [["朝阳区", 120, 8123.5, None, 1], ["海淀区", None, 9000, "suppressed", 2],
                       ["东城区", 7, None, "x", 3]],
              "receipt": RECEIPT}
    pz = scripted((200, answer), seen=seen)
    df = pz.query("SELECT 参保区, COUNT(*) AS n FROM social_insurance GROUP BY 参保区", "credit",
                  epsilon=Decimal("0.5"))
    req = seen[0]
    assert req.method == "POST" and req.url.path == "/pdz/api/v1/cleanroom/queries"
    assert req.headers["authorization"] == "Bearer pdz_secret"
    assert json.loads(req.content) == {"sql": "SELECT 参保区, COUNT(*) AS n FROM social_insurance GROUP BY 参保区",
                                       "scenario": "credit", "epsilon": 0.5}
    assert list(df.columns) == ["参保区", "n", "avg_base", "note", "n"]
    assert df.attrs["receipt"] == RECEIPT
    counts = df.iloc[:, 1]
    assert str(counts.dtype) == "Int64" and counts.tolist()[0] == 120 and pd.isna(counts[1])  # ints stay ints
    assert df.iloc[:, 4].dtype == "int64"
    assert df["avg_base"].tolist()[:2] == [8123.5, 9000.0] and pd.isna(df["avg_base"][2])
    assert pd.isna(df["note"][0]) and df["note"][1] == "suppressed"
    assert df["参保区"].tolist() == ["朝阳区", "海淀区", "东城区"]


def test_an_empty_answer_keeps_its_columns():
    df = scripted((200, {"columns": ["区", "n"], "rows": [], "receipt": RECEIPT})).query("SELECT 1", "credit")
    assert list(df.columns) == ["区", "n"] and len(df) == 0 and df.attrs["receipt"] == RECEIPT


def test_withheld_values_warn_and_are_flagged_never_read_as_numbers():
    body = {"columns": ["区", "n"], "rows": [["朝阳区", None], ["海淀区", None]],
            "receipt": {**RECEIPT, "withheld": True}}
    with pytest.warns(ValuesWithheld, match="置空"):
        df = scripted((200, body)).query("SELECT 1", "credit")
    assert df.attrs["withheld"] is True and df["n"].isna().all() and df["区"].tolist() == ["朝阳区", "海淀区"]
    with pytest.warns(ValuesWithheld, match="withheld"):
        scripted((200, body), lang="en").query("SELECT 1", "credit")
    ok = scripted((200, {**body, "rows": [["朝阳区", 3]], "receipt": RECEIPT})).query("SELECT 1", "credit")
    assert ok.attrs["withheld"] is False   # and no warning (warnings are errors in this suite)


def test_a_held_query_raises_pending_approval_with_its_id():
    pz = scripted((202, {"query_id": 31, "status": "pending"}))
    with pytest.raises(PendingApproval) as e:
        pz.query("SELECT COUNT(*) FROM health_visits", "credit")
    assert e.value.query_id == 31 and e.value.status == 202 and "result(31)" in e.value.message_en


def test_wait_polls_until_the_held_query_is_answered():
    seen: list[httpx.Request] = []
    pz = scripted((202, {"query_id": 31, "status": "pending"}), (200, {"query_id": 31, "status": "pending"}),
                  (200, {"query_id": 31, "status": "approved"}),
                  (200, {"query_id": 31, "status": "answered", "columns": ["n"], "rows": [[42]], "receipt": RECEIPT}),
                  seen=seen)
    df = pz.query("SELECT COUNT(*) AS n FROM health_visits", "credit", wait=True, poll_interval=0)
    assert df["n"].tolist() == [42] and df.attrs["receipt"] == RECEIPT and df.attrs["query_id"] == 31
    assert [(r.method, r.url.path) for r in seen[1:]] == [("GET", "/pdz/api/v1/cleanroom/queries/31")] * 3


def test_wait_ends_in_policy_refused_when_the_admin_rejects():
    pz = scripted((202, {"query_id": 8, "status": "pending"}),
                  (200, {"query_id": 8, "status": "rejected", "reason": "超出场景用途"}))
    with pytest.raises(PolicyRefused) as e:
        pz.query("SELECT * FROM health_visits", "credit", wait=True, poll_interval=0)
    assert e.value.code == "query_rejected" and "超出场景用途" in e.value.message


def test_wait_gives_up_after_its_timeout_still_pending():
    pz = scripted((202, {"query_id": 8, "status": "pending"}), (200, {"query_id": 8, "status": "approved"}))
    with pytest.raises(PendingApproval) as e:
        pz.query("SELECT COUNT(*) FROM health_visits", "credit", wait=True, poll_interval=0, timeout=0)
    assert e.value.query_id == 8 and e.value.query_status == "approved"


def test_result_fetches_a_held_query_later():
    pz = scripted((200, {"query_id": 5, "status": "pending"}),
                  (200, {"query_id": 5, "status": "answered", "columns": ["n"], "rows": [[3]], "receipt": RECEIPT}))
    with pytest.raises(PendingApproval):
        pz.result(5)
    assert pz.result(5)["n"].tolist() == [3]


def test_budget_is_one_row_per_grant_with_exact_decimals():
    body = {"scenario": "credit", "grants": [
        {"grant_id": 1, "epsilon_total": "1.0", "epsilon_spent": "0.7", "epsilon_left": "0.3",
         "datasets": ["social_insurance"], "expires_at": "2026-12-31T00:00:00Z"},
        {"grant_id": 2, "epsilon_total": 2, "epsilon_spent": 0.1, "epsilon_left": 1.9, "datasets": [],
         "expires_at": None},
    ]}
    seen: list[httpx.Request] = []
    df = scripted((200, body), seen=seen).budget("credit")
    assert seen[0].url.params["scenario"] == "credit"
    assert df["grant_id"].tolist() == [1, 2] and df.attrs["scenario"] == "credit"
    assert df["epsilon_left"].tolist() == [Decimal("0.3"), Decimal("1.9")]
    assert df["epsilon_spent"][0] + df["epsilon_left"][0] == df["epsilon_total"][0]  # exact, unlike floats
    assert all(type(v) is Decimal for v in df["epsilon_total"])
    with pytest.raises(ServerError):
        scripted((200, {"scenario": "x", "grants": [{"grant_id": 3, "epsilon_left": "lots"}]})).budget("x")


def test_mock_rows_are_marked_synthetic_and_the_dataset_name_is_quoted():
    seen: list[httpx.Request] = []
    body = {"dataset": "社保/2025", "columns": ["身份证号", "缴费基数"], "types": ["VARCHAR", "BIGINT"],
            "rows": [["110105199003071239", 8000], ["110105199003071247", None]]}
    df = scripted((200, body), seen=seen).mock("社保/2025", rows=2)
    assert seen[0].url.raw_path.startswith(b"/pdz/api/v1/cleanroom/mock/%E7%A4%BE%E4%BF%9D%2F2025?")
    assert seen[0].url.params["rows"] == "2"
    assert df.attrs == {"dataset": "社保/2025", "types": ["VARCHAR", "BIGINT"], "synthetic": True}
    assert str(df["缴费基数"].dtype) == "Int64" and pd.isna(df["缴费基数"][1])
