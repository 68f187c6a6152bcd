"""Reading a user's per-layer gradient log (gradviz.experiments.your_run): the record, the CSV layouts, bad files,
limits. The other layouts (per parameter, tags, JSON, event files, gzip, the layers' order) are in
test_run_layouts.py; hostile shapes in test_hostile_upload.py."""

from __future__ import annotations

import io
import math
import pickle
from importlib.resources import files
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import gradviz
from gradviz.experiments.your_run import MAX_BYTES, RunFileError, load_run, read_run, records, source
from gradviz.page.i18n import LANGUAGES, catalogue, placeholders, t
from gradviz.training.history import History, recorded_layers
from run_support import csv_bytes, error_of

RUNS = Path(gradviz.__file__).parent / "data" / "runs"
HEADER = "step,layer,grad_norm,loss,weight_norm,update_norm,clipped_norm"
OPTIONAL = ["loss", "weight_norm", "update_norm", "clipped_norm"]


# --- the record -------------------------------------------------------------------------------------


def test_long_file_fills_every_field_of_the_record():
    data = csv_bytes(HEADER,
                     "0,encoder.0,3,2.5,10,0.1,0.6",
                     "0,head,4,2.5,20,0.4,0.8",
                     "5,encoder.0,0.5,2.0,10,0.01,0.5",
                     "5,head,0.25,2.0,20,0.1,0.25")
    run = load_run(data)
    h = run.history
    assert (run.layout, run.n_layers, run.n_steps) == ("long", 2, 2)
    assert h.time_label == "step" and h.network is None and h.weight_change is None
    assert h.times.tolist() == [0, 5] and h.layers.tolist() == [1, 2] and h.layer_names == ("encoder.0", "head")
    np.testing.assert_allclose(h.grad_log10, np.log10([[3, 4], [0.5, 0.25]]))
    np.testing.assert_allclose(h.grad_min_log10, np.log10([3, 0.25]))
    np.testing.assert_allclose(h.grad_max_log10, np.log10([4, 0.5]))
    np.testing.assert_allclose(h.loss, [2.5, 2.0])
    np.testing.assert_allclose(h.update_loss, [2.5, 2.0])
    np.testing.assert_allclose(h.update_grad_log10, np.log10([5, math.hypot(0.5, 0.25)]))
    np.testing.assert_allclose(h.update_applied_log10, np.log10([1, math.hypot(0.5, 0.25)]))
    np.testing.assert_allclose(h.update_weight_step, [0.02, 0.005], rtol=1e-6)
    # weight and update norms are kept in float32 (a ratio needs no more; the recorders write 7 digits)
    np.testing.assert_allclose(h.update_ratio_log10, np.log10([[0.01, 0.02], [0.001, 0.005]]), rtol=1e-6)
    assert not h.stopped_early and h.has_loss
    assert isinstance(h, History)


def test_minimal_long_file_has_no_loss_clipping_or_updates():
    h = read_run(csv_bytes("step,layer,grad_norm", "0,a,3", "0,b,4", "1,a,1", "1,b,1"))
    assert not h.has_loss and np.isnan(h.loss).all()
    assert np.isnan(h.update_weight_step).all() and h.update_ratio_log10 is None
    np.testing.assert_allclose(h.update_applied_log10, h.update_grad_log10)
    np.testing.assert_allclose(h.update_grad_log10, np.log10([5, math.sqrt(2)]))


def test_layers_keep_their_order_of_first_appearance_and_columns_are_found_by_name():
    h = read_run(csv_bytes(" Grad_Norm ,junk,LAYER,Step", "1,x,zeta,0", "2,x,alpha,0", "3,x,zeta,1", "4,x,alpha,1"))
    assert h.layer_names == ("zeta", "alpha")
    np.testing.assert_allclose(h.grad_log10, np.log10([[1, 2], [3, 4]]))


def test_a_layer_missing_at_a_step_is_nan_there_and_the_global_norm_uses_the_others():
    h = read_run(csv_bytes("step,layer,grad_norm", "0,a,3", "0,b,4", "1,a,6"))
    assert np.isnan(h.grad_log10[1, 1]) and not h.stopped_early
    np.testing.assert_allclose(h.update_grad_log10, np.log10([5, 6]))


