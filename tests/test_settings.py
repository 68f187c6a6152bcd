"""The settings table and the URL (gradviz/page/settings.py, app.py): a query string is read against the table
and never trusted, notices are counts that never echo a key or a value, the address afterwards holds only
what the page uses, and a link reopens the same view."""

from __future__ import annotations

import math
import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gradviz.page.i18n import t
from gradviz.page.settings import DEFAULTS, SETTINGS, TABLE, encode_url, parse_url, shown
from page_support import exceptions, open_page, page_texts

KNOWN_KEYS = set(SETTINGS) | {"lang"}
MARK = "zq"  # hostile keys and values carry it, so an echo anywhere on the page is found


def url_notices(at) -> list[str]:
    """The warning boxes about the address (in either language)."""
    heads = [t(key, lang).split("{")[0][:20] for key in ("page.url.notice", "page.url.dropped")
             for lang in ("en", "zh")]
    return [w.value for w in at.warning if any(w.value.startswith(head) for head in heads)]


def url_pairs(at) -> list[tuple[str, str]]:
    """The address after the run, as (key, value) pairs (a repeated key gives a pair per value)."""
    pairs = []
    for key, value in at.query_params.items():
        pairs += [(key, v) for v in value] if isinstance(value, list) else [(key, value)]
    return pairs


def assert_clean_url(at) -> None:
    """The address holds only known keys, once each, and reads back without a problem."""
    pairs = url_pairs(at)
    assert {key for key, _ in pairs} <= KNOWN_KEYS
    assert len({key for key, _ in pairs}) == len(pairs)
    assert parse_url(pairs).problems == 0


# --- parse and encode -----------------------------------------------------------------------------------------


def test_a_first_visit_opens_the_lesson_and_every_view_names_itself_in_its_link():
    reading = parse_url([])
    assert reading.values == {**DEFAULTS, "lesson": True} and reading.problems == 0 and reading.lang is None
    assert encode_url(reading.values) == {"lesson": "1", "step": "1"}
    assert encode_url(DEFAULTS) == {"section": "chain"}
    assert parse_url(list(encode_url(DEFAULTS).items())).values == DEFAULTS


def test_a_link_from_before_the_lesson_opens_its_section():
    for query in ([("depth", "50"), ("relu", "1"), ("clip", "1")], [("section", "layers")], [("lang", "zh")]):
        assert parse_url(query).values["lesson"] is (query == [("lang", "zh")])


def _value(setting):
    if setting.kind == "bool":
        return st.booleans()
    if setting.kind == "choice":
        return st.sampled_from(setting.choices)
    if setting.kind == "int":
        return st.integers(int(setting.low), int(setting.high))
    return st.floats(setting.low, setting.high, allow_nan=False)


VALUES = st.fixed_dictionaries({s.name: _value(s) for s in TABLE})


@given(VALUES, st.sampled_from([None, "en", "zh"]))
def test_encode_then_parse_gives_the_same_settings(values, lang):
    encoded = encode_url(values, lang)
    reading = parse_url(list(encoded.items()))
    assert reading.problems == 0 and reading.lang == lang
    view = "lesson" if values["lesson"] else "sections"
    for name, value in values.items():
        if SETTINGS[name].only not in (None, view):
            continue  # the lesson's step means nothing to the sections, and the section nothing to the lesson
        expected = float(f"{value:.12g}") if isinstance(value, float) else value
        assert reading.values[name] == expected, name
    assert encode_url(reading.values, lang) == encoded  # a shared link is stable


def test_values_are_read_strictly_and_counted():
    reading = parse_url([("depth", "37"), ("relu", "yes"), ("eta", "1e9"), ("steps", "-4"), ("clip_by", "value"),
                         ("seed", "abc"), ("a0", "nan"), ("init", "bogus"), ("gating", "maybe")])
    values = reading.values
    assert (values["depth"], values["relu"], values["clip_by"]) == (37, True, "value")
    assert values["eta"] == SETTINGS["eta"].high and values["steps"] == SETTINGS["steps"].low
    assert (values["seed"], values["a0"], values["init"], values["gating"]) == (0, 1.0, "nielsen", False)
    assert (reading.clamped, reading.invalid, reading.unknown, reading.repeated) == (2, 4, 0, 0)


