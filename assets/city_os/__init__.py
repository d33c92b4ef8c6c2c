"""Transforms of the City OS datasets: statistics and anonymized data only (C3.3-1, C5.2-5)."""
