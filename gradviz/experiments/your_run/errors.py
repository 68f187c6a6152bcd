"""The one error a file that cannot be read as a run raises."""

from __future__ import annotations


class RunFileError(ValueError):
    """A file that cannot be read as a run: `key` is its message id (run.*, in gradviz/page/text/run.toml) and
    `params` fill the message. params are numbers and names from the file (a column, a tag), never a cell's
    contents; the page shows those names as plain text."""

    def __init__(self, key: str, **params):
        self.key = f"run.{key}"
        self.params = params
        super().__init__(self.key, params)

    def __reduce__(self):
        return _rebuild, (self.key.removeprefix("run."), self.params)


def _rebuild(key: str, params: dict) -> RunFileError:
    return RunFileError(key, **params)
