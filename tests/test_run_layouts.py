"""The layouts people's logs really come in, each written here as its tool writes it, read by
gradviz.experiments.your_run: per-parameter rows, TensorBoard scalars in long form, W&B and Lightning names,
logs per epoch, per-entry statistics, JSON and JSON Lines, gzip, TensorBoard event files (scalars, TF1- and
TF2-style histograms), the layers' forward order, any number of layers, and a RunFile that pickles."""

from __future__ import annotations

import gzip
import json
import math
import pickle
import sys

import numpy as np
import pytest

from gradviz.experiments.your_run import load_run, read_run
from run_support import csv_bytes, error_of


# --- per-parameter rows ----------------------------------------------------------------------------------------


def test_a_param_column_beside_layer_combines_a_layers_weight_and_bias():
    run = load_run(csv_bytes("step,layer,param,grad_norm", "0,fc1,weight,3", "0,fc1,bias,4", "0,fc2,weight,1",
                             "0,fc2,bias,0", "1,fc1,weight,6", "1,fc1,bias,8", "1,fc2,weight,2", "1,fc2,bias,0"))
    assert run.layout == "long" and run.history.layer_names == ("fc1", "fc2")
    np.testing.assert_allclose(10 ** run.history.grad_log10, [[5, 1], [10, 2]])


def test_names_ending_weight_and_bias_are_one_layers_parameters():
    h = read_run(csv_bytes("step,layer,grad_norm", "0,encoder.0.weight,3", "0,encoder.0.bias,4", "0,head.weight,2",
                           "5,encoder.0.weight,0.3", "5,encoder.0.bias,0.4", "5,head.weight,2"))
    assert h.layer_names == ("encoder.0", "head")
    np.testing.assert_allclose(10 ** h.grad_log10, [[5, 2], [0.5, 2]])


def test_a_per_entry_statistic_combines_as_a_root_mean_square_and_is_said():
    run = load_run(csv_bytes("epoch,layer,grad_rms", "0,fc1.weight,3", "0,fc1.bias,4", "0,fc2.weight,1",
                             "1,fc1.weight,3", "1,fc1.bias,4", "1,fc2.weight,1"))
    assert (run.statistic, run.statistic_name, run.history.time_label) == ("rms", "grad_rms", "epoch")
    np.testing.assert_allclose(10 ** run.history.grad_log10[:, 0], math.sqrt((9 + 16) / 2))


@pytest.mark.parametrize("column, statistic", [("grad_norm_mean", "norm"), ("mean_abs_grad", "mean_abs"),
                                               ("grad_rms", "rms")])
def test_a_log_per_epoch_with_a_statistic_per_layer(column, statistic):
    run = load_run(csv_bytes(f"epoch,layer,{column}", "0,a,1", "0,b,2", "1,a,3", "1,b,4"))
    assert (run.statistic, run.statistic_name, run.n_steps) == (statistic, column, 2)
    assert run.history.time_label == "epoch" and run.history.times.tolist() == [0, 1]


# --- TensorBoard scalars in long form (tbparse, EventAccumulator dumps) ----------------------------------------


def test_tag_step_value_rows_as_tbparse_writes_them():
    lines = ["step,tag,value"]
    for tag, values in (("grad_2.0_norm/encoder.0.bias", (0.3, 0.03)), ("grad_2.0_norm/encoder.0.weight", (0.4, 0.04)),
                        ("grad_2.0_norm/head.weight", (2.0, 1.0)), ("train_loss_step", (2.3, 1.1)),
                        ("train_loss_epoch", (2.5, 1.5)), ("lr-SGD", (0.1, 0.1))):
        lines += [f"{step},{tag},{value}" for step, value in zip((0, 10), values)]
    run = load_run(csv_bytes(*lines))
    assert (run.layout, run.statistic_name, run.loss_name) == ("tags", "grad_2.0_norm", "train_loss_step")
    assert run.history.layer_names == ("encoder.0", "head")
    np.testing.assert_allclose(10 ** run.history.grad_log10, [[0.5, 2.0], [0.05, 1.0]])
    np.testing.assert_allclose(run.history.loss, [2.3, 1.1])


