"""The verifier's fast leaf encoder writes exactly the bytes of the reference encoder; the MAC
covers every field of an event."""

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from pdzone.audit.encoding import event_dict, leaf_bytes, leaf_bytes_from_row, mac_bytes_from_row
from pdzone.audit.log import EVENT_COLUMNS
from pdzone.crypto import get_suite

text = st.text(max_size=40)  # any Unicode: Chinese, controls, quotes, backslashes, astral characters
opt_text = st.none() | text
opt_int = st.none() | st.integers(0, 2**62)
times = st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2100, 1, 1),
                     timezones=st.sampled_from([dt.UTC, dt.timezone(dt.timedelta(hours=8))]) | st.none())


macs = st.none() | st.binary(min_size=32, max_size=32)
rows = st.tuples(st.integers(1, 2**62), st.integers(0, 2**62), times, text, opt_int, opt_int, opt_int, opt_text,
                 text, opt_text, opt_text, st.sampled_from(["success", "denied", "failed"]), opt_text, opt_text,
                 text, macs)


@given(rows)
def test_fast_encoder_equals_reference(row):
    names = [c.key for c in EVENT_COLUMNS]
    ref = leaf_bytes(event_dict(dict(zip(names, row, strict=True))))
    assert leaf_bytes_from_row(row) == ref
    prefix = b"pdzone.audit.v1\n{" if row[15] is None else b"pdzone.audit.v2\n{"
    assert ref.startswith(prefix) and ref.isascii()


INT_FIELDS = {0, 4, 5, 6}  # id, actor_user_id, actor_org_id, token_id


def _other(v, field):
    """A different value of the same kind (None becomes a value)."""
    if v is None:
        return 7 if field in INT_FIELDS else "x"
    if isinstance(v, int):
        return v + 1
    if isinstance(v, dt.datetime):
        return v + dt.timedelta(microseconds=1)
    return v + "x"


@given(rows, st.integers(0, 14).filter(lambda i: i != 1), st.sampled_from(["gm", "intl"]))
def test_any_single_field_change_breaks_the_mac(row, field, suite_name):
    """Every field but seq (given after the MAC is made) is covered: id, time, actor, action, target, details…"""
    suite, key = get_suite(suite_name), b"k" * 32
    mac = suite.hmac(key, mac_bytes_from_row(row))
    changed = list(row)
    changed[field] = _other(row[field], field)
    assert suite.hmac(key, mac_bytes_from_row(tuple(changed))) != mac
    assert suite.hmac(b"j" * 32, mac_bytes_from_row(row)) != mac  # and it needs the key
    moved = list(row)
    moved[1] = row[1] + 1
    assert suite.hmac(key, mac_bytes_from_row(tuple(moved))) == mac  # seq is the tree's business


def test_known_leaf():
    row = (42, 41, dt.datetime(2026, 11, 27, 8, 5, 16, 478961, tzinfo=dt.UTC), "os:root@vm", None, None, None,
           None, "system.demo.seed", None, None, "success", None, None, '{"users":11,"名":"值"}', None)
    assert leaf_bytes_from_row(row) == (
        b'pdzone.audit.v1\n{"action":"system.demo.seed","actor":"os:root@vm","actor_org_id":null,'
        b'"actor_user_id":null,"details":"{\\"users\\":11,\\"\\u540d\\":\\"\\u503c\\"}","id":42,'
        b'"outcome":"success","request_id":null,"seq":41,"source_ip":null,"target_id":null,"target_type":null,'
        b'"time":"2026-11-27T08:05:16.478961Z","token_id":null,"zone":null}')


def test_known_mac_bytes():
    """The MAC's input, pinned: docs/audit-log.md describes exactly these bytes."""
    row = (42, None, dt.datetime(2026, 11, 27, 8, 5, 16, 478961, tzinfo=dt.UTC), "os:root@vm", None, None, None,
           None, "system.demo.seed", None, None, "success", None, None, '{"users":11,"名":"值"}', None)
    assert mac_bytes_from_row(row) == (
        b'pdzone.audit.mac.v1\n{"action":"system.demo.seed","actor":"os:root@vm","actor_org_id":null,'
        b'"actor_user_id":null,"details":"{\\"users\\":11,\\"\\u540d\\":\\"\\u503c\\"}","id":42,'
        b'"outcome":"success","request_id":null,"source_ip":null,"target_id":null,"target_type":null,'
        b'"time":"2026-11-27T08:05:16.478961Z","token_id":null,"zone":null}')
    assert get_suite("intl").hmac(b"k" * 32, mac_bytes_from_row(row)).hex()[:8]  # HMAC-SHA256 over them
