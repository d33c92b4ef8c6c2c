"""One code location per zone, the load split that ``workspace.zones.yaml`` serves.

Each zone's location holds that zone's datasets exactly as the single location
(``orchestration.defs.definitions``) builds them: the assets are taken from ``assemble``'s
result, not built again. An upstream in another zone appears as an external asset (an
``AssetSpec`` of its key, in its own zone's group), so the UI still draws lineage across
locations and a derived asset still follows its upstream's blocking checks (C5.5-2, C5.5-4).
The district-wide jobs and schedules (the sweep, backup verification, audit anchoring, the
incident export and ``provide``) live in one location of their own, ``district``, so that
they run once, not once per zone. Every location builds the same ``StewardResource`` from
the same environment, so all of them share one ledger, key store and store.

A location still parses and checks the whole catalog: the load-time rules (lineage cycles,
classification along lineage, flows back into Railway OS) need every declaration. It also
builds every asset before keeping its zone's. What the split divides is what Dagster
serializes, serves and merges: each location hands over only its zone's assets, and a zone's
location reloads or fails without touching the others (docs/scale.md).
"""

import dagster as dg

from orchestration.declarations.catalog import Catalog
from orchestration.declarations.loader import load_catalog
from orchestration.declarations.models import Zone
from orchestration.defs.build import assemble
from orchestration.defs.resources import StewardResource
from orchestration.settings import Settings
from orchestration.vocabulary import dataset_of_asset_path

DISTRICT_LOCATION = "district"


def zone_of(catalog: Catalog, key: dg.AssetKey) -> Zone:
    """The zone whose location defines the asset ``key``."""
    return catalog.declaration(dataset_of_asset_path(key.path)).zone


def zone_definitions(catalog: Catalog, single: dg.Definitions, zone: Zone) -> dg.Definitions:
    """``zone``'s assets from the single location's ``single``, with every upstream from
    another zone as an external asset, and the same resources."""
    own = [
        a
        for a in single.assets or []
        if isinstance(a, dg.AssetsDefinition) and zone_of(catalog, a.key) == zone
    ]
    keys = {a.key for a in own}
    outside = sorted({d for a in own for d in a.dependency_keys} - keys, key=lambda k: k.path)
    external = [dg.AssetSpec(k, group_name=zone_of(catalog, k).value) for k in outside]
    return dg.Definitions(assets=[*own, *external], resources=single.resources)


def district_definitions(single: dg.Definitions) -> dg.Definitions:
    """The single location's jobs and schedules, with no asset: they act on every zone."""
    return dg.Definitions(jobs=single.jobs, schedules=single.schedules, resources=single.resources)


def _single() -> tuple[Catalog, dg.Definitions]:
    """The catalog and the single location's definitions, as ``definitions.defs`` builds
    them, for this process's environment."""
    settings = Settings.from_env()
    catalog = load_catalog(settings.project_root, set(settings.backup_targets))
    return catalog, assemble(catalog, StewardResource())


def _zone(zone: Zone) -> dg.Definitions:
    catalog, single = _single()
    return zone_definitions(catalog, single, zone)


# One attribute per location in workspace.zones.yaml; each builds nothing until loaded.
@dg.definitions
def rail_os() -> dg.Definitions:
    return _zone(Zone.RAIL_OS)


@dg.definitions
def city_os() -> dg.Definitions:
    return _zone(Zone.CITY_OS)


@dg.definitions
def member() -> dg.Definitions:
    return _zone(Zone.MEMBER)


@dg.definitions
def open_data() -> dg.Definitions:
    return _zone(Zone.OPEN)


@dg.definitions
def district() -> dg.Definitions:
    return district_definitions(_single()[1])


ZONE_LOCATIONS = {
    Zone.RAIL_OS: rail_os,
    Zone.CITY_OS: city_os,
    Zone.MEMBER: member,
    Zone.OPEN: open_data,
}
