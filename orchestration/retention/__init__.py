"""Retention (C5.2-3, C5.2-11): deadlines, sweep planning (pure), execution, certificates,
legal holds and retirement."""
