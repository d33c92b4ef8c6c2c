"""The code location that ``workspace.yaml`` loads: every declared dataset, as an asset.

Importing this module builds nothing: the declarations are read when Dagster asks for the
definitions, and the engine (ledger, store, key store) only when a run step needs it."""

import dagster as dg

from orchestration.declarations.loader import load_catalog
from orchestration.defs.build import assemble
from orchestration.defs.resources import StewardResource
from orchestration.settings import Settings


@dg.definitions
def defs() -> dg.Definitions:
    settings = Settings.from_env()
    catalog = load_catalog(settings.project_root, set(settings.backup_targets))
    return assemble(catalog, StewardResource())