def test_nan_and_inf_are_data_and_stop_the_run():
    h = read_run(csv_bytes("step,layer,grad_norm", "0,a,1", "0,b,2", "1,a,inf", "1,b,nan"))
    assert h.stopped_early
    assert h.grad_log10[1, 0] == np.inf and np.isnan(h.grad_log10[1, 1])
    assert np.isnan(h.update_grad_log10[1])


def test_a_written_nan_loss_is_a_symptom_but_an_empty_loss_is_not_recorded():
    written = read_run(csv_bytes("step,layer,grad_norm,loss", "0,a,1,2", "0,b,1,2", "1,a,1,nan", "1,b,1,nan"))
    empty = read_run(csv_bytes("step,layer,grad_norm,loss", "0,a,1,2", "0,b,1,2", "1,a,1,", "1,b,1,"))
    infinite = read_run(csv_bytes("step,layer,grad_norm,loss", "0,a,1,2", "0,b,1,2", "1,a,1,inf", "1,b,1,inf"))
    never = read_run(csv_bytes("step,layer,grad_norm,loss", "0,a,1,", "0,b,1,"))
    assert written.loss_recorded.tolist() == [True, True] and empty.loss_recorded.tolist() == [True, False]
    assert written.symptoms.present("loss_nan") and infinite.symptoms.present("loss_nan")
    assert not empty.symptoms.present("loss_nan")
    assert np.isnan(empty.loss[1]) and empty.loss[0] == 2
    assert written.has_loss and empty.has_loss and not never.has_loss
    assert not (written.stopped_early or empty.stopped_early)  # the weights and gradients stayed numbers


def test_a_written_nan_is_found_under_a_column_name_written_differently():
    h = read_run(csv_bytes("Step, Layer , Grad_Norm, Loss ", "0,a,1,2", "0,b,1,2", "1,a,1,nan", "1,b,1,nan"))
    assert h.loss_recorded[1] and np.isnan(h.loss[1])


def test_an_empty_grad_norm_in_the_long_format_is_nan_as_pandas_writes_it():
    h = read_run(csv_bytes("step,layer,grad_norm", "0,a,1", "0,b,"))
    assert np.isnan(h.grad_log10[0, 1]) and h.stopped_early


def test_zero_gradient_is_minus_infinity_in_log10():
    h = read_run(csv_bytes("step,layer,grad_norm", "0,a,0", "0,b,0"))
    assert h.grad_log10.tolist() == [[-np.inf, -np.inf]] and h.update_grad_log10[0] == -np.inf


def test_huge_norms_do_not_overflow_the_global_norm():
    h = read_run(csv_bytes("step,layer,grad_norm", "0,a,1e200", "0,b,1e200"))
    np.testing.assert_allclose(h.update_grad_log10, [200 + math.log10(math.sqrt(2))])


def test_many_layers_are_thinned_but_aggregates_cover_every_layer():
    n = 300
    kept = recorded_layers(n)
    hidden = next(k for k in range(1, n + 1) if k not in kept)
    lines = ["step,layer,grad_norm"] + [f"0,layer{k},{1000 if k == hidden else 1}" for k in range(1, n + 1)]
    run = load_run(csv_bytes(*lines))
    h = run.history
    assert h.n_layers == n and h.layers.tolist() == kept.tolist() and h.grad_log10.shape == (1, len(kept))
    assert h.layer_names == tuple(f"layer{k}" for k in kept)
    assert len(run.heatmap.layer_names) == n and run.heatmap.last_layer[-1] == n - 1
    assert h.grad_max_log10[0] == 3 and h.grad_log10.max() == 0
    np.testing.assert_allclose(10 ** h.update_grad_log10[0], math.sqrt(n - 1 + 1000**2))


def test_path_bytes_and_file_like_sources_read_alike(tmp_path):
    data = csv_bytes("step,layer,grad_norm", "0,a,1", "0,b,2")
    path = tmp_path / "run.csv"
    path.write_bytes(data)
    stream = io.BytesIO(b"xx" + data)
    stream.read(2)  # an upload read from where it stands
    sources = [data, bytearray(data), memoryview(data), path, str(path), io.BytesIO(data), stream,
               io.StringIO(data.decode()), Trickle(data)]
    for given in sources:
        np.testing.assert_array_equal(read_run(given).grad_log10, np.log10([[1, 2]]))