def test_a_repeated_key_counts_once_per_extra_value_and_keeps_the_first():
    reading = parse_url([("depth", "10000"), ("depth", "5"), ("depth", "6")])
    assert reading.values["depth"] == 10_000 and reading.repeated == 2
    assert encode_url(reading.values) == {"section": "chain", "depth": "10000"}


def test_overlong_and_infinite_values_fall_back():
    reading = parse_url([("eta", "1" * 100), ("depth", "inf"), ("lmbda", "-inf")])
    assert reading.values["eta"] == DEFAULTS["eta"] and reading.values["depth"] == DEFAULTS["depth"]
    assert reading.values["lmbda"] == SETTINGS["lmbda"].low
    assert reading.invalid == 2 and reading.clamped == 1


def test_lang_is_read_apart_from_the_table():
    assert parse_url([("lang", "zh")]).lang == "zh"
    bad = parse_url([("lang", "fr")])
    assert bad.lang is None and bad.invalid == 1
    assert encode_url(DEFAULTS, "zh") == {"section": "chain", "lang": "zh"}


def test_a_remedys_own_settings_show_only_when_it_is_on():
    values = {**DEFAULTS, "section": "deep"}
    assert not shown(SETTINGS["clip_threshold"], values) and not shown(SETTINGS["gain"], values)
    values.update(clip=True, init="orthogonal")
    assert shown(SETTINGS["gain"], values)
    assert not shown(SETTINGS["clip_threshold"], values)  # clipping does not act on the deep networks' section
    assert shown(SETTINGS["clip_threshold"], {**values, "section": "chain"})


TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30)
PAIRS = st.lists(st.tuples(st.one_of(st.sampled_from(sorted(KNOWN_KEYS)), TEXT),
                           st.one_of(TEXT, st.sampled_from(["nan", "inf", "-inf", "1e999", "", " ", "0", "1", "-1",
                                                            "zh", "value", "relu", "10000", "1e-300"]))),
                 max_size=40)


@given(PAIRS)
def test_any_query_string_parses_into_valid_settings(pairs):
    reading = parse_url(pairs)
    assert reading.problems <= len(pairs)
    for s in TABLE:
        value = reading.values[s.name]
        if s.kind == "choice":
            assert value in s.choices
        elif s.kind == "bool":
            assert isinstance(value, bool)
        else:
            assert math.isfinite(value) and s.low <= value <= s.high
    encoded = encode_url(reading.values, reading.lang)
    assert set(encoded) <= KNOWN_KEYS and parse_url(list(encoded.items())).problems == 0


# --- the page: hostile addresses ----------------------------------------------------------------------------------


def assert_not_echoed(at, *fragments: str) -> None:
    texts = " ".join(text for _, text in page_texts(at))
    for fragment in fragments:
        assert fragment not in texts, fragment


LESSON = [("lesson", "1"), ("step", "1")]  # a link that names no setting opens the lesson, and says so


def test_markup_in_a_key_is_counted_never_rendered():
    at = open_page(**{"__bold__": "1", "_it_": "1"})
    assert not exceptions(at)
    assert url_notices(at) == [t("page.url.notice", "en", count=2)]
    assert_not_echoed(at, "bold", "_it_", "__")
    assert url_pairs(at) == LESSON


def test_a_script_tag_is_never_echoed():
    at = open_page(**{"<script>": "1", "depth": "<script>alert(1)</script>", "eta": "<b>x</b>"})
    assert not exceptions(at)
    assert url_notices(at) == [t("page.url.notice", "en", count=3)]
    assert_not_echoed(at, "<script", "alert", "<b>")
    assert url_pairs(at) == [("section", "chain")]


