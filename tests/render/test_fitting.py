"""Counting like Mastodon and X, and fitting only the free text into the limit (invariant 5)."""

from __future__ import annotations

import copy
import re
import unicodedata
import warnings

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mastodon import Mastodon

from statusbot.fitting import (
    ELLIPSIS,
    _countable,
    _graphemes,
    fit,
    mastodon_counter,
    x_counter,
)
from statusbot.publishers.base import Limit

with warnings.catch_warnings():  # twitter-text-parser imports the deprecated pkg_resources
    warnings.simplefilter("ignore", UserWarning)
    from twitter_text import parse_tweet  # type: ignore[import-untyped]
    from twitter_text.config import config as _twitter_config  # type: ignore[import-untyped]

_X_OPTIONS = copy.deepcopy(_twitter_config["defaults"])

LINK = "https://status.example.com/incidents/12.html"
HEAD = "🔴 Investigating: Public API and Datenbank-Cluster 日本\n"
TAIL = f"\nUpdate 2 · 07:41 UTC · next update by 08:11 UTC\n{LINK}"
TRIM = ",;:.-–—…"


def render(message: str) -> str:
    return f"{HEAD}{message}{TAIL}"


# --- counting ------------------------------------------------------------------------------


def test_reference_examples_x() -> None:
    count = x_counter()
    assert count("a" * 280) == 280
    assert count("a" * 281) == 281
    assert count("日" * 140) == 280
    assert count("👨‍👩‍👧‍👦") == 2
    assert count("status.example.com is down") == 31
    assert count("") == 0


def test_reference_examples_mastodon() -> None:
    count = mastodon_counter()
    assert count("status.example.com is down") == 26  # a bare domain counts in full
    assert count("http://127.0.0.1:3000/health") == 28
    assert count("@bob@example.com") == 4
    assert count("b: 👨‍👩‍👧‍👦") == 4
    assert count(f"see {LINK}") == 4 + 23


def test_mastodon_url_weight_of_the_instance() -> None:
    text = f"see {LINK} and https://example.org/x, @bob@example.com"
    base = mastodon_counter()(text)
    assert mastodon_counter(30)(text) == base + 2 * 7
    assert mastodon_counter(5)(text) == base - 2 * 18


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_own_mastodon_count_agrees_with_mastodon_py(text: str) -> None:
    assert _graphemes(_countable(text, 23)) == Mastodon.get_status_length(text)


def test_x_counts_the_nfc_form() -> None:
    count = x_counter()
    assert count("e\u0301") == count("\u00e9") == 1
    assert count("a\udcffb") == 4  # a lone surrogate does not crash the count


# Pieces that make twitter-text find (or nearly find) URLs in dotted runs.
_DOTTY = st.lists(
    st.sampled_from(
        [
            "a",
            "ex-1",
            "co",
            "com",
            "io",
            ".",
            ".",
            ".",
            "/",
            " ",
            "http://",
            "https://",
            "@",
            "日",
            "😷",
            "(",
            ")",
            "?q=",
            "~",
            "_",
            "t.co/x",
        ]
    ),
    max_size=120,
).map("".join)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_DOTTY, st.integers(min_value=17, max_value=30))
def test_x_count_of_a_long_dotted_run_is_never_below_twitter_texts(text: str, dots: int) -> None:
    """Past the dot budget the count is a bound, not a parse: it may be higher than X's count
    (the post is shortened more than needed), never lower (X would refuse the post)."""
    hostile = f"{text} {'x.' * dots}com {text}"
    exact = parse_tweet(unicodedata.normalize("NFC", hostile), _X_OPTIONS).weightedLength
    assert x_counter()(hostile) >= exact


def test_x_count_of_hostile_dotted_text_is_the_linear_bound() -> None:
    """twitter-text alone takes minutes on this (time grows with the square of the dots in a
    run: "a." * 800 took 5.7 s); bounded, it takes milliseconds. Every character weighs 1, and
    every dot may begin a URL of 23."""
    assert x_counter()("a." * 5000) == 10_000 + 23 * 5000


def test_x_fits_a_post_around_a_hostile_dotted_run() -> None:
    limit = Limit(280, x_counter())
    message = "The API is back. " + "a." * 3000 + " More soon."
    post = fit(render, message, limit)
    assert post == render("The API is back…")  # the dotted run does not fit, whatever it is


