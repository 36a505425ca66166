"""bnn_hw.intmath: integer ceiling division, exact where a float is not."""

import math

from hypothesis import given, strategies as st

from bnn_hw.intmath import ceil_div


@given(st.integers(0, 10**6), st.integers(1, 10**4))
def test_ceil_div_is_the_fewest_words_that_hold_the_values(a, b):
    words = ceil_div(a, b)
    assert words * b >= a and (words - 1) * b < a
    assert words == math.ceil(a / b)   # the same as float division where that is exact


def test_ceil_div_is_exact_past_float_precision():
    a = 2**60 + 1
    assert ceil_div(a, 2) == 2**59 + 1 and math.ceil(a / 2) == 2**59   # the float rounds a down


def test_signed_width_is_the_narrowest_two_s_complement_type():
    from bnn_hw.intmath import signed_width
    assert [signed_width(*r) for r in [(0, 0), (-1, -1), (-8, 7), (-9, 7), (0, 255), (-32768, -32768)]] == \
        [1, 1, 4, 5, 9, 16]
