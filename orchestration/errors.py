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


class KeyDestructionUnverified(StewardError):
    """A destroyed data key (or its KEK) may still be on disk: an incident, never "destroyed"
    (C5.2-11). Destroying again once the cause is gone completes it."""


class KeyStoreFormatError(BadInput):
    """The key store holds data keys in the clear (the format before KEKs): refused."""


class NotReadable(StewardError):
    """A reader asked for a version that is not promoted."""


class QualityBlocked(NotReadable):
    """A reader asked for a version that failed (or has not passed) its quality suite."""


class RetentionRefused(BadInput):
    """C5.2-11: the partition is being purged, or is past its retention deadline, so nothing
    reads, restores, promotes or commits to it."""


class TransformFailed(StewardError):
    """A dataset's transform raised. The message names the transform, dataset, partition,
    exception type and the transform's file and line, never the exception's own text, which may
    quote a value (invariant 1)."""


class PurgeFailed(StewardError):
    """A purge could not be completed or verified; nothing was marked purged."""


class PurgeIncomplete(Exception):
    """Some objects could not be deleted; the message names keys and error codes only."""


class OrphansLeft(Exception):
    """Something due was still there after the purge; nothing was certified."""


class LocationUnreachable(StewardError):
    """A backup location recorded for a copy cannot be parsed or reached: nothing there can be
    purged or verified, so nothing is certified (C4.1-3)."""


class LockBusy(StewardError):
    """Another live process holds the lock."""


class LockLost(StewardError):
    """The lock was taken over while held (its heartbeat stalled): stop before changing more."""
