"""Detection on values at ingest: direct identifiers where none are declared (C5.2-5) and
special care-required terms (C5.2-4), before a staged version can be read."""
