"""The code location that ``workspace.yaml`` loads: every declared dataset, as an asset."""

from orchestration.defs.build import build_definitions
from orchestration.settings import Settings
from orchestration.steward import Steward

defs = build_definitions(Steward(Settings.from_env()))
