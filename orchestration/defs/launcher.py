"""Who a run acts as (C5.4-1): the person the proxy authenticated when the run was launched
from the operators' UI behind it, else the run's own database user.

Every operators' job and every materialization starts here. A run whose launch tags do not
carry a valid seal fails before it does anything (``orchestration/access/launches.py``).
"""

from dataclasses import replace

from dagster import Failure, OpExecutionContext

from orchestration.access.guard import access_for
from orchestration.access.launches import launch_of
from orchestration.errors import BadInput
from orchestration.steward import Steward


def acting(context: OpExecutionContext, steward: Steward, command: str | None = None) -> Steward:
    """The steward acting as whoever launched the run, once that person (or, without a UI
    launch, the database user) is found allowed to run ``command``, the name of the ``steward``
    command that does the same; None checks no role (a materialization)."""
    try:
        launch = launch_of(
            context.run.tags, steward.settings.ui_launch_key_path, steward.clock.now()
        )
        if command is not None:
            access = access_for(steward.settings, steward.engine)
            if launch is not None:
                access = access.launched_by(launch.user)
            access.require(command)
    except BadInput as refused:  # the role is missing, or the launch claim is not sealed
        raise Failure(description=str(refused), allow_retries=False) from None
    if launch is None or launch.user == steward.settings.actor:
        return steward
    return Steward(replace(steward.settings, actor=launch.user), steward.catalog)