def test_997_unknown_keys_give_one_notice_with_their_count():
    at = open_page(**{f"{MARK}{k}": "1" for k in range(997)})
    assert not exceptions(at)
    assert url_notices(at) == [t("page.url.notice", "en", count=997)]
    assert_not_echoed(at, MARK)
    assert url_pairs(at) == LESSON


def test_a_repeated_key_is_counted_and_the_url_keeps_one():
    at = open_page(depth=["10000", "5"], steps="1")
    assert not exceptions(at)
    assert url_notices(at) == [t("page.url.notice", "en", count=1)]
    assert url_pairs(at) == [("section", "chain"), ("depth", "10000"), ("steps", "1")]
    assert at.number_input(key="depth").value == 10_000


def test_a_query_string_streamlit_dropped_is_said_and_cleared():
    """Streamlit passes on at most 1,000 parameters; past that the page sees none. Handed the raw string (as
    AppTest hands it), the page says so; it clears the address either way (which would otherwise keep
    depth=abc and the rest; the live server, which hides the raw string, in tests/test_browser.py)."""
    at = open_page(depth="abc", **{f"{MARK}{k}": "1" for k in range(1001)})
    assert not exceptions(at)
    assert url_notices(at) == [t("page.url.dropped", "en")]
    assert_not_echoed(at, MARK, "abc")
    assert url_pairs(at) == LESSON


def test_a_link_reopens_the_same_view():
    at = open_page(steps="1", length="4")  # short training runs: the view, not the numbers, is under test
    at.number_input(key="depth").set_value(7).run()
    at.toggle(key="relu").set_value(True).run()
    at.toggle(key="clip").set_value(True).run()
    at.button_group(key="section").set_value("time").run()  # the chain's depth is kept across sections
    assert not exceptions(at) and not url_notices(at)
    link = dict(url_pairs(at))
    assert link == {"section": "time", "relu": "1", "clip": "1", "depth": "7", "steps": "1", "length": "4"}
    again = open_page(**link)
    assert not exceptions(again) and not url_notices(again)
    assert again.button_group(key="section").value == "time"
    assert again.toggle(key="relu").value and again.toggle(key="clip").value
    assert not again.toggle(key="gating").value and again.session_state["depth"] == 7
    assert again.header[0].value == t("time.heading", "en")
    assert dict(url_pairs(again)) == link


def test_the_language_follows_the_locale_unless_the_url_names_one():
    chinese_browser = open_page(locale="zh-CN", section="theory")
    assert chinese_browser.title[0].value == t("page.title", "zh")
    assert "lang" not in dict(url_pairs(chinese_browser))  # the locale's choice is not written into links
    assert open_page(locale="zh-CN", section="theory", lang="en").title[0].value == t("page.title", "en")
    english_browser = open_page(locale="en-US", section="theory", lang="zh")
    assert english_browser.title[0].value == t("page.title", "zh")
    assert dict(url_pairs(english_browser))["lang"] == "zh"


# --- random query strings against the page -------------------------------------------------------------------

HOSTILE = st.one_of(st.text(string.ascii_letters + string.digits + "_*<>[]()!#&=:$\\`~", min_size=1, max_size=12)
                    .map(lambda s: MARK + s), st.sampled_from(["nan", "-inf", "1e999", "", "  ", "-0", "0x10"]))
KEYS = st.one_of(st.sampled_from(sorted(KNOWN_KEYS - {"section"})), HOSTILE.filter(lambda s: s.startswith(MARK)))
QUICK_SECTIONS = st.sampled_from(["chain", "theory", "run", MARK + "x"])  # the digit sections train: kept out


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(KEYS, HOSTILE | st.sampled_from(["1", "0", "7", "zh", "value", "L1", "he"])), max_size=8),
       QUICK_SECTIONS)
def test_a_random_query_string_never_breaks_the_page(pairs, section):
    query: dict[str, list[str]] = {"section": [section], "steps": ["2"]}
    for key, value in pairs:
        query.setdefault(key, []).append(value)
    at = open_page(**query)
    assert not exceptions(at)
    assert len(url_notices(at)) <= 1
    assert_not_echoed(at, MARK)
    assert_clean_url(at)