def test_tags_of_a_wandb_panel_and_gradients_per_layer():
    lines = ["step,tag,value", "0,run-7 - gradients/layer1,1", "0,run-7 - gradients/layer2,2",
             "0,run-7 - train/loss,3", "1,run-7 - gradients/layer1,4", "1,run-7 - gradients/layer2,5"]
    run = load_run(csv_bytes(*lines))
    assert run.history.layer_names == ("layer1", "layer2") and run.loss_name == "run-7 - train/loss"
    assert run.history.loss_recorded.tolist() == [True, False]


def test_tags_without_a_gradient_are_refused_in_one_sentence():
    assert error_of(csv_bytes("step,tag,value", "0,train/loss,1", "1,train/loss,0.5")).key == "run.no_gradient_tags"


def test_a_wide_export_per_epoch_and_the_loss_as_wandb_names_it():
    run = load_run(csv_bytes("epoch,run-3 - grad_norm/a,run-3 - grad_norm/b,run-3 - train/loss,"
                             "run-3 - train/loss__MIN", "0,1,2,3,0", "1,1,2,2,0"))
    assert run.layout == "wide" and run.loss_name == "run-3 - train/loss" and run.history.time_label == "epoch"
    np.testing.assert_allclose(run.history.loss, [3, 2])


# --- JSON ------------------------------------------------------------------------------------------------------


RECORDS = [{"step": s, "layer": name, "grad_norm": norm, "loss": 2.0 - s / 10}
           for s in (0, 10) for name, norm in (("fc1", 0.1), ("fc2", 1.0))]


@pytest.mark.parametrize("document", [RECORDS, {"log_history": RECORDS, "best_metric": None}])
def test_json_records(document):
    run = load_run(json.dumps(document).encode())
    assert (run.file_format, run.layout, run.history.layer_names) == ("json", "long", ("fc1", "fc2"))
    np.testing.assert_allclose(10 ** run.history.grad_log10, [[0.1, 1.0], [0.1, 1.0]])
    np.testing.assert_allclose(run.history.loss, [2.0, 1.0])


def test_json_layers_as_keys_are_steps_numbered_as_listed():
    run = load_run(json.dumps({"conv1": [0.01, 0.001, None], "conv2": [0.1, 0.1, 0.1], "fc": [1, 1, "nan"]}).encode())
    assert (run.layout, run.history.times.tolist()) == ("bare", [0, 1, 2])
    h = run.history
    assert h.layer_names == ("conv1", "conv2", "fc") and np.isnan(h.grad_log10[2, 0]) and h.stopped_early


def test_json_lines_stream_like_a_csv():
    run = load_run("".join(json.dumps(r) + "\n" for r in RECORDS).encode())
    assert run.file_format == "json_lines" and run.history.layer_names == ("fc1", "fc2")
    bad = "".join(json.dumps(r) + "\n" for r in RECORDS[:2]) + '{"step": 20, "layer": "fc1", "grad_norm": "big"}\n'
    assert error_of(bad.encode()).params == {"line": 3, "column": "grad_norm"}


@pytest.mark.parametrize("document, key", [
    ("[1, 2, 3]", "run.json_layout"), ('{"a": 1', "run.json_unreadable"), ("[" * 100_000, "run.json_unreadable"),
    ('[{"step": 0, "layer": "a", "grad_norm": "x"}, {"step": 0, "layer": "b", "grad_norm": 1}]',
     "run.record.not_a_number"),
    ('[{"step": 0, "layer": "a", "grad_norm": 1}, {"step": 0, "layer": "a", "grad_norm": 1}]',
     "run.record.steps_out_of_order"),
])
def test_bad_json_gets_one_sentence(document, key):
    assert error_of(document.encode()).key == key


# --- gzip ------------------------------------------------------------------------------------------------------


