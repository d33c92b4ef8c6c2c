"""Retention (C5.2-3, C5.2-11): deadlines, sweep planning (pure), execution, certificates,
legal holds and retirement.

``deadlines`` and ``plan`` are pure (the planner); ``state`` reads what the planner needs;
``sweep`` runs a plan under the sweep lock: ``partitions`` (intents, whole partitions),
``row_purges`` (expired rows), ``destroy`` (delete and verify), ``certify`` (certificate,
tombstones and intents in one transaction), then ``inventory``, ``reconcile`` (pure) and
``orphans`` for what the ledger never saw; ``report`` holds its outcome and incidents,
``context`` the collaborators it is given. ``guard`` refuses reads past a deadline; ``holds``
and ``certificates`` serve the operators. The ledger side is ``ledger.purges``,
``ledger.intents``, ``ledger.holds``, ``ledger.certificates`` and ``ledger.incidents``.
"""
