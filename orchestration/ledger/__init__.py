"""The ledger: versions, version lineage, backup copies, restores and the audit log."""