class Trickle(io.RawIOBase):
    """An upload read as it arrives: not seekable, a few bytes at a time."""

    def __init__(self, data: bytes):
        self.data = data

    def readable(self):
        return True

    def read(self, n=-1):
        chunk, self.data = self.data[:3], self.data[3:]
        return chunk


def test_utf8_bom_and_crlf_are_fine():
    h = read_run(b"\xef\xbb\xbfstep,layer,grad_norm\r\n0,\xc3\xa9,1\r\n0,b,2\r\n")
    assert h.layer_names == ("é", "b")


# --- the wide layout ---------------------------------------------------------------------------------


def test_wide_export_combines_parameters_and_skips_rows_without_gradients():
    data = csv_bytes("Step,run-1 - grad_norm/encoder.0.weight,run-1 - grad_norm/encoder.0.weight__MIN,"
                     "run-1 - grad_norm/encoder.0.bias,run-1 - grad_norm/head.weight,train/grad_norm,train/loss",
                     "0,3,0,4,1,99,2.5",
                     "1,,,,,,2.4",
                     "2,1,0,,2,99,")
    run = load_run(data)
    h = run.history
    assert (run.layout, run.n_layers, run.n_steps) == ("wide", 2, 2)
    assert h.layer_names == ("encoder.0", "head") and h.times.tolist() == [0, 2]
    np.testing.assert_allclose(10 ** h.grad_log10, [[5, 1], [1, 2]])
    np.testing.assert_allclose(h.loss, [2.5, np.nan])
    assert not h.stopped_early and h.has_loss
    assert not read_run(csv_bytes("step,grad_norm/a,grad_norm/b", "0,1,1")).has_loss


@pytest.mark.parametrize("step, columns, layers", [
    ("_step", "gradients/layer1.weight,gradients/layer1.bias,gradients/layer2.weight", ("layer1", "layer2")),
    ("global_step", "grad_2.0_norm/fc1.weight,grad_2.0_norm/fc2.weight,grad_2.0_norm_total", ("fc1", "fc2")),
    ("step", "gradients/dense/kernel,gradients/dense/bias,gradients/dense_1/kernel", ("dense", "dense_1")),
    ("step", "grad/rnn.weight_hh_l0,grad/rnn.weight_ih_l0,grad/head.bias", ("rnn", "head")),
])
def test_wide_column_names_from_common_loggers(step, columns, layers):
    n = columns.count(",") + 1
    h = read_run(csv_bytes(f"{step},{columns}", "0," + ",".join(["1"] * n), "1," + ",".join(["1"] * n)))
    assert h.layer_names == layers


def test_wide_nan_is_data_but_empty_is_not_recorded():
    h = read_run(csv_bytes("step,grad_norm/a,grad_norm/b", "0,1,", "1,nan,2"))
    assert h.stopped_early and np.isnan(h.grad_log10[0, 1]) and np.isnan(h.grad_log10[1, 0])
    assert not read_run(csv_bytes("step,grad_norm/a,grad_norm/b", "0,1,", "1,,2")).stopped_early


# --- the example runs --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["vanishing", "exploding_clipped", "healthy"])
def test_example_runs_are_small_long_files(name):
    path = RUNS / f"{name}.csv"
    assert path.stat().st_size <= 200_000
    run = load_run(path)
    assert run.layout == "long" and run.n_steps == 200 and not run.history.stopped_early


def first_below_last(h: History) -> np.ndarray:
    """Whether the first layer's gradient norm is at least 10× smaller than the last layer's, per step."""
    return h.grad_log10[:, -1] - h.grad_log10[:, 0] >= 1


CLIP = 1.0  # the RNN's max_norm in scripts/make_example_runs.py


def test_vanishing_example_first_layer_is_ten_times_slower_throughout():
    h = read_run(RUNS / "vanishing.csv")
    assert first_below_last(h).all()
    assert h.update_grad_log10.max() < 1


