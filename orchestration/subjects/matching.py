"""Matching a person to rows through the declared subject identifiers (C5.2-6).

A request names an identifier kind and a value (``Subject``); each dataset declaring that kind
names the column it is compared with, ignoring case or through a keyed hash (a card number is
matched against the operator's card pseudonym without being stored). The value lives in
memory only: the ledger, logs and receipts get ``digest``, an HMAC under a key kept outside the
ledger database, like the KEKs (``$STEWARD_HOME/keys/subject-requests.key``).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from orchestration.declarations.catalog import Catalog
from orchestration.declarations.models import DatasetDeclaration, SubjectIdentifier
from orchestration.errors import BadInput
from orchestration.secret_files import create_secret, read_secret

if TYPE_CHECKING:
    import pandas as pd

REQUEST_KEY = "subject-requests.key"
DERIVATION_KEYS = "subject_identifiers"
KEY_BYTES = 32


@dataclass(frozen=True)
class Subject:
    """Who a request is about: an identifier kind and its value. The value is never shown."""

    kind: str
    value: str = field(repr=False)


class Matcher:
    """The declared identifiers of a catalog, and the keys under ``keys_dir``."""

    def __init__(self, catalog: Catalog, keys_dir: Path) -> None:
        self.catalog, self.keys_dir = catalog, keys_dir
        self._derivation_keys: dict[str, bytes] = {}
        self._key: bytes | None = None

    def declared(self, kind: str) -> list[tuple[str, SubjectIdentifier]]:
        """(dataset, identifier) of every declaration of ``kind``, by dataset."""
        return [
            (key, ident)
            for key, d in sorted(self.catalog.datasets.items())
            for ident in d.declaration.subject_identifiers
            if ident.kind == kind
        ]

    def kinds(self) -> list[str]:
        return sorted(
            {
                i.kind
                for d in self.catalog.datasets.values()
                for i in d.declaration.subject_identifiers
            }
        )

    def subject(self, kind: str, value: str) -> Subject:
        """A checked subject: a declared kind and a value that is not blank."""
        if not self.declared(kind):
            raise BadInput(
                f"--kind {kind!r}: no dataset declares this subject identifier kind "
                f"(declared: {', '.join(self.kinds())}) (C5.2-6)"
            )
        value = value.strip()
        if not value:
            raise BadInput("--id is empty: give the person's identifier (C5.2-6)")
        return Subject(kind, value)

    def expected(self, ident: SubjectIdentifier, subject: Subject) -> str:
        """The value ``ident``'s column holds for ``subject``."""
        value = subject.value.casefold() if ident.casefold else subject.value
        derivation = ident.derivation
        if derivation is None:
            return value
        key = self._derivation_key(derivation.key)
        digest = hmac.new(key, value.encode(), hashlib.sha256).hexdigest()
        return derivation.prefix + digest[: derivation.length]

    def mask(self, frame: pd.DataFrame, decl: DatasetDeclaration, subject: Subject) -> pd.Series:
        """Which rows of ``frame`` hold the subject, by every identifier of its kind."""
        import pandas as pd

        hit = pd.Series(False, index=frame.index)
        for ident in decl.subject_identifiers:
            if ident.kind != subject.kind:
                continue
            column = frame[ident.column].astype("string")
            if ident.casefold and ident.derivation is None:
                column = column.str.casefold()
            hit |= (column == self.expected(ident, subject)).fillna(False).astype(bool)
        return hit

    def digest(self, subject: Subject) -> str:
        """The keyed digest that names the subject in the ledger (never the value)."""
        _, ident = self.declared(subject.kind)[0]
        return self.token(subject.kind, self.expected(ident, subject))

    def token(self, kind: str, column_value: str) -> str:
        return hmac.new(
            self._request_key(), f"{kind}\x00{column_value}".encode(), hashlib.sha256
        ).hexdigest()

    def restricted(
        self, frame: pd.DataFrame, decl: DatasetDeclaration, digests: Iterable[tuple[str, str]]
    ) -> pd.Series:
        """Which rows of ``frame`` belong to a subject named by (kind, digest) pairs."""
        return self.matched(frame, decl, digests)[0]

    def matched(
        self, frame: pd.DataFrame, decl: DatasetDeclaration, digests: Iterable[tuple[str, str]]
    ) -> tuple[pd.Series, set[tuple[str, str]]]:
        """Which rows of ``frame`` belong to a subject named by (kind, digest) pairs, and
        which of those pairs were found."""
        import pandas as pd

        wanted: dict[str, set[str]] = {}
        for kind, digest in digests:
            wanted.setdefault(kind, set()).add(digest)
        hit = pd.Series(False, index=frame.index)
        found: set[tuple[str, str]] = set()
        for ident in decl.subject_identifiers:
            if ident.kind not in wanted:
                continue
            column = frame[ident.column].astype("string")
            if ident.casefold and ident.derivation is None:
                column = column.str.casefold()
            # each distinct value is hashed once: a day's table repeats its identifiers
            tokens = {v: self.token(ident.kind, v) for v in column.dropna().unique()}
            named = {v for v, t in tokens.items() if t in wanted[ident.kind]}
            hit |= column.isin(named).fillna(False).astype(bool)
            found |= {(ident.kind, tokens[v]) for v in named}
        return hit, found

    def _derivation_key(self, name: str) -> bytes:
        if name not in self._derivation_keys:
            path = self.keys_dir / DERIVATION_KEYS / f"{name}.key"
            try:
                self._derivation_keys[name] = path.read_bytes()
            except OSError:
                raise BadInput(
                    f"the identifier key {name!r} is missing at {path}: the provider deposits "
                    "it for subject requests (field subject_identifiers.derivation.key, C5.2-6)"
                ) from None
        return self._derivation_keys[name]

    def _request_key(self) -> bytes:
        """Read once per matcher (a filter hashes every distinct value of a column): the
        key is written once and never changes."""
        if self._key is None:
            self._key = request_key(self.keys_dir)
        return self._key


def request_key(keys_dir: Path) -> bytes:
    """The key of subject digests, made on first use with mode 0600, outside the ledger."""
    path = keys_dir / REQUEST_KEY
    what = "subject request key"
    return read_secret(path, KEY_BYTES, what) or create_secret(path, KEY_BYTES, what)
