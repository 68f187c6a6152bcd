"""An upload on the page (app.py's your_run): read on the job board, in a worker, for its visitor alone.

The upload is one Job with a Stream argument (a view of Streamlit's own bytes, no copy), private (never in the
shared store), costed by its size; what the page draws is the run it read, or the sentence of the file's fault,
carried back from the worker whole. With the temporary disk (where Streamlit spools a file over 1 MB) nearly
full, the page says so and lowers the uploader's limit, so the browser refuses what the server could not take.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from streamlit.proto.Common_pb2 import FileURLs
from streamlit.runtime.uploaded_file_manager import UploadedFile, UploadedFileRec

import gradviz
import gradviz.page.jobboard as jobboard
from gradviz.experiments.your_run import load_run
from gradviz.page.i18n import Words, t
from gradviz.page.jobs import Stream, upload_cost
from gradviz.page.sections.run import read_line
from gradviz.page.uploads import IN_MEMORY_MB, MB, upload_limit_mb
from page_support import exceptions, open_page, page, page_texts

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
    assert read_line(expected, "upload", Words("en")) in [text for _, text in page_texts(at)]
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


# --- a nearly full temporary disk -------------------------------------------------------------------------------

def free_space(monkeypatch, free: int) -> None:
    """The temporary folder reports `free` bytes (shutil.disk_usage as gradviz.page.uploads calls it)."""
    usage = shutil.disk_usage("/")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage._replace(free=free))


@pytest.mark.parametrize("free_mb, limit", [(10_000, 200), (200, 200), (199.9, 128), (130, 128), (64, 64), (3, 2),
                                            (1.5, 1), (0, 1)])
def test_the_upload_limit_is_what_the_temporary_disk_can_take(monkeypatch, free_mb, limit):
    free_space(monkeypatch, int(free_mb * MB))
    assert upload_limit_mb(200) == limit


def test_without_a_temporary_folder_only_files_kept_in_memory_can_arrive(monkeypatch):
    def missing(path):
        raise FileNotFoundError(path)
    monkeypatch.setattr(shutil, "disk_usage", missing)
    assert upload_limit_mb(200) == IN_MEMORY_MB == 1


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_nearly_full_disk_is_a_sentence_and_a_lower_limit_on_the_uploader(monkeypatch, lang):
    free_space(monkeypatch, 0)
    at = open_page(section="run", lang=lang)
    assert not exceptions(at)
    assert [w.value for w in at.warning] == [t("page.upload.disk", lang, limit=1, usual=200)]
    assert at.get("file_uploader")[0].proto.max_upload_size_mb == 1


def test_with_room_on_the_disk_the_uploader_takes_streamlits_cap_and_says_nothing():
    at = page(section="run")
    assert not at.warning and at.get("file_uploader")[0].proto.max_upload_size_mb == 200
