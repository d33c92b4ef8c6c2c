"""Error types, each mapped to one CLI exit code.

Messages name the file, field, dataset, version or partition concerned and never carry a data
value (design invariant 1): a value may be personal.
"""

from __future__ import annotations


class StewardError(Exception):
    """Base class. ``exit_code`` is what the ``steward`` command exits with."""

    exit_code = 1


class BadInput(StewardError):
    """Input the operator or a provider can fix: declarations, arguments, provider files."""

    exit_code = 2


class DeclarationErrors(BadInput):
    """Every problem found in the declarations at once; nothing was loaded."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(
            f"{len(problems)} problem(s) in the declarations:\n"
            + "\n".join(f"  - {p}" for p in problems)
        )


class ProviderFileError(BadInput):
    """A landing file does not match its declaration (C5.2-2); nothing was staged."""


class NotFound(BadInput):
    """A dataset, version, partition or backup copy that does not exist."""


class IntegrityError(StewardError):
    """Stored bytes do not match their recorded checksum, or cannot be decrypted."""


class KeyMissing(StewardError):
    """The data key for a dataset partition is not in the key store (or was destroyed)."""


class NotReadable(StewardError):
    """A reader asked for a version that is not promoted."""


class QualityBlocked(NotReadable):
    """A reader asked for a version that failed (or has not passed) its quality suite."""
