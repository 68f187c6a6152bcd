"""How large an upload the server can receive right now.

Streamlit's server (Starlette's multipart parser) keeps an uploaded file of up to 1 MiB in memory and spools a
larger one to a temporary file in tempfile.gettempdir() ($TMPDIR, else /tmp) while it arrives, then reads it
into memory for the session and deletes the file. With that folder full the upload fails inside the server
with HTTP 500, before the page runs, so the page cannot catch it; it can only ask the browser not to send what
will not fit. The browser refuses a file above the uploader's limit with Streamlit's own sentence.
"""

from __future__ import annotations

import shutil
import tempfile

MB = 2**20
IN_MEMORY_MB = 1  # Starlette's spool_max_size: a file of up to 1 MiB never touches the disk


def upload_limit_mb(configured_mb: int, folder: str | None = None) -> int:
    """The largest upload, in MB, that the temporary folder can take now: Streamlit's cap (server.maxUploadSize)
    or less, never under the 1 MB that stays in memory. Below the cap the limit is a power of two, so that it
    moves seldom as the free space changes (a new limit is a new uploader: its file is dropped)."""
    try:
        free = shutil.disk_usage(folder or tempfile.gettempdir()).free
    except OSError:  # no temporary folder at all: only files that stay in memory can arrive
        return IN_MEMORY_MB
    fits = free // MB
    if fits >= configured_mb:
        return configured_mb
    limit = IN_MEMORY_MB
    while limit * 2 <= fits:
        limit *= 2
    return limit