def test_gzip_compressed_files_are_read_as_what_they_hold():
    plain = csv_bytes("step,layer,grad_norm", "0,a,1", "0,b,2")
    run = load_run(gzip.compress(plain))
    assert run.compressed and run.file_format == "csv"
    np.testing.assert_array_equal(run.history.grad_log10, load_run(plain).history.grad_log10)
    assert load_run(gzip.compress(json.dumps(RECORDS).encode())).file_format == "json"
    assert error_of(gzip.compress(plain)[:-12]).key == "run.bad_gzip"


# --- TensorBoard event files -----------------------------------------------------------------------------------


def event_file(tmp_path, values_per_step) -> bytes:
    """An event file written with tensorboard's own writer: values_per_step(step) -> summary values."""
    from tensorboard.compat.proto import event_pb2, summary_pb2
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    writer = EventFileWriter(str(tmp_path))
    for step in range(3):
        writer.add_event(event_pb2.Event(step=step * 100, wall_time=1.7e9 + step,
                                         summary=summary_pb2.Summary(value=values_per_step(step))))
    writer.close()
    [path] = tmp_path.glob("events.out.tfevents.*")
    return path.read_bytes()


def test_event_file_scalars_as_pytorch_writes_them(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.compat.proto import summary_pb2

    def values(step):
        return [summary_pb2.Summary.Value(tag=f"grad_norm/{name}", simple_value=norm / (step + 1))
                for name, norm in (("layers.10.weight", 1.0), ("layers.2.weight", 0.5), ("layers.2.bias", 0.5))] + [
            summary_pb2.Summary.Value(tag="train/loss", simple_value=2.0 / (step + 1))]

    run = load_run(event_file(tmp_path, values))
    h = run.history
    assert (run.file_format, run.layout, run.loss_name) == ("events", "events", "train/loss")
    assert h.layer_names == ("layers.2", "layers.10") and h.layer_order == "reversed"  # logged output first
    np.testing.assert_allclose(10 ** h.grad_log10[0], [math.sqrt(0.5), 1.0], rtol=1e-6)
    assert h.times.tolist() == [0, 100, 200]
    np.testing.assert_allclose(h.loss, [2.0, 1.0, 2 / 3], rtol=1e-6)


def test_event_file_histograms_give_exact_or_approximate_norms(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.compat.proto import summary_pb2
    from tensorboard.plugins.histogram.summary_v2 import histogram_pb

    gradient = np.array([3.0, -4.0])

    def old_style(step):
        histogram = summary_pb2.HistogramProto(min=-4, max=3, num=2, sum=-1, sum_squares=25.0,
                                               bucket_limit=[0.0, 5.0], bucket=[1, 1])
        return [summary_pb2.Summary.Value(tag=f"gradients/{name}", histo=histogram) for name in ("fc1", "fc2")]

    run = load_run(event_file(tmp_path / "tf1", old_style))
    assert run.statistic == "histogram"
    np.testing.assert_allclose(10 ** run.history.grad_log10, 5.0)

    def new_style(step):
        values = [histogram_pb(f"gradients/{name}", gradient, buckets=50).value[0] for name in ("fc1", "fc2")]
        for value in values[: len(values) if step else 0]:
            value.ClearField("metadata")  # TF2 writes a tag's plugin name with its first value only
        return values

    run = load_run(event_file(tmp_path / "tf2", new_style))
    assert run.statistic == "buckets"
    np.testing.assert_allclose(10 ** run.history.grad_log10, 5.0, rtol=0.05)


def test_a_damaged_event_file_gets_one_sentence(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.compat.proto import summary_pb2

    data = bytearray(event_file(tmp_path, lambda step: [summary_pb2.Summary.Value(tag="grad_norm/a", simple_value=1)]))
    data[len(data) // 2 + 3] ^= 0xFF  # a byte of a record's length or contents
    data[8] ^= 0xFF  # the first record's length checksum
    assert error_of(bytes(data)).key == "run.events_damaged"
    assert load_run(bytes(event_file(tmp_path / "cut", lambda step: [
        summary_pb2.Summary.Value(tag=f"grad_norm/{n}", simple_value=1) for n in "ab"]))[:-7]).n_steps == 2


# --- the layers' order -----------------------------------------------------------------------------------------


def test_numbers_in_names_put_the_layers_in_forward_order():
    # backward hooks fire from the output back: the file lists layers.11 first
    lines = ["step,layer,grad_norm"] + [f"0,layers.{k},{10.0 ** -k}" for k in range(11, -1, -1)]
    h = read_run(csv_bytes(*lines))
    assert h.layer_order == "reversed" and h.layer_names[:3] == ("layers.0", "layers.1", "layers.2")
    assert h.grad_log10[0, 0] == 0 and h.grad_log10[0, -1] == -11


def test_alphabetical_columns_are_put_in_numeric_order():
    names = sorted(f"block_{k}" for k in range(12))  # block_0, block_1, block_10, block_11, block_2 …
    header = "step," + ",".join(f"grad_norm/{name}" for name in names)
    h = read_run(csv_bytes(header, "0," + ",".join(str(int(name.split("_")[1]) + 1) for name in names)))
    assert h.layer_order == "names" and h.layer_names == tuple(f"block_{k}" for k in range(12))
    np.testing.assert_allclose(10 ** h.grad_log10[0], np.arange(1, 13))


def test_alphabetical_names_without_numbers_leave_the_order_unknown_and_the_flow_unjudged():
    h = read_run(csv_bytes("step,grad_norm/decoder,grad_norm/encoder,grad_norm/head", "0,100,1,0.01", "1,100,1,0.01"))
    assert h.layer_order == "unknown"
    checklist = h.symptoms
    assert not checklist["grows_back"].applicable and not checklist["early_stuck"].applicable
    assert "grows_back" not in checklist.because and checklist.verdict == "healthy"


def test_the_recorders_order_stands_when_names_carry_none():
    assert read_run(csv_bytes("step,layer,grad_norm", "0,embed,1", "0,rnn,2", "0,head,3")).layer_order == "file"


# --- any number of layers --------------------------------------------------------------------------------------


@pytest.mark.parametrize("n_layers", [257, 5000])
def test_any_number_of_layers_is_charted_thinned_and_heatmapped_whole(n_layers):
    lines = ["step,layer,grad_norm,loss"] + [f"{s},blocks.{k},{(k + 1) * (s + 1)},1" for s in range(3)
                                             for k in range(n_layers)]
    run = load_run(csv_bytes(*lines))
    h, heat = run.history, run.heatmap
    assert run.n_layers == n_layers and len(h.layers) == 256 == len(h.layer_names)
    assert h.layer_names[0] == "blocks.0" and h.layer_names[-1] == f"blocks.{n_layers - 1}"
    assert heat.first_layer[0] == 0 and heat.last_layer[-1] == n_layers - 1
    assert np.all(heat.first_layer[1:] == heat.last_layer[:-1] + 1) and len(heat.first_layer) <= 120
    assert np.isclose(h.grad_max_log10[0], math.log10(n_layers))  # the aggregates cover every layer
    assert h.symptoms.verdict in ("healthy", "exploding", "vanishing")


def test_a_run_file_and_its_error_cross_a_process_boundary():
    run = load_run(csv_bytes("step,layer,grad_norm,loss", "0,a,1,2", "0,b,2,2"))
    again = pickle.loads(pickle.dumps(run))
    np.testing.assert_array_equal(again.history.grad_log10, run.history.grad_log10)
    np.testing.assert_array_equal(again.heatmap.log10, run.heatmap.log10)
    error = pickle.loads(pickle.dumps(error_of(csv_bytes("step,layer,grad_norm", "0,a,x"))))
    assert (error.key, error.params) == ("run.not_a_number", {"line": 2, "column": "grad_norm"})


def test_without_tensorboard_an_event_file_gets_one_sentence(tmp_path, monkeypatch):
    pytest.importorskip("tensorboard")
    from tensorboard.compat.proto import summary_pb2

    data = event_file(tmp_path, lambda step: [summary_pb2.Summary.Value(tag="grad_norm/a", simple_value=1)])
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # as if it were not installed
    assert error_of(data).key == "run.events_need_tensorboard"