def test_x_counter_never_mutates_the_library_default() -> None:
    from twitter_text.config import config as _twitter_config

    before = copy.deepcopy(_twitter_config)
    count = x_counter()
    count("日本 https://example.com 😷")
    assert _twitter_config == before


# --- fit -----------------------------------------------------------------------------------

MASTODON = mastodon_counter()
X = x_counter()


def test_short_message_is_untouched() -> None:
    assert fit(render, "Public API is down.", Limit(280, X)) == render("Public API is down.")


def test_shortened_at_a_word_boundary_with_an_ellipsis() -> None:
    message = "word " * 200
    text = fit(render, message, Limit(280, X))
    assert X(text) <= 280
    assert text.startswith(HEAD + "word word")
    assert text.endswith(f"word{ELLIPSIS}{TAIL}")
    assert X(render(text[len(HEAD) : -len(TAIL)].replace(ELLIPSIS, " word…"))) > 280


def test_trailing_punctuation_goes_before_the_ellipsis() -> None:
    message = "back, " * 80
    middle = fit(render, message, Limit(280, X))[len(HEAD) : -len(TAIL)]
    assert middle.endswith(f"back, back{ELLIPSIS}")


def test_text_without_spaces_is_cut_at_a_grapheme_boundary() -> None:
    message = "現在APIに障害が発生しています" * 20
    middle = fit(render, message, Limit(280, X))[len(HEAD) : -len(TAIL)]
    assert middle.endswith(ELLIPSIS)
    assert len(middle) > 10
    assert message.startswith(middle[:-1])


def test_template_too_long_even_without_message() -> None:
    with pytest.raises(ValueError, match=r"^template too long for 50 even without the message$"):
        fit(render, "hi", Limit(50, X))


WORD = st.one_of(
    st.text(
        st.characters(exclude_categories=("Cs", "Zs", "Zl", "Zp", "Cc")), min_size=1, max_size=10
    ),
    st.sampled_from(
        [
            "👨‍👩‍👧‍👦",
            "🔴",
            "日本語のテキスト",
            "e\u0301\u0302",
            "https://example.com/a/b?c=d",
            "status.example.com",
            "@bob@example.com",
            "<script>alert(1)</script>",
            "…",
            "done.",
            "{{ site }}",
        ]
    ),
)
SEP = st.sampled_from([" ", "  ", "\n", "\t", "\u3000", " \u0301", ", "])
MESSAGES = st.one_of(
    st.lists(st.tuples(WORD, SEP), max_size=80).map(lambda ws: "".join(a + b for a, b in ws)),
    st.text(max_size=400),
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    message=MESSAGES,
    counter=st.sampled_from(["mastodon", "x"]),
    room=st.integers(min_value=0, max_value=300),
)
def test_fitted_text_keeps_within_limit_and_keeps_the_template(
    message: str, counter: str, room: int
) -> None:
    count = MASTODON if counter == "mastodon" else X
    limit = Limit(count(render("")) + room, count)
    text = fit(render, message, limit)
    assert count(text) <= limit.max
    assert text.startswith(HEAD)  # phase and component names
    assert text.endswith(TAIL)  # the link
    assert LINK in text
    middle = text[len(HEAD) : len(text) - len(TAIL)]
    if count(render(message)) <= limit.max:
        assert middle == message  # not shortened: no "…" added
        return
    if middle == "":  # not even "…" fits
        assert count(render(ELLIPSIS)) > limit.max
        return
    assert middle.endswith(ELLIPSIS)  # shortened: "…" present
    kept = middle[: -len(ELLIPSIS)]
    assert message.startswith(kept)
    assert kept == kept.rstrip().rstrip(TRIM)
    rest = message[len(kept) :].lstrip(TRIM)
    ends = [m.end() for m in re.finditer(r"\S+", message)]
    if not rest or rest[0].isspace():  # cut at a word boundary: the next word would not fit
        longer = [e for e in ends[:-1] if len(_trim(message[:e])) > len(kept)]
        if longer:
            assert count(render(_trim(message[: longer[0]]) + ELLIPSIS)) > limit.max
    else:  # no whole word fits: the first word was cut
        assert not re.search(r"\S\s", message[: len(kept)].lstrip())
        assert count(render(_trim(message[: ends[0]]) + ELLIPSIS)) > limit.max


def _trim(text: str) -> str:
    while text and (text[-1].isspace() or text[-1] in TRIM):
        text = text[:-1]
    return text
