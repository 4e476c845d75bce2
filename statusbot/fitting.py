"""Counting a post the way each channel counts it, and fitting free text into its limit.

Pure: no I/O. DESIGN invariant 5: text from operators and the network is fitted to each
channel's limit by shortening *only the free text* (the ``message``) at a word boundary, ending
it with "…", and never cutting what the template adds around it (the link, the component names,
the phase). The caller hands :func:`fit` a function that renders the whole post for a given free
text, so the counted length is always the length of exactly what will be sent.

Counting rules (REFERENCE §1 "Character limit", §2 "Weighted length"):

- Mastodon: grapheme clusters; every URL *with a scheme* counts ``characters_reserved_per_url``
  (23 upstream); ``@user@domain`` counts as ``@user``.
- X: twitter-text v3 weighted length (limit 280): most Latin text weighs 1, CJK and emoji 2, an
  emoji sequence counts once, every URL (bare domains too) counts 23; NFC first.
"""

from __future__ import annotations

import copy
import re
import unicodedata
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

# Mastodon.py, twitter-text-parser and grapheme are loaded on first use (about 20 MB of the
# daemon's memory, and pkg_resources' start-up scan): a daemon without those channels never
# needs them.

if TYPE_CHECKING:  # at run time the publishers import us: no cycle
    from statusbot.publishers.base import Limit

__all__ = ["ELLIPSIS", "fit", "mastodon_counter", "x_counter"]

ELLIPSIS = "…"
MASTODON_URL_WEIGHT = 23

# Mastodon.py's own mention rule (mastodon/utility.py, get_status_length): the domain is free.
_MENTION = re.compile(r"(^|[^/\w])@(([a-z0-9_]+)@[a-z0-9\.\-]+[a-z0-9]+)", re.IGNORECASE)
# Trimmed from the end of a shortened text before "…" is added.
_TRAILING_PUNCT = ",;:.-–—…"
_SURROGATE = re.compile(r"[\ud800-\udfff]")  # not encodable: twitter-text would raise


def mastodon_counter(url_weight: int = MASTODON_URL_WEIGHT) -> Callable[[str], int]:
    """Mastodon's length of a status text, for an instance reserving ``url_weight`` per URL."""
    if url_weight == MASTODON_URL_WEIGHT:
        return _mastodon_default

    def count(text: str) -> int:
        return _graphemes(_countable(text, url_weight))

    return count


def _mastodon_default(text: str) -> int:
    from mastodon import Mastodon  # noqa: PLC0415 - heavy, and only for this channel

    return int(Mastodon.get_status_length(text))


def _countable(text: str, url_weight: int) -> str:
    """``text`` rewritten so that its grapheme count is Mastodon's count (as Mastodon.py does)."""

    def url(match: re.Match[str]) -> str:
        return match.group(2) + "x" * url_weight

    from mastodon._url_regex import url_regex  # noqa: PLC0415 - heavy, and only for Mastodon

    return _MENTION.sub(r"\1@\3", url_regex.sub(url, text))


def _graphemes(text: str) -> int:
    import grapheme  # type: ignore[import-untyped]  # noqa: PLC0415 - see the imports

    return int(grapheme.length(text))


def x_counter() -> Callable[[str], int]:
    """X's weighted length (twitter-text v3 rules), on the NFC form of the text.

    Works on a private copy of twitter-text-parser's default config: that dict is also
    ``parse_tweet``'s default argument, and mutating it would change every caller's counts.
    """
    with warnings.catch_warnings():  # twitter-text-parser imports the deprecated pkg_resources
        warnings.filterwarnings(
            "ignore", message="pkg_resources is deprecated", category=UserWarning
        )
        from twitter_text import parse_tweet  # type: ignore[import-untyped]  # noqa: PLC0415
        from twitter_text.config import (  # type: ignore[import-untyped]  # noqa: PLC0415
            config as _twitter_config,
        )
    options: dict[str, Any] = copy.deepcopy(_twitter_config["defaults"])

    def count(text: str) -> int:
        text = unicodedata.normalize("NFC", _SURROGATE.sub("\ufffd", text))
        if _dots_squared(text) > _DOT_BUDGET:
            return _x_at_most(text, options)
        return int(parse_tweet(text, options).weightedLength)

    return count


