"""Settings in the URL: parsing never trusts the text, encoding keeps only what differs, a link reopens the view."""

from pathlib import Path

from streamlit.testing.v1 import AppTest

from gradviz.urlstate import Param, encode_params, parse_params

APP = str(Path(__file__).resolve().parents[1] / "app.py")
SPECS = {
    "depth": Param("int", 4, 1, 10_000),
    "eta": Param("float", 0.1, 1e-4, 100.0),
    "relu": Param("bool", False),
    "clip_by": Param("choice", "global norm", choices=("global norm", "value")),
}


def test_valid_values_are_taken_as_they_are():
    values, notices = parse_params({"depth": "37", "eta": "0.5", "relu": "1", "clip_by": "value"}, SPECS)
    assert values == {"depth": 37, "eta": 0.5, "relu": True, "clip_by": "value"}
    assert notices == []


def test_out_of_range_falls_to_the_nearest_bound_and_says_so():
    values, notices = parse_params({"depth": "-5", "eta": "1e9"}, SPECS)
    assert values["depth"] == 1 and values["eta"] == 100.0
    assert len(notices) == 2 and all("out of range" in n for n in notices)


def test_malformed_values_fall_back_to_the_default_without_echoing_them():
    hostile = {"depth": "abc", "eta": "nan", "relu": "maybe", "clip_by": "<script>alert(1)</script>"}
    values, notices = parse_params(hostile, SPECS)
    assert values == {name: spec.default for name, spec in SPECS.items()}
    assert len(notices) == 4
    assert not any("<script>" in n or "abc" in n for n in notices)


def test_unknown_parameters_are_ignored_with_a_notice():
    values, notices = parse_params({"bogus": "1", "<b>": "2"}, SPECS)
    assert values == {name: spec.default for name, spec in SPECS.items()}
    assert notices == ["Ignored the unknown URL parameter “bogus”.", "Ignored an unknown URL parameter."]


def test_encoding_keeps_only_what_differs_from_the_defaults_and_parses_back():
    values = {"depth": 7, "eta": 0.1, "relu": True, "clip_by": "value"}
    encoded = encode_params(values, SPECS)
    assert encoded == {"depth": "7", "relu": "1", "clip_by": "value"}
    assert parse_params(encoded, SPECS) == (values, [])


def test_a_link_reopens_the_same_view():
    first = AppTest.from_file(APP, default_timeout=120)
    first.query_params.update({"epochs": "2", "steps": "3"})
    first.run()
    first.sidebar.number_input(key="depth").set_value(9).run()
    first.sidebar.toggle(key="relu").set_value(True).run()
    link = {name: str(value) for name, value in first.query_params.items()}
    assert link["depth"] == "9" and link["relu"] == "1"

    second = AppTest.from_file(APP, default_timeout=120)
    second.query_params.update(link)
    second.run()
    assert not second.exception
    assert not [w.value for w in second.warning if "URL" in w.value]
    assert second.sidebar.number_input(key="depth").value == 9
    assert second.sidebar.toggle(key="relu").value is True
    assert [m.value for m in second.metric] == [m.value for m in first.metric]
    assert [l.value for l in second.latex] == [l.value for l in first.latex]
