"""The ``provide`` job: an operator provides a dataset to a recipient from the UI's launchpad
(design invariant 9). The config form names the dataset, recipient, purpose, partitions,
version and columns; the provisioner checks every rule, and a refusal fails the run naming
each clause. Each provision is shown on the dataset's page as an observation."""

# No ``from __future__ import annotations`` here: Dagster reads the op's ``context`` and
# ``config`` annotations when it is defined.
from collections.abc import Mapping
from typing import TYPE_CHECKING

from dagster import AssetKey, AssetObservation, Config, Failure, OpExecutionContext, job, op
from pydantic import Field

from orchestration.defs.jobs import DEMO_MODE_LINE
from orchestration.defs.launcher import acting
from orchestration.defs.resources import STEWARD
from orchestration.defs.ui_events import state_evaluation
from orchestration.errors import BadInput
from orchestration.vocabulary import asset_path

if TYPE_CHECKING:  # the ledger (SQLAlchemy) loads in a run, not with the definitions (issue 13)
    from orchestration.governance.partition_state import PartitionStatus


class ProvideConfig(Config):
    """What the launchpad asks for; checked by the provisioner before anything happens."""

    dataset: str = Field(description="The dataset key, e.g. city_os/od_matrix_daily.")
    recipient: str = Field(description="A recipient declared in recipients/.")
    purpose: str = Field(description="Why the recipient receives it (C5.2-7).")
    partitions: list[str] = Field(
        default_factory=list, description="Days (YYYY-MM-DD) of a daily dataset."
    )
    version: int | None = Field(default=None, description="A version of the one partition.")
    columns: list[str] = Field(default_factory=list, description="Columns (default: all).")


class _Observations:
    """The provisioner's reporter inside a run: observations in the run's own event log."""

    def __init__(self, context: OpExecutionContext) -> None:
        self.context = context

    def report(self, dataset: str, partition: str | None, metadata: dict[str, object]) -> None:
        self.context.log_event(
            AssetObservation(
                asset_key=AssetKey(asset_path(dataset)), partition=partition, metadata=metadata
            )
        )

    def show_states(self, dataset: str, statuses: Mapping[str, "PartitionStatus"]) -> None:
        for partition, status in statuses.items():
            self.context.log_event(state_evaluation(dataset, partition, status))


@op(
    description="Check, package, deliver and register one provision (C5.2-12, C5.5-5).",
    required_resource_keys={STEWARD},
)
def provide_dataset(context: OpExecutionContext, config: ProvideConfig) -> None:
    from orchestration.provision.service import Order

    # C5.4-1: whoever launched the run (or the run's database user) needs the role
    steward = acting(context, getattr(context.resources, STEWARD), "provide")
    order = Order(
        config.dataset,
        config.recipient,
        config.purpose,
        tuple(config.partitions),
        config.version,
        tuple(config.columns),
    )
    try:
        provision = steward.provisioner(_Observations(context)).provide(order)
    except BadInput as refused:  # a refusal or a bad argument: one message, no traceback
        raise Failure(description=str(refused), allow_retries=False) from None
    context.log.info(
        f"provided {provision.dataset} to {provision.recipient}: package "
        f"{provision.package_id} at {provision.location}"
    )


@job(
    name="provide",
    description="Provide a dataset to a declared recipient with its quality report, terms and "
    "a signed manifest, and record it in the provision register (C5.2-12, C5.5-5)."
    + DEMO_MODE_LINE,
)
def provide() -> None:
    provide_dataset()