# twitter-text's URL pattern backtracks over every label of a dotted run from every place a
# domain could begin, so its time grows with the square of the dots in a run (measured: 16
# dots 2.5-6 ms, 64 dots 40-80 ms, "a." * 800 5.7 s; the courier fits posts on the event loop,
# several counts a post). Past this budget, the sum over runs of their dots squared, the count
# is bounded instead of parsed (at most one run of 16 dots: a few ms). A link such as
# cdn.example.co.uk/app.v1.2.3.min.js is 3² + 5² = 34.
_DOT_BUDGET = 256
_RUN_ENDS = re.compile(r"[\s/]+")  # a domain never spans these


def _dots_squared(text: str) -> int:
    return sum(run.count(".") ** 2 for run in _RUN_ENDS.split(text) if "." in run)


def _x_at_most(text: str, options: dict[str, Any]) -> int:
    """An upper bound of X's weighted length, in linear time: every character at its own
    weight (an emoji sequence weighs at least as much as one emoji), plus a URL's weight for
    every dot (each URL twitter-text finds has a dot in its domain, and URLs do not overlap).
    Over-counting only shortens a post more than needed; it never sends one X refuses."""
    from twitter_text.get_character_weight import (  # type: ignore[import-untyped]  # noqa: PLC0415
        get_character_weight,
    )

    scale: int = options["scale"]
    url: int = options["transformed_url_length"]
    total: int = sum(get_character_weight(char, options) for char in text)
    return (total + url * scale * text.count(".")) // scale


def fit(render: Callable[[str], str], message: str, limit: Limit) -> str:
    """The post ``render(message)``, with ``message`` shortened just enough to fit ``limit``.

    ``render(m)`` must render the whole post with free text ``m``. When the full post is too
    long, the free text is cut after as many whole words as fit and ends with "…"; only when not
    even its first word fits is that word cut at a grapheme-cluster boundary (text without spaces,
    such as Chinese or Japanese, would otherwise lose everything). Each candidate is rendered and
    measured in full, because positions are not comparable across counters (UTF-16 units, code
    points, graphemes, URLs weighted). Raises ValueError when even an empty message does not fit.
    """
    text = render(message)
    if limit.count(text) <= limit.max:
        return text
    empty = render("")
    if limit.count(empty) > limit.max:
        raise ValueError(f"template too long for {limit.max} even without the message")

    def attempt(cut: int) -> str | None:
        rendered = render(_shortened(message, cut))
        return rendered if limit.count(rendered) <= limit.max else None

    words = [m.end() for m in re.finditer(r"\S+", message)][:-1]  # the last one is everything
    best = _longest(attempt, words)
    if best is None:
        first = re.search(r"\S+", message)
        if first is not None:
            ends = _grapheme_ends(message[: first.end()])[:-1]
            best = _longest(attempt, [e for e in ends if e > first.start()])
    if best is None:
        best = attempt(0)  # just "…": there was a message, it did not fit
    return empty if best is None else best


def _shortened(message: str, cut: int) -> str:
    """``message[:cut]`` without trailing spaces and punctuation, ending with "…"."""
    head = message[:cut]
    end = len(head)
    while end and (head[end - 1].isspace() or head[end - 1] in _TRAILING_PUNCT):
        end -= 1
    return head[:end] + ELLIPSIS


def _longest(attempt: Callable[[int], str | None], cuts: list[int]) -> str | None:
    """The rendering for the longest of ``cuts`` (ascending) that fits, by binary search."""
    lo, hi, found = -1, len(cuts), None
    while hi - lo > 1:
        mid = (lo + hi) // 2
        rendered = attempt(cuts[mid])
        if rendered is None:
            hi = mid
        else:
            lo, found = mid, rendered
    return found


def _grapheme_ends(text: str) -> list[int]:
    """Offsets in ``text`` where a grapheme cluster ends, ascending."""
    import grapheme  # noqa: PLC0415 - see the imports

    ends, pos = [], 0
    for size in grapheme.grapheme_lengths(text):
        pos += size
        ends.append(pos)
    return ends
