"""The verifier's fast leaf encoder writes exactly the bytes of the reference encoder."""

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from pdzone.audit.encoding import event_dict, leaf_bytes, leaf_bytes_from_row
from pdzone.audit.log import EVENT_COLUMNS

text = st.text(max_size=40)  # any Unicode: Chinese, controls, quotes, backslashes, astral characters
opt_text = st.none() | text
opt_int = st.none() | st.integers(0, 2**62)
times = st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2100, 1, 1),
                     timezones=st.sampled_from([dt.UTC, dt.timezone(dt.timedelta(hours=8))]) | st.none())


@given(st.tuples(st.integers(1, 2**62), st.integers(0, 2**62), times, text, opt_int, opt_int, opt_int, opt_text,
                 text, opt_text, opt_text, st.sampled_from(["success", "denied", "failed"]), opt_text, opt_text,
                 text))
def test_fast_encoder_equals_reference(row):
    names = [c.key for c in EVENT_COLUMNS]
    ref = leaf_bytes(event_dict(dict(zip(names, row, strict=True))))
    assert leaf_bytes_from_row(row) == ref
    assert ref.startswith(b"pdzone.audit.v1\n{") and ref.isascii()


def test_known_leaf():
    row = (42, 41, dt.datetime(2026, 11, 27, 8, 5, 16, 478961, tzinfo=dt.UTC), "os:root@vm", None, None, None,
           None, "system.demo.seed", None, None, "success", None, None, '{"users":11,"名":"值"}')
    assert leaf_bytes_from_row(row) == (
        b'pdzone.audit.v1\n{"action":"system.demo.seed","actor":"os:root@vm","actor_org_id":null,'
        b'"actor_user_id":null,"details":"{\\"users\\":11,\\"\\u540d\\":\\"\\u503c\\"}","id":42,'
        b'"outcome":"success","request_id":null,"seq":41,"source_ip":null,"target_id":null,"target_type":null,'
        b'"time":"2026-11-27T08:05:16.478961Z","token_id":null,"zone":null}')
