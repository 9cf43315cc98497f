from __future__ import annotations

import contextlib
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wsaudit.audit.durations import DurationError, Format, human, parse_duration


@pytest.mark.parametrize(
    ("value", "fmt", "seconds"),
    [
        ("60", Format.SECONDS, 60),
        (3600, Format.SECONDS, 3600),
        ("60000", Format.MILLISECONDS, 60),
        ("1h", Format.NGINX, 3600),
        ("90", Format.NGINX, 90),
        ("1h 30m", Format.NGINX, 5400),
        ("1h30m", Format.HAPROXY, 5400),
        ("500ms", Format.HAPROXY, 0.5),
        ("3600", Format.HAPROXY, 3.6),
        ("2d", Format.NGINX, 172800),
    ],
)
def test_each_controller_format(value: object, fmt: Format, seconds: float) -> None:
    assert parse_duration(value, fmt) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("value", "fmt"),
    [
        ("60s", Format.SECONDS),
        ("1h", Format.MILLISECONDS),
        ("", Format.NGINX),
        ("abc", Format.NGINX),
        ("1x", Format.HAPROXY),
        ("-5", Format.SECONDS),
        (True, Format.SECONDS),
        (None, Format.NGINX),
        ("1h 2", Format.NGINX),
    ],
)
def test_garbage_is_refused_with_the_expected_format(value: object, fmt: Format) -> None:
    with pytest.raises(DurationError, match=re.escape(fmt.value)):
        parse_duration(value, fmt)


@given(st.text(max_size=20), st.sampled_from(list(Format)))
def test_never_raises_anything_but_duration_error(text: str, fmt: Format) -> None:
    with contextlib.suppress(DurationError):
        assert parse_duration(text, fmt) >= 0


@given(st.integers(0, 10**7))
def test_bare_numbers_scale_by_the_format_unit(number: int) -> None:
    assert parse_duration(str(number), Format.SECONDS) == number
    assert parse_duration(str(number), Format.MILLISECONDS) == pytest.approx(number / 1000)
    assert parse_duration(f"{number}s", Format.NGINX) == number


def test_human_readable_durations() -> None:
    assert human(3600) == "3600 s (1 h)"
    assert human(60) == "60 s (1 min)"
    assert human(30) == "30 s"
