"""Backups of promoted versions: copying, verifying and restoring (C5.4-3, C5.5-3)."""