def test_exploding_example_is_clipped_to_the_threshold():
    h = read_run(RUNS / "exploding_clipped.csv")
    assert (h.update_grad_log10 >= math.log10(10 * CLIP)).any()
    assert (10 ** h.update_applied_log10 <= CLIP * (1 + 1e-6)).all()
    assert not first_below_last(h).all()


def test_healthy_example_neither_vanishes_nor_explodes():
    h = read_run(RUNS / "healthy.csv")
    assert not first_below_last(h).any()
    assert h.update_grad_log10.max() < math.log10(10 * CLIP)  # its largest early spike is 9.7
    assert np.median(h.update_grad_log10) < -1
    np.testing.assert_array_equal(h.update_applied_log10, h.update_grad_log10)
    assert h.loss[-1] < h.loss[0] / 100


# --- bad files ---------------------------------------------------------------------------------------

BAD_FILES = {
    "empty": (b"", "empty", {}),
    "blank lines": (b"\n  \n\n", "empty", {}),
    "utf-16": ("step,layer,grad_norm\n0,a,1\n0,b,1\n".encode("utf-16"), "encoding", {}),
    "latin-1": ("step,layer,grad_norm\n0,é,1\n0,b,1\n".encode("latin-1"), "encoding", {}),
    "no header": (csv_bytes("0,encoder.0,1.5", "0,head,2"), "no_header", {}),
    "header only": (csv_bytes("step,layer,grad_norm"), "no_rows", {}),
    "no step": (csv_bytes("layer,grad_norm", "a,1"), "missing_column", {"column": "step"}),
    "global norm only": (csv_bytes("step,grad_norm", "0,1"), "global_only", {"column": "grad_norm"}),
    "global norm only, wide": (csv_bytes("step,train/grad_norm,loss", "0,1,2"), "global_only",
                               {"column": "train/grad_norm"}),
    "no grad_norm": (csv_bytes("step,layer,loss", "0,a,1"), "missing_column", {"column": "grad_norm"}),
    "no gradients": (csv_bytes("step,loss,accuracy", "0,1,0.5"), "no_gradient_columns", {}),
    "wide without step": (csv_bytes("time,grad_norm/a,grad_norm/b", "0,1,1"), "missing_column", {"column": "step"}),
    "text in grad_norm": (csv_bytes("step,layer,grad_norm", "0,a,1", "0,b,big"), "not_a_number",
                          {"line": 3, "column": "grad_norm"}),
    "text in loss": (csv_bytes(HEADER, "0,a,1,2,1,1,1", "0,b,1,2,1,1,1", "1,a,1,#DIV/0!,1,1,1"), "not_a_number",
                     {"line": 4, "column": "loss"}),
    "text in a wide column": (csv_bytes("step,grad_norm/a,grad_norm/b", "0,1,1", "1,1,{'_type': 'histogram'}"),
                              "not_a_number", {"line": 3, "column": "grad_norm/b"}),
    "line counts blank lines, CRLF and quoted newlines": (
        b'step,layer,grad_norm\r\n0,a,1\r\n\r\n0,"b\nc",2\r\n1,a,x\r\n', "not_a_number",
        {"line": 6, "column": "grad_norm"}),
    "empty step": (csv_bytes("step,layer,grad_norm", "0,a,1", ",b,1"), "step_not_whole", {"line": 3}),
    "fractional step": (csv_bytes("step,layer,grad_norm", "0,a,1", "0.5,b,1"), "step_not_whole", {"line": 3}),
    "infinite step": (csv_bytes("step,layer,grad_norm", "inf,a,1", "0,b,1"), "step_not_whole", {"line": 2}),
    "empty layer": (csv_bytes("step,layer,grad_norm", "0,a,1", "0,,1"), "empty_cell", {"line": 3, "column": "layer"}),
    "short row": (csv_bytes("step,layer,grad_norm", "0,a,1", "0"), "empty_cell", {"line": 3, "column": "layer"}),
    "negative grad_norm": (csv_bytes("step,layer,grad_norm", "0,a,1", "0,b,-1"), "negative_norm",
                           {"line": 3, "column": "grad_norm"}),
    "negative weight_norm": (csv_bytes(HEADER, "0,a,1,1,1,1,1", "0,b,1,1,-inf,1,1"), "negative_norm",
                             {"line": 3, "column": "weight_norm"}),
    "negative wide norm": (csv_bytes("step,grad_norm/a,grad_norm/b", "0,1,-2"), "negative_norm",
                           {"line": 2, "column": "grad_norm/b"}),
    "step goes back": (csv_bytes("step,layer,grad_norm", "0,a,1", "0,b,1", "5,a,1", "5,b,1", "3,a,1"),
                       "steps_out_of_order", {"line": 6, "step": 3, "previous": 5}),
    "step repeated": (csv_bytes("step,layer,grad_norm", "0,a,1", "0,b,1", "0,a,1"),
                      "steps_out_of_order", {"line": 4, "step": 0, "previous": 0}),
    "wide step goes back": (csv_bytes("step,grad_norm/a,grad_norm/b", "0,1,1", "2,1,1", "1,1,1"),
                            "steps_out_of_order", {"line": 4, "step": 1, "previous": 2}),
    "wide without any gradient": (csv_bytes("step,grad_norm/a,grad_norm/b,loss", "0,,,1", "1,,,2"), "no_rows", {}),
    "duplicate column": (csv_bytes("step,layer,grad_norm,Grad_Norm ", "0,a,1,1", "0,b,1,1"), "duplicate_column",
                         {"column": "grad_norm"}),
    "duplicate wide column": (csv_bytes("step,grad_norm/a,grad_norm/b,grad_norm/a", "0,1,1,1"), "duplicate_column",
                              {"column": "grad_norm/a"}),
    "one layer": (csv_bytes("step,layer,grad_norm", "0,a,1", "1,a,1"), "one_layer", {}),
    "one wide layer": (csv_bytes("step,grad_norm/a.weight,grad_norm/a.bias", "0,1,1"), "one_layer", {}),
    "formula =": (csv_bytes("step,layer,grad_norm", "0,a,1", "0,=cmd|' /C calc'!A0,1"), "formula",
                  {"line": 3, "column": 2}),
    "formula +": (csv_bytes("step,grad_norm,layer", "0,1,a", "0,1,+SUM(A1)"), "formula", {"line": 3, "column": 3}),
    "formula -": (csv_bytes("step,layer,grad_norm", "0,-2+3,1", "0,b,1"), "formula", {"line": 2, "column": 2}),
    "formula @": (csv_bytes("step,layer,grad_norm", "0,a,1", "0,@A1,1"), "formula", {"line": 3, "column": 2}),
    "formula tab": (csv_bytes("step,layer,grad_norm", "0,a,1", '0,"\tx",1'), "formula", {"line": 3, "column": 2}),
    "wide formula": (csv_bytes("step,grad_norm/a,grad_norm/=1+2", "0,1,1"), "formula", {"line": 1, "column": 3}),
    "formula in a number column": (csv_bytes("step,layer,grad_norm", "0,a,1", "0,b,=1+2"), "not_a_number",
                                   {"line": 3, "column": "grad_norm"}),
    "unclosed quote": (csv_bytes("step,layer,grad_norm", '0,"a,1', "0,b,1"), "unreadable", {}),
}


