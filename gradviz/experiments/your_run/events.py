"""TensorBoard event files (events.out.tfevents.*): scalars and histograms, decoded with the tensorboard package.

An event file is a sequence of TFRecords (an 8-byte length, its masked CRC-32C, the record, the record's
CRC): the length's checksum is verified (a file that is not an event file, or is damaged, fails it at once);
the record's is not (tensorboard's pure-Python CRC-32C would take ~17 s for 200 MB), a damaged record fails
to decode instead. A last record cut short (a file still being written) ends the file, as TensorBoard reads it.

Each record is an Event protocol buffer (tensorboard.compat.proto.event_pb2), its values moved to the current
format by tensorboard.data_compat. A tag is read as in a table's tag column: grad_norm/<parameter>,
gradients/<layer> and the like are gradients, train/loss and the like the loss. A gradient's value is a
scalar, or a histogram of its entries: then its norm is √Σ g², exact from a TF1-style histogram's
sum_squares, approximate from a TF2-style histogram's buckets (each entry at its bucket's centre).
The tensorboard package is imported only here, when an event file arrives.
"""

from __future__ import annotations

import math
import struct

import numpy as np

from gradviz.experiments.your_run import names as n
from gradviz.experiments.your_run.errors import RunFileError
from gradviz.experiments.your_run.layouts import Reading, _tag_kind, _tag_reading
from gradviz.experiments.your_run.records import Records
from gradviz.experiments.your_run.source import Stream

MAX_EVENT_BYTES = 16 * 1024 * 1024
BATCH = 65_536  # values gathered before they become records


def _record_error(key: str, row: int, **params) -> RunFileError:
    return RunFileError("record." + key, line=row, **params)


class _Decoder:
    """The tensorboard pieces, imported when the first event file arrives."""

    def __init__(self):
        try:
            from tensorboard import data_compat
            from tensorboard.compat.proto import event_pb2
            from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c
            from tensorboard.util import tensor_util
        except ImportError:  # gradviz installed as a library without its tensorboard extra
            raise RunFileError("events_need_tensorboard") from None

        self.event = event_pb2.Event
        self.migrate = data_compat.migrate_value
        self.crc = masked_crc32c
        self.array = tensor_util.make_ndarray


def _events(stream: Stream, decoder: _Decoder):
    """(record number, Event) for each record of the file."""
    number = 0
    while True:
        header = stream.read(12)
        if len(header) < 12:
            return
        number += 1
        (length,), (crc,) = struct.unpack("<Q", header[:8]), struct.unpack("<I", header[8:])
        if decoder.crc(header[:8]) != crc or length > MAX_EVENT_BYTES:
            raise RunFileError("events_damaged", record=number)
        data = stream.read(length)
        if len(stream.read(4)) < 4:
            return
        try:
            yield number, decoder.event.FromString(data)
        except Exception:  # protobuf's DecodeError, whichever implementation is installed
            raise RunFileError("events_damaged", record=number) from None


def _value(value, plugin: str, decoder: _Decoder) -> tuple[float | None, str]:
    """(the number a summary value holds, or None; "scalar", "histogram" or "buckets")."""
    kind = value.WhichOneof("value")
    if kind == "simple_value":
        return float(value.simple_value), "scalar"
    if kind == "histo":
        return math.sqrt(max(value.histo.sum_squares, 0.0)), "histogram"
    if kind != "tensor":
        return None, ""
    array = decoder.array(decoder.migrate(value).tensor)
    if plugin == "histograms" and array.ndim == 2 and array.shape[1] == 3:
        centres = (array[:, 0].astype(np.float64) + array[:, 1]) / 2
        return float(np.sqrt(np.sum(array[:, 2] * centres**2))), "buckets"
    if plugin == "scalars" and array.size == 1:
        return float(array.reshape(-1)[0]), "scalar"
    return None, ""


def read_events(stream: Stream) -> Reading:
    """The gradient and loss values of an event file, as a Reading of tagged values."""
    decoder = _Decoder()
    records = Records(lambda series: n.layer_of(series.split("/", 1)[1]))
    words, losses, plugins, kinds, sources = {}, {}, {}, {}, set()
    batch = {"step": [], "series": [], "value": [], "record": []}
    lost: dict[str, tuple[list, list]] = {}
    for number, event in _events(stream, decoder):
        if not event.HasField("summary"):
            continue
        for value in event.summary.value:
            tag = value.tag
            if value.metadata.plugin_data.plugin_name:
                plugins[tag] = value.metadata.plugin_data.plugin_name
            if tag not in kinds:
                kinds[tag] = _tag_kind(tag, words, losses)
            if kinds[tag] == "other":
                continue
            number_value, source = _value(value, plugins.get(tag, ""), decoder)
            if number_value is None:
                continue
            if kinds[tag] == "loss":
                steps, values = lost.setdefault(tag, ([], []))
                steps.append(event.step)
                values.append(number_value)
                continue
            sources.add(source)
            for key, item in zip(batch, (event.step, "/".join(words[tag]), number_value, number)):
                batch[key].append(item)
        if len(batch["step"]) >= BATCH:
            _flush(records, batch)
    _flush(records, batch)
    for tag, (steps, values) in lost.items():
        records.add_loss(np.array(steps, dtype=np.int64), np.array(values), np.ones(len(steps), dtype=bool), source=tag)
    statistic = "buckets" if "buckets" in sources else "histogram" if "histogram" in sources else None
    return _tag_reading(records, words, losses, "events", True, statistic)


def _flush(records: Records, batch: dict) -> None:
    if not batch["step"]:
        return
    values = np.array(batch["value"], dtype=np.float64)
    if (values < 0).any():
        raise RunFileError("record.negative_norm", line=batch["record"][int(np.argmax(values < 0))],
                           column=batch["series"][int(np.argmax(values < 0))])
    series = np.array(batch["series"], dtype=object)
    records.add(np.array(batch["step"], dtype=np.int64), records.codes(series), {"grad": values},
                np.array(batch["record"]), _record_error)
    for items in batch.values():
        items.clear()
