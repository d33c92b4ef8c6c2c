"""Dataset and retention-policy declarations: models, loading, load-time rules, JSON Schema."""

from orchestration.declarations.catalog import Catalog
from orchestration.declarations.loader import load_catalog

__all__ = ["Catalog", "load_catalog"]