@pytest.mark.parametrize("case", BAD_FILES)
def test_bad_file_gives_one_clear_error(case):
    data, key, params = BAD_FILES[case]
    error = error_of(data)
    assert (error.key, error.params) == (f"run.{key}", params)
    assert isinstance(error, ValueError)


def test_records_past_their_memory_budget_are_refused(monkeypatch):
    monkeypatch.setattr(records, "MAX_RECORD_BYTES", 20 * 6)  # six records of a step, a layer and a norm
    rows = "".join(f"{i},a,1\n{i},b,1\n" for i in range(3)).encode()
    assert load_run(b"step,layer,grad_norm\n" + rows).n_steps == 3
    error = error_of(b"step,layer,grad_norm\n" + rows + b"9,a,1\n")
    assert (error.key, error.params) == ("run.too_many_values", {"limit": 6})


def test_wide_tables_are_limited_by_their_values_too(monkeypatch):
    monkeypatch.setattr(records, "MAX_RECORD_BYTES", 20 * 7)
    data = csv_bytes("step,grad_norm/a,grad_norm/b", "0,1,1", "1,1,1", "2,1,1", "3,1,1")
    assert (error_of(data).key, error_of(data).params) == ("run.too_many_values", {"limit": 7})


def test_layers_scattered_over_too_many_steps_are_refused(monkeypatch):
    monkeypatch.setattr(records, "MAX_CELLS", 8)  # 3 steps × 3 layers do not fit
    error = error_of(csv_bytes("step,layer,grad_norm", "0,a,1", "1,b,1", "2,c,1"))
    assert (error.key, error.params) == ("run.too_sparse", {"steps": 3, "layers": 3})


