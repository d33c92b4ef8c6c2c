"""The code location that ``workspace.yaml`` loads: every declared dataset, as an asset.

Importing this module builds nothing: the declarations are read when Dagster asks for the
definitions, and the engine (ledger, store, key store) only when a run step needs it. Loading
imports neither pandas, SQLAlchemy, Alembic nor GX (issue 13, ``tests/unit/test_cli_startup.py``):
the catalog comes from the validated-catalog cache (``STEWARD_CACHE_DIR``) when nothing it
depends on changed (``declarations/cache.py``), and transforms are imported by the run that
calls them.
"""

import gc

import dagster as dg

from orchestration.declarations.catalog import Catalog
from orchestration.declarations.loader import load_catalog
from orchestration.defs.build import assemble
from orchestration.defs.resources import StewardResource
from orchestration.settings import Settings


@dg.definitions
def defs() -> dg.Definitions:
    return code_location_definitions(code_location_catalog(Settings.from_env()))


def code_location_catalog(settings: Settings) -> Catalog:
    """The catalog the code location shows: from the cache when nothing it depends on changed,
    transforms left to the runs that call them."""
    catalog = load_catalog(
        settings.project_root,
        set(settings.backup_targets),
        transforms=False,
        cache_dir=settings.catalog_cache_dir,
    )
    # The catalog lives as long as the process: keep the collector from re-scanning it while
    # Dagster builds its graph (measured in docs/benchmarks.md).
    gc.freeze()
    return catalog


def code_location_definitions(catalog: Catalog) -> dg.Definitions:
    """Every dataset's asset, the jobs and schedules; as long-lived as the catalog, so they
    are kept from the collector too while Dagster resolves the graph."""
    definitions = assemble(catalog, StewardResource())
    gc.freeze()
    return definitions
