"""A section's blocks made ready to send: each chart's datasets turned into Arrow IPC bytes once.

Streamlit sends a Vega-Lite chart's named datasets as Arrow; a dataset given as bytes goes out as it is,
so a view kept in a cache costs no conversion on a warm rerun (turning cached records back into pandas and
Arrow was 85 % of a warm rerun before).
"""

from __future__ import annotations

from dataclasses import replace

import pyarrow as pa

from gradviz.page import blocks as b


def arrow_bytes(frame) -> bytes:
    """A DataFrame as an Arrow IPC stream, as Streamlit serializes it (without the index)."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def prepared_chart(chart: b.Chart) -> b.Chart:
    spec = dict(chart.spec)
    spec["datasets"] = {name: arrow_bytes(frame) for name, frame in chart.datasets.items()}
    return replace(chart, spec=spec)


def prepare(blocks: tuple) -> tuple:
    """The blocks with every chart's data as Arrow bytes inside its spec (nested blocks included)."""
    out = []
    for block in blocks:
        if isinstance(block, b.Chart):
            block = prepared_chart(block)
        elif isinstance(block, b.Columns):
            block = replace(block, columns=tuple(prepare(column) for column in block.columns))
        elif isinstance(block, b.Expander):
            block = replace(block, blocks=prepare(block.blocks))
        out.append(block)
    return tuple(out)
