"""Provision packages: signed, verifiable hand-overs of data to declared recipients (C5.2-12)."""
