"""Identifier validators: property tests against python-stdnum's check-digit functions."""

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stdnum.cn import ric, uscc

from pdzone.errors import Invalid
from pdzone.identity import validators as v

dates = st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2020, 12, 31))
regions = st.sampled_from(["110101", "110105", "110108", "310104", "440305", "999999", "110199"])


def with_check(partial17: str) -> str:
    return partial17 + ric.calc_check_digit(partial17 + "0")


@given(region=regions, born=dates, order=st.integers(0, 999))
def test_every_number_with_a_right_check_digit_and_real_date_is_accepted(region, born, order):
    number = with_check(f"{region}{born:%Y%m%d}{order:03d}")
    checked = v.check_id_number(number.lower())
    assert checked.value == number
    assert v.mask_id_number(number) == number[:6] + "********" + number[-4:]


@given(region=regions, born=dates, order=st.integers(0, 999), wrong=st.sampled_from("0123456789X"))
def test_a_wrong_check_digit_is_rejected(region, born, order, wrong):
    number = with_check(f"{region}{born:%Y%m%d}{order:03d}")
    if wrong != number[-1]:
        with pytest.raises(Invalid) as e:
            v.check_id_number(number[:-1] + wrong)
        assert e.value.code == "invalid_id_number"


def test_impossible_birth_dates_are_rejected():
    for born in ("19900230", "18991231", "20991231"):
        with pytest.raises(Invalid):
            v.check_id_number(with_check(f"110105{born}123"))


def test_unknown_region_is_a_warning_not_a_rejection():
    number = with_check("99999919900307123")
    assert not ric.is_valid(number)  # stdnum rejects it…
    checked = v.check_id_number(number)  # …we keep it, with a warning
    assert checked.warnings and "999999" in checked.warnings[0]
    assert not v.check_id_number(with_check("11010519900307123")).warnings


@given(st.text(alphabet="0123456789ABCDEFGHJKLMNPQRTUWXY", min_size=17, max_size=17))
def test_uscc_agrees_with_stdnum(body):
    good = body + uscc.calc_check_digit(body + "0")
    if good[:8].isdigit():
        assert v.check_uscc(good) == good
    bad = body + ("0" if good[-1] != "0" else "1")
    with pytest.raises(Invalid):
        v.check_uscc(bad)


@given(st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True))
def test_mobiles(number):
    assert v.check_mobile("+86 " + number) == number
    assert v.mask_mobile(number) == number[:3] + "****" + number[-4:]


@pytest.mark.parametrize("bad", ["12345678901", "1391234567", "139123456789", "abc", ""])
def test_bad_mobiles(bad):
    with pytest.raises(Invalid):
        v.check_mobile(bad)
