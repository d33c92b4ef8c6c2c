"""What the operators' UI may ask of Dagster behind the proxy, and who asked (C5.4-1).

Every GraphQL request through ``steward webserver`` passes here first. Queries pass. Mutations
are an allowlist: launches (runs, re-executions, backfills) get the proxy's user and its seal as
run tags, replacing any the browser sent; operational ones (terminate, reload, schedules and
sensors on or off) pass; the ones that would rewrite the record city-steward keeps in Dagster
(wiping assets, reporting asset events or check results, deleting runs) and every mutation not
named here are refused. Plain JSON in, plain JSON out: no Dagster, tested directly.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from graphql import FieldNode, OperationDefinitionNode, OperationType, VariableNode, parse
from graphql.error import GraphQLError

from orchestration.errors import BadInput

# Launch mutations -> {argument: where its tags are, as a path of keys inside that argument}.
LAUNCHES: dict[str, dict[str, tuple[str, ...]]] = {
    "launchPipelineExecution": {"executionParams": ("executionMetadata", "tags")},
    "launchRun": {"executionParams": ("executionMetadata", "tags")},
    "launchMultipleRuns": {"executionParamsList": ("executionMetadata", "tags")},
    "launchPipelineReexecution": {
        "executionParams": ("executionMetadata", "tags"),
        "reexecutionParams": ("extraTags",),
    },
    "launchRunReexecution": {
        "executionParams": ("executionMetadata", "tags"),
        "reexecutionParams": ("extraTags",),
    },
    "launchPartitionBackfill": {"backfillParams": ("tags",)},
}
# Mutations that change no data and no record of ours.
OPERATIONAL = frozenset(
    {
        "terminatePipelineExecution",
        "terminateRun",
        "terminateRuns",
        "cancelPartitionBackfill",
        "reloadRepositoryLocation",
        "reloadWorkspace",
        "shutdownRepositoryLocation",
        "startSchedule",
        "stopRunningSchedule",
        "resetSchedule",
        "startSensor",
        "stopSensor",
        "resetSensor",
        "setSensorCursor",
        "sensorDryRun",
        "scheduleDryRun",
        "setAutoMaterializePaused",
        "setConcurrencyLimit",
        "deleteConcurrencyLimit",
        "freeConcurrencySlots",
        "freeConcurrencySlotsForRun",
        "logTelemetry",
        "setNuxSeen",
    }
)


class RequestRefused(BadInput):
    """A UI request the proxy-side policy does not allow (HTTP 403, nothing reaches Dagster)."""


def stamp(body: bytes, tags: Mapping[str, str]) -> bytes:
    """The GraphQL request ``body`` with ``tags`` on every run it launches; refused if it holds
    a mutation outside the allowlist or a launch whose parameters are not variables."""
    try:
        payload = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise RequestRefused("the GraphQL request is not JSON") from None
    requests = payload if isinstance(payload, list) else [payload]
    for request in requests:
        if not isinstance(request, dict):
            raise RequestRefused("a GraphQL request must be a JSON object")
        _stamp_one(request, tags)
    return json.dumps(payload).encode()


def mutations_in(query: str) -> list[FieldNode]:
    """The top-level fields of every mutation in ``query`` (a GraphQL document)."""
    try:
        document = parse(query)
    except GraphQLError:
        raise RequestRefused("the GraphQL query does not parse") from None
    return [
        field
        for definition in document.definitions
        if isinstance(definition, OperationDefinitionNode)
        and definition.operation == OperationType.MUTATION
        for field in definition.selection_set.selections
        if isinstance(field, FieldNode)
    ]


def _stamp_one(request: dict[str, Any], tags: Mapping[str, str]) -> None:
    query = request.get("query")
    if not isinstance(query, str):
        raise RequestRefused("a GraphQL request needs its query as text")
    variables = request.get("variables") or {}
    if not isinstance(variables, dict):
        raise RequestRefused("GraphQL variables must be a JSON object")
    for field in mutations_in(query):
        name = field.name.value
        if name in OPERATIONAL:
            continue
        if name not in LAUNCHES:
            raise RequestRefused(
                f"the operators' UI may not {name}: city-steward keeps the record of assets, "
                "checks and runs itself (C5.4-1)"
            )
        for argument in field.arguments:
            path = LAUNCHES[name].get(argument.name.value)
            if path is None:
                continue
            if not isinstance(argument.value, VariableNode):
                raise RequestRefused(f"{name} must pass {argument.name.value} as a variable")
            _tag(variables, argument.value.name.value, path, tags)
    request["variables"] = variables


def _tag(
    variables: dict[str, Any], variable: str, path: tuple[str, ...], tags: Mapping[str, str]
) -> None:
    """Put ``tags`` into the tag list at ``path`` of each parameter object in ``variable``,
    dropping every tag of the same keys the client sent."""
    value = variables.get(variable)
    for params in value if isinstance(value, list) else [value]:
        if not isinstance(params, dict):
            raise RequestRefused(f"the variable {variable} is not a parameter object")
        holder = params
        for key in path[:-1]:
            if holder.get(key) is None:
                holder[key] = {}
            holder = holder[key]
            if not isinstance(holder, dict):
                raise RequestRefused(f"{'.'.join(path[:-1])} in {variable} is not an object")
        listed = holder.get(path[-1]) or []
        if not isinstance(listed, list):
            raise RequestRefused(f"{'.'.join(path)} in {variable} is not a list")
        kept = [t for t in listed if not (isinstance(t, dict) and t.get("key") in tags)]
        holder[path[-1]] = [*kept, *({"key": k, "value": v} for k, v in tags.items())]
