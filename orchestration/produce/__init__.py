"""Producing a dataset partition: guarded reads of upstream versions, compute, commit."""
