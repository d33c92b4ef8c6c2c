"""The engine as a Dagster resource: a :class:`Steward` built from the environment when a run
step first needs it, never when the definitions are imported or loaded."""

from __future__ import annotations

from dagster import ConfigurableResource, InitResourceContext

from orchestration.settings import Settings
from orchestration.steward import Steward

STEWARD = "steward"
"""The resource key every asset and operators' op reads the engine under."""


class StewardResource(ConfigurableResource[Steward]):
    """The steward of the district the environment names (``STEWARD_HOME`` and friends).

    Each run process builds its own when a step starts; the ledger, store and key store are
    then opened on first use. An in-process run (the demo, tests) passes a ready
    :class:`Steward` under the same key instead."""

    def create_resource(self, context: InitResourceContext) -> Steward:
        return Steward(Settings.from_env())
