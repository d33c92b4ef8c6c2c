"""Disclosure control: what a statistical or anonymized version made from personal data must
satisfy before it is promoted (C3.3-1, C5.1-4, C5.2-5).

``rules`` says which datasets are controlled and at which thresholds (the district's defaults,
or a dataset's stricter ones); ``tables`` suppresses small cells of statistical tables and
checks the suppression; ``microdata`` measures k-anonymity and l-diversity; ``gate`` applies
the control to a version and turns the checks into the ``disclosure`` dimension the quality
gate records. Results hold counts only, never a cell value (invariant 1).
"""
