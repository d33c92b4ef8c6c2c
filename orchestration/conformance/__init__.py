"""Conformance with the guideline: the registry of controls and the reports made from it."""
