"""Governance actions operators take on the ledger: waive, hold, release, retire."""
