"""Section 6 as a visitor uses it, through AppTest: uploads of hostile names are shown as plain text (issue 19 §3),
any number of layers draws (§4), the checklist is a table with its evidence on demand (issue 18 §4), and the
page speaks in the file's own step numbers."""

from __future__ import annotations

import re

import numpy as np
import pytest

from gradviz.page.i18n import plain, t
from page_support import datasets_of, exceptions, open_page

HOSTILE = ["**x**", "$x$", "[x](javascript:alert(1))", "<img src=x onerror=alert(1)>", ":red[x]", "a`b`c"]
MARKUP = re.compile(r"(?<!\\)[*$\[\]<>`]")  # a markup character that no backslash escapes


def upload(data: bytes, name: str = "run.csv", lang: str = "en"):
    at = open_page(section="run", lang=lang)
    at.file_uploader(key="upload").set_value((name, data, "application/octet-stream")).run()
    assert not exceptions(at)
    return at


def long_csv(n_layers: int, steps: int = 3) -> bytes:
    rows = [f"{10 * s},blocks.{k},{(k + 1) / (s + 1)},{2.0 / (s + 1)}" for s in range(steps) for k in range(n_layers)]
    return ("step,layer,grad_norm,loss\n" + "\n".join(rows) + "\n").encode()


def test_the_uploader_takes_any_file_and_says_what_it_reads():
    at = open_page(section="run", lang="en")
    assert at.file_uploader(key="upload").allowed_type == []  # events.out.tfevents.* has no extension to list


@pytest.mark.parametrize("name", HOSTILE)
def test_a_hostile_column_name_in_an_error_is_shown_as_written(name):
    at = upload(f"step,grad_norm/{name},grad_norm/b\n0,1,1\n10,oops,1\n".encode())
    [error] = at.error
    assert error.value == t("run.not_a_number", "en", line=3, column=plain(f"grad_norm/{name}"))
    assert not MARKUP.search(error.value)  # every markup character of the name is escaped


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_layer_names_reach_the_evidence_as_plain_text(name):
    at = upload(f"step,layer,grad_norm\n0,{name.replace(',', ';')},1\n0,b,2\n10,{name.replace(',', ';')},1\n"
                f"10,b,2\n".encode())
    evidence = [m.value for m in at.markdown if m.value.startswith("- ")]
    assert evidence and any(plain(name.replace(",", ";")) in line for line in evidence)
    for line in evidence:
        assert name.replace(",", ";") not in line


def test_a_column_name_in_the_read_line_is_plain_text():
    at = upload(b"step,grad_norm/a,grad_norm/b,**run** - train/loss\n0,1,2,3\n10,1,2,2\n")
    caption = next(c.value for c in at.caption if t("run.source.upload", "en") in c.value)
    assert plain("**run** - train/loss") in caption and "**run**" not in caption


@pytest.mark.parametrize("n_layers", [257, 5000])
def test_any_number_of_layers_draws_thinned_and_the_heatmap_keeps_them_all(n_layers):
    at = upload(long_csv(n_layers))
    data = datasets_of(at)
    heat = data["run-heatmap-values"]
    rows = heat["row"].unique()
    assert rows[0].startswith("blocks.0") and rows[-1].endswith(f"blocks.{n_layers - 1}")
    assert len(rows) <= 120
    assert len(data["run-gradients-values"]["series"].unique()) <= 12
    notes = " ".join(c.value for c in at.caption)
    assert t("page.thinned", "en", shown=12, total=n_layers) in notes
    assert t("run.heatmap.rows", "en", size=int(np.ceil(n_layers / 120)), total=n_layers) in notes


def test_the_checklist_is_a_table_with_its_evidence_on_demand_in_the_files_steps():
    lines = ["step,layer,grad_norm,loss"] + [f"{440 + 20 * s},{name},1,{v}" for s in range(12)
                                              for name, v in (("a", "nan" if s == 3 else 1), ("b", 1))]
    at = upload(("\n".join(lines) + "\n").encode())
    [table] = [tb for tb in at.table if t("checklist.column.symptom", "en") in tb.value.columns]
    states = dict(zip(table.value[t("checklist.column.symptom", "en")], table.value[t("checklist.column.state", "en")]))
    assert t("checklist.state.present", "en") in states[t("checklist.symptom.loss_nan", "en")]
    assert t("checklist.symptom.clipped", "en") not in states  # the run never clipped: not listed
    [expander] = [e for e in at.expander if e.label == t("checklist.evidence_label", "en")]
    text = " ".join(m.value for m in expander.markdown)
    assert t("checklist.when.step", "en", at=500) in text  # step 500 of the file, not "update 3"


def test_a_tensorboard_event_file_is_read_on_the_page(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.compat.proto import event_pb2, summary_pb2
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    writer = EventFileWriter(str(tmp_path))
    for step in range(4):
        values = [summary_pb2.Summary.Value(tag=f"grad_norm/layer{k}", simple_value=10.0 ** -k) for k in range(3)]
        writer.add_event(event_pb2.Event(step=step, summary=summary_pb2.Summary(value=values)))
    writer.close()
    [path] = tmp_path.glob("events.out.tfevents.*")
    at = upload(path.read_bytes(), name=path.name, lang="zh")
    assert any(t("run.format.events", "zh") in c.value for c in at.caption)