def test_a_file_read_in_blocks_gives_the_record_of_one_read_whole(monkeypatch):
    lines = ["step,layer,grad_norm,loss"] + [f"{s},{name},{s + k + 1},{1 / (s + 1)}" for s in range(50)
                                             for k, name in enumerate(("a", '"b,1"', "c"))]
    whole = read_run(csv_bytes(*lines))
    monkeypatch.setattr(source, "BLOCK_BYTES", 64)
    blocks = read_run(csv_bytes(*lines))
    np.testing.assert_array_equal(whole.grad_log10, blocks.grad_log10)
    np.testing.assert_array_equal(whole.loss, blocks.loss)
    assert whole.layer_names == blocks.layer_names == ("a", "b,1", "c")


def test_an_error_in_a_later_block_names_its_line(monkeypatch):
    monkeypatch.setattr(source, "BLOCK_BYTES", 32)
    lines = ["step,layer,grad_norm"] + [f"{s},{name},1" for s in range(20) for name in "ab"] + ["20,a,x"]
    assert error_of(csv_bytes(*lines)).params == {"line": 42, "column": "grad_norm"}


class SizedUpload(io.RawIOBase):
    """An upload that says it holds `size` bytes and fails if anyone reads it."""

    def __init__(self, size: int):
        self.size, self.position = size, 0

    def seekable(self):
        return True

    def tell(self):
        return self.position

    def seek(self, offset, whence=io.SEEK_SET):
        self.position = self.size + offset if whence == io.SEEK_END else offset
        return self.position

    def read(self, n=-1):
        raise AssertionError("read before its size was checked")


def test_files_over_200_mb_are_refused_before_reading(tmp_path):
    assert MAX_BYTES == 200 * 1024 * 1024
    assert error_of(SizedUpload(MAX_BYTES + 1)).params == {"limit_mb": 200}
    big = tmp_path / "big.csv"
    with open(big, "wb") as file:
        file.truncate(MAX_BYTES + 1)  # sparse: takes no disk space
    assert error_of(big).key == "run.too_large"
    assert error_of(str(big)).key == "run.too_large"


def test_bytes_over_the_limit_are_refused(monkeypatch):
    monkeypatch.setattr(source, "MAX_BYTES", 10)
    assert error_of(csv_bytes("step,layer,grad_norm", "0,a,1")).key == "run.too_large"
    assert error_of(Trickle(csv_bytes("step,layer,grad_norm", "0,a,1"))).key == "run.too_large"


# --- the messages ------------------------------------------------------------------------------------


def run_messages() -> dict[str, dict[str, str]]:
    return {key: texts for key, texts in catalogue().items() if key.startswith("run.")}


def test_every_run_message_has_both_languages_with_the_same_placeholders():
    messages = run_messages()
    assert {f"run.{key}" for _, key, _ in BAD_FILES.values()} <= set(messages)
    for key, texts in messages.items():
        assert set(texts) == set(LANGUAGES), key
        assert placeholders(texts["en"]) == placeholders(texts["zh"]), key


def test_every_run_message_fills_all_its_placeholders():
    for key, texts in run_messages().items():
        for lang in LANGUAGES:
            text = t(key, lang, **{name: 3 for name in placeholders(texts[lang])})
            assert "{" not in text and "}" not in text, (key, lang)


@pytest.mark.parametrize("case", BAD_FILES)
def test_bad_file_message_reads_in_chinese(case):
    error = error_of(BAD_FILES[case][0])
    text = t(error.key, "zh", **error.params)
    assert "{" not in text and any("\u4e00" <= c <= "\u9fff" for c in text)


