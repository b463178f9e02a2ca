"""User-facing errors.

Everything the workbench raises on purpose derives from :class:`WorkbenchError`. Its message
is one line that says what was wrong and what to do; the command line prints it without a
traceback and exits non-zero.
"""

from __future__ import annotations


class WorkbenchError(Exception):
    """Base class of every error the workbench raises on purpose."""


class DataNotFoundError(WorkbenchError, FileNotFoundError):
    """A dataset file or folder is missing. The message names the path and the fix."""


class UnknownNameError(WorkbenchError, KeyError):
    """An encoder, task, pooling or other name is not known. The message lists valid names."""

    def __str__(self) -> str:  # KeyError would repr() the message and add quotes
        return str(self.args[0]) if self.args else ""


class InvalidInputError(WorkbenchError, ValueError):
    """Input that cannot give a meaningful result (empty, NaN, wrong shape, ...)."""


class CacheCorruptionWarning(UserWarning):
    """A damaged cache entry was found; it is discarded and recomputed."""


class CacheAccessWarning(UserWarning):
    """A cache file or folder cannot be read or written (permissions, I/O); the affected
    embeddings are recomputed or left uncached, never returned wrong."""


class UnverifiedDownloadWarning(UserWarning):
    """A downloaded file has no pinned checksum, so its content could not be verified."""
