"""Data-subject requests (C5.2-6): find what the district holds about a person, export it to
them, correct it, restrict its use until lifted, or erase it from every version, derivation and
backup; every request gets an id, a receipt and a due date, and is audit-logged. The person is
named in the ledger by a keyed digest only (``subjects.matching``).

Erasures and corrections run under the retention sweep's lock, so neither touches a partition a
sweep is purging or rewriting, and a killed erasure is resumed by the next request for the same
person. A partition under a legal hold is deferred, the request staying open (C5.2-11).
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from orchestration.errors import BadInput, LockLost, NotFound, PurgeIncomplete, StewardError
from orchestration.ledger import requests as ledger
from orchestration.ledger.holds import all_active_holds
from orchestration.ledger.locks import HEARTBEAT, STALE, Held, ledger_lock
from orchestration.records import ErasureStep, SubjectRequest
from orchestration.retention.context import SweepContext
from orchestration.retention.plan import Hold
from orchestration.retention.report import incident
from orchestration.retention.sweep import LOCK
from orchestration.subjects.correct import Produce, check_columns, correct_subject
from orchestration.subjects.erase import erase_partition
from orchestration.subjects.export import check_target, export_subject
from orchestration.subjects.matching import Matcher, Subject
from orchestration.subjects.receipts import find_subject, found_receipt
from orchestration.vocabulary import IncidentKind, RequestKind, RequestStatus

ANSWER_WITHIN = timedelta(days=14)
"""The district answers a request within this (APPI asks for no undue delay); past it, the
request is an incident (C5.2-6, C4.1-3)."""


class SubjectRequests:
    """The requests of data subjects, over the sweep's collaborators and the key folder."""

    def __init__(
        self,
        context: SweepContext,
        keys_dir: Path,
        lock_stale: timedelta = STALE,
        lock_heartbeat: timedelta = HEARTBEAT,
    ) -> None:
        self.ctx = context
        self.matcher = Matcher(context.catalog, keys_dir)
        self.lock_stale, self.lock_heartbeat = lock_stale, lock_heartbeat

    def subject(self, kind: str, value: str) -> Subject:
        return self.matcher.subject(kind, value)

    def find(self, subject: Subject) -> SubjectRequest:
        """Every dataset, partition and version holding the subject, current and older, with
        their backups, and every dataset derived from them (C5.2-6)."""
        request = self._receive(RequestKind.FIND, subject, RequestStatus.IN_PROGRESS)
        finding = find_subject(self.ctx, self.matcher, subject)
        receipt = {**request.receipt, **found_receipt(self.ctx, finding)}
        return self._finish(request, RequestStatus.COMPLETED, receipt)

    def erase(
        self, subject: Subject, on_step: Callable[[str], None] = lambda _: None
    ) -> SubjectRequest:
        """Erase the subject everywhere, resuming this person's interrupted erasure if any."""
        digest = self.matcher.digest(subject)
        request = ledger.open_request_for(self.ctx.engine, RequestKind.ERASE, digest)
        if request is None:
            request = self._receive(RequestKind.ERASE, subject, RequestStatus.IN_PROGRESS)
        holder = f"{self.ctx.actor} subject erasure {request.request_id}"
        with ledger_lock(
            self.ctx.engine, LOCK, holder, stale=self.lock_stale, heartbeat=self.lock_heartbeat
        ) as held:
            on_step("finding the subject")
            finding = find_subject(self.ctx, self.matcher, subject)
            steps = ledger.add_steps(
                self.ctx.engine,
                request.id,
                [(h.dataset, h.partition, h.newest_rows) for h in finding.partitions()],
                self.ctx.clock.now(),
            )
            done, left = self._erase_steps(held, subject, request, steps, on_step)
        receipt = {**request.receipt, **found_receipt(self.ctx, finding), "done": done}
        receipt["recipients"] = [r for d in done for r in d.get("recipients", [])]
        receipt["deferred"] = [d for d in left if "legal_hold" in d]
        receipt["failed"] = [d for d in left if "problem" in d]
        status = RequestStatus.IN_PROGRESS if left else RequestStatus.COMPLETED
        return self._finish(request, status, receipt)

    def _erase_steps(
        self,
        held: Held,
        subject: Subject,
        request: SubjectRequest,
        steps: list[ErasureStep],
        on_step: Callable[[str], None],
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Each step not done yet, upstream datasets first. A partition under a legal hold is
        deferred (C5.2-11); one whose purge fails is an incident (C4.1-3), nothing of it
        certified; either way the request stays open for the next run to finish."""
        now = self.ctx.clock.now()
        holds = [
            Hold(h.dataset, h.partition, h.reason, h.until)
            for h in all_active_holds(self.ctx.engine)
        ]
        done: list[dict[str, Any]] = []
        left: list[dict[str, Any]] = []
        for step in sorted(steps, key=lambda s: self._depth(s.dataset)):
            if step.completed_at is not None:
                done.append(_step_done(step))
                continue
            hold = next((h for h in holds if h.covers(step.dataset, step.partition, now)), None)
            where = {"dataset": step.dataset, "partition": step.partition or None}
            if hold is not None:
                left.append({**where, "legal_hold": hold.reason})
                continue
            on_step(f"erasing from {step.dataset} {step.partition}".rstrip())
            try:
                erased = erase_partition(self.ctx, held, self.matcher, subject, request, step)
            except LockLost:
                raise
            except (StewardError, PurgeIncomplete, OSError) as exc:
                left.append({**where, "problem": self._failed(request, step, exc)})
                continue
            done.append(dataclasses.asdict(erased))
        return done, left

    def _failed(self, request: SubjectRequest, step: ErasureStep, exc: Exception) -> str:
        """A step that could not be completed or verified: an incident (C4.1-3)."""
        error = str(exc)[:2000]
        incident(
            self.ctx,
            None,
            IncidentKind.PURGE_FAILED,
            step.dataset,
            step.partition,
            {"request": request.request_id, "error": error},
        )
        return error

    def export(self, subject: Subject, folder: Path) -> SubjectRequest:
        """Package the subject's rows from every current version for them, with a cover page
        in Japanese and English (C5.2-6), in a new folder ``folder``."""
        check_target(folder)
        request = self._receive(RequestKind.EXPORT, subject, RequestStatus.IN_PROGRESS)
        written = export_subject(self.ctx, self.matcher, subject, request.request_id, folder)
        return self._finish(request, RequestStatus.COMPLETED, {**request.receipt, **written})

    def correct(
        self, subject: Subject, values: Mapping[str, str], produce: Produce
    ) -> SubjectRequest:
        """Write the subject's corrected values as new versions through the commit path and
        make what is derived from them again (C5.2-6); under the sweep lock, so no row purge
        rewrites the same partition meanwhile."""
        check_columns(self.matcher, subject, values)
        request = self._receive(RequestKind.CORRECT, subject, RequestStatus.IN_PROGRESS)
        holder = f"{self.ctx.actor} subject correction {request.request_id}"
        with ledger_lock(
            self.ctx.engine, LOCK, holder, stale=self.lock_stale, heartbeat=self.lock_heartbeat
        ):
            done = correct_subject(self.ctx, self.matcher, subject, request, values, produce)
        return self._finish(request, RequestStatus.COMPLETED, {**request.receipt, **done})

    def restrict(self, subject: Subject) -> SubjectRequest:
        """Stop every read, derivation and provision of the subject until lifted (C5.2-6)."""
        digest = self.matcher.digest(subject)
        existing = ledger.open_request_for(self.ctx.engine, RequestKind.RESTRICT, digest)
        if existing is not None:
            return existing
        request = self._receive(RequestKind.RESTRICT, subject, RequestStatus.ACTIVE)
        receipt = {**request.receipt, "restricted_from": self.ctx.clock.now().isoformat()}
        return self._finish(request, RequestStatus.ACTIVE, receipt)

    def lift(self, request_id: str) -> SubjectRequest:
        """End a restriction in force."""
        request = ledger.get_request(self.ctx.engine, request_id)
        if request is None or request.kind is not RequestKind.RESTRICT:
            raise NotFound(f"--request {request_id}: no restriction with this id (C5.2-6)")
        if request.status is not RequestStatus.ACTIVE:
            raise BadInput(f"--request {request_id}: the restriction is {request.status} already")
        receipt = {**request.receipt, "lifted_at": self.ctx.clock.now().isoformat()}
        return self._finish(request, RequestStatus.LIFTED, receipt)

    def requests(self) -> list[SubjectRequest]:
        """Every request, oldest first; an open one past its due date becomes an incident."""
        ledger.report_overdue(self.ctx.engine, self.ctx.clock.now(), self.ctx.actor)
        return ledger.list_requests(self.ctx.engine)

    def _receive(
        self, kind: RequestKind, subject: Subject, status: RequestStatus
    ) -> SubjectRequest:
        now = self.ctx.clock.now()
        request_id = f"SR-{now:%Y%m%d}-{uuid.uuid4().hex[:8]}"
        receipt = {
            "request": request_id,
            "kind": kind,
            "identifier_kind": subject.kind,
            "received_at": now.isoformat(),
            "received_by": self.ctx.actor,
        }
        return ledger.add_request(
            self.ctx.engine,
            request_id=request_id,
            kind=kind,
            status=status,
            identifier_kind=subject.kind,
            subject_digest=self.matcher.digest(subject),
            received_at=now,
            due_at=now + ANSWER_WITHIN,
            actor=self.ctx.actor,
            receipt=receipt,
        )

    def _finish(
        self, request: SubjectRequest, status: RequestStatus, receipt: dict[str, object]
    ) -> SubjectRequest:
        now = self.ctx.clock.now()
        if status is RequestStatus.COMPLETED:
            receipt = {**receipt, "completed_at": now.isoformat(), "completed_by": self.ctx.actor}
        return ledger.finish_request(
            self.ctx.engine, request.request_id, status, receipt, now, self.ctx.actor
        )

    def _depth(self, dataset: str) -> int:
        """Upstream datasets are erased before those derived from them."""
        return len(self.ctx.catalog.upstream_closure(dataset))


def _step_done(step: ErasureStep) -> dict[str, object]:
    """A step an earlier, interrupted run completed, as the receipt lists it."""
    return {
        "dataset": step.dataset,
        "partition": step.partition or None,
        "certificate": step.certificate_id,
        "resumed": True,
    }