# --- anything at all gives a record or one RunFileError ----------------------------------------------

NUMBERS = st.one_of(st.integers(0, 1000).map(str), st.floats(0, 1e300).map(repr),
                    st.sampled_from(["nan", "inf", "", "1e-320", "0"]))
CELLS = st.one_of(
    NUMBERS,
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["", "nan", "NaN", "-inf", "NA", "null", "a", "enc.0", "=1+2", "+x", "@A1", "-", '"',
                     '"q,uoted"', "1e400", " 2 ", "True", "grad_norm", "step"]),
    st.text(max_size=6),
)


@st.composite
def valid_tables(draw) -> list[list[str]]:
    """A long or a wide table that reads, as rows of cells (the header first)."""
    n_layers, n_steps = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    steps = sorted(draw(st.sets(st.integers(0, 10**6), min_size=n_steps, max_size=n_steps)))
    if draw(st.booleans()):
        header = ["step", "layer", "grad_norm"] + draw(st.lists(st.sampled_from(OPTIONAL), unique=True))
        rows = [[str(step), f"layer{k}"] + [draw(NUMBERS) for _ in header[2:]]
                for step in steps for k in range(n_layers)]
    else:
        header = [draw(st.sampled_from(["step", "Step", "_step", "global_step"]))]
        header += [draw(st.sampled_from(["grad_norm/l{}", "gradients/l{}.weight", "grad/l{}/kernel"])).format(k)
                   for k in range(n_layers)] + draw(st.sampled_from([[], ["loss"], ["train/loss", "junk"]]))
        rows = [[str(step)] + [draw(NUMBERS) for _ in header[1:]] for step in steps]
    return [header] + rows


@st.composite
def tables(draw) -> tuple[bytes, list[str]]:
    """A valid table with a few random changes: a cell, a header name, a row's order or length."""
    table = draw(valid_tables())
    for _ in range(draw(st.integers(0, 3))):
        row = draw(st.integers(0, len(table) - 1))
        change = draw(st.sampled_from(["cell", "swap", "cut", "grow"]))
        if change == "cell" and table[row]:
            table[row][draw(st.integers(0, len(table[row]) - 1))] = draw(CELLS)
        elif change == "swap" and len(table) > 2:
            other = draw(st.integers(1, len(table) - 1))
            table[row], table[other] = table[other], table[row]
        elif change == "cut":
            table[row] = table[row][: draw(st.integers(0, len(table[row])))]
        elif change == "grow":
            table[row] = table[row] + [draw(CELLS)]
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    return newline.join(",".join(row) for row in table).encode("utf-8", errors="surrogatepass"), table[0]


def check_outcome(data: bytes, header: list[str] | None = None) -> str:
    """Reads the data and checks the outcome: a consistent record, or one RunFileError whose params are
    numbers or column names; returns the layout read or the error's key."""
    try:
        run = load_run(data)
    except RunFileError as error:
        assert error.key in catalogue()
        for value in error.params.values():
            assert isinstance(value, int) or value in {"step", "layer", "grad_norm"} or value.encode() in data, value
        assert pickle.loads(pickle.dumps(error)).params == error.params
        return error.key
    h = run.history
    assert isinstance(h, History) and run.layout in ("long", "wide", "tags") and h.n_layers >= 2
    assert h.grad_log10.shape == (len(h.times), len(h.layers))
    assert (np.diff(h.times) > 0).all()
    assert len(h.update_grad_log10) == len(h.loss) == len(h.times)
    return run.layout


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables())
def test_any_table_gives_a_record_or_a_run_file_error(table):
    data, header = table
    outcome = check_outcome(data, [name.strip() for name in header])
    event(outcome)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_give_a_record_or_a_run_file_error(data):
    check_outcome(data)


@pytest.mark.parametrize("name, verdict", [("vanishing", "vanishing"), ("exploding_clipped", "exploding_clipped"),
                                           ("healthy", "healthy")])
def test_each_shipped_example_run_gets_its_verdict(name, verdict):
    history = read_run(files("gradviz").joinpath("data", "runs", f"{name}.csv").read_bytes())
    assert gradviz.diagnose(history).verdict == verdict
