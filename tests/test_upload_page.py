"""An upload on the page (app.py's your_run): read on the job board, in a worker, for its visitor alone.

The upload is one Job with a Stream argument (a view of Streamlit's own bytes, no copy), private (never in the
shared store), costed by its size; what the page draws is the run it read, or the sentence of the file's fault,
carried back from the worker whole.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.proto.Common_pb2 import FileURLs
from streamlit.runtime.uploaded_file_manager import UploadedFile, UploadedFileRec

import gradviz
import gradviz.page.jobboard as jobboard
from gradviz.experiments.your_run import load_run
from gradviz.page.i18n import t
from gradviz.page.jobs import Stream, upload_cost
from page_support import exceptions, open_page, page_texts

RUNS = Path(gradviz.__file__).parent / "data" / "runs"


@pytest.fixture
def requested(monkeypatch):
    """Every job the page asks the job board for, with the board's store, while the test runs."""
    seen = []
    request = jobboard.JobBoard.request

    def spy(self, job):
        seen.append((job, self.store))
        return request(self, job)

    monkeypatch.setattr(jobboard.JobBoard, "request", spy)
    return seen


def upload(data: bytes, name: str = "run.csv", **query):
    at = open_page(section="run", **query)
    at.file_uploader[0].set_value((name, data, "text/csv")).run()
    return at


def test_an_upload_is_read_on_the_board_privately_and_its_checklist_drawn(requested):
    data = (RUNS / "vanishing.csv").read_bytes()
    at = upload(data)
    assert not exceptions(at) and not at.warning and not at.error
    expected = load_run(data)
    caption = t("run.source.upload", "en") + " " + t(f"run.read_{expected.layout}", "en", layers=expected.n_layers,
                                                     steps=expected.n_steps, last=int(expected.history.times[-1]))
    assert caption in [text for _, text in page_texts(at)]
    [(job, store)] = [(job, store) for job, store in requested if job.what == "jobs.upload"]
    [stream] = job.args
    assert job.run is load_run and job.private and isinstance(stream, Stream) and stream.size == len(data)
    assert job.cost == upload_cost(len(data))
    assert job.key not in store


def test_a_bad_file_gets_its_sentence_from_the_worker():
    at = upload(b"a,b\n1,2\n", name="notes.csv")
    assert not exceptions(at)
    assert [e.value for e in at.error] == [t("run.no_gradient_columns", "en")]


def test_the_same_upload_is_not_read_again_on_a_rerun(requested):
    at = upload((RUNS / "healthy.csv").read_bytes())
    at.run()
    assert not exceptions(at)
    assert len([job for job, _ in requested if job.what == "jobs.upload"]) == 1


def test_the_stream_is_a_view_of_streamlits_own_bytes_not_a_copy():
    """UploadedFile is a BytesIO over the upload's bytes, shared until written: getvalue() hands back those very
    bytes, and the Stream views them (getbuffer() would copy them all)."""
    record = UploadedFileRec(file_id="f", name="run.csv", type="text/csv", data=bytes(range(256)) * 4096)
    uploaded = UploadedFile(record, FileURLs())
    assert Stream.of(uploaded.getvalue()).buffer.obj is record.data
