"""Data-subject requests along lineage (C5.2-6): find, export, correct, restrict and erase one
person's data in every version, derivation and backup, with receipts.

``matching`` (declared identifiers, keyed digests), ``receipts`` (finding and what a receipt
says), ``erase`` (the sweep's executor, per partition), ``export``, ``correct``, ``restrict``
(the store's read-path filter) and ``service`` (the requests, their ids, due dates and audit).
"""
