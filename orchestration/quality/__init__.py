"""Data quality (C5.5-1, C5.5-4, C5.5-5): suites as files, evaluation, gates, reports."""
