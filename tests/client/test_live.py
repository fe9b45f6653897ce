"""The SDK against the real server over HTTP: who am I, and how the server's refusals surface."""

from __future__ import annotations

import pytest
from pdzone_client import AuthenticationError, Client, ConnectionFailed, InvalidQuery, NotFound, PolicyRefused

from tests import factories as f
from tests.client.conftest import free_port, issue_api_token, serve, sign_in


@pytest.fixture
def live(live_rt):
    """The server, with one partner analyst (李雷's stand-in) holding an API token for zone_a."""
    with live_rt.store.transaction() as s:
        f.zone(s, "zone_a")
        o = f.org(s, kind="partner", zone_code="zone_a")
        f.user(s, live_rt.vault, o, "li.lei", role="partner_analyst", zone_code="zone_a")
    with serve(live_rt) as url:
        session = sign_in(url, "li.lei", f.PASSWORD)
        yield url, issue_api_token(url, session, ["catalog.dataset.read"], zone="zone_a")


def test_me_answers_for_the_api_token(live):
    url, token = live
    with Client(url + "/api/v1/", token) as pz:  # the API's own address works as base_url too
        me = pz.me()
    assert me["username"] == "li.lei"
    assert me["token_kind"] == "api"
    assert me["scopes"] == ["catalog.dataset.read"]
    assert [(r["role"], r["zone"]) for r in me["roles"]] == [("partner_analyst", "zone_a")]


def test_a_bad_token_is_an_authentication_error_in_the_chosen_language(live):
    url, _ = live
    with Client(url, "pdz_not-a-real-token") as pz, pytest.raises(AuthenticationError) as zh:
        pz.me()
    assert zh.value.status == 401 and zh.value.code == "invalid_token"
    assert zh.value.message == zh.value.message_zh == "访问令牌无效或已撤销"
    assert str(zh.value) == "invalid_token: 访问令牌无效或已撤销"
    assert zh.value.request_id  # what to quote to the operator
    with Client(url, "pdz_not-a-real-token", lang="en") as pz, pytest.raises(AuthenticationError) as en:
        pz.me()
    assert en.value.message == "invalid or revoked token"


def test_unknown_route_is_not_found_and_refusals_keep_their_codes(live):
    url, token = live
    with Client(url, token) as pz:
        with pytest.raises(NotFound) as nf:
            pz.request("GET", "/nowhere")
        assert nf.value.status == 404 and nf.value.code == "not_found"
        with pytest.raises(PolicyRefused) as refused:  # a partner analyst cannot read the operation log
            pz.request("GET", "/audit/events")
        assert refused.value.status == 403 and refused.value.details == {"permission": "audit.log.read"}
        with pytest.raises(InvalidQuery) as bad:
            pz.request("DELETE", f"/auth/api-tokens/{2**70}")
        assert bad.value.status == 422 and bad.value.code == "invalid_request"
        assert bad.value.details["errors"][0]["loc"] == ["path", "token_id"]


def test_a_server_that_is_not_there_is_a_connection_failure():
    with Client(f"http://127.0.0.1:{free_port()}", "pdz_x", timeout=5) as pz, pytest.raises(ConnectionFailed) as e:
        pz.me()
    assert e.value.status is None and e.value.code == "connection_failed"
    assert "127.0.0.1" in e.value.message
