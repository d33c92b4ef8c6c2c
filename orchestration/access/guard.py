"""Who is acting, and whether they may (C5.4-1, C5.5-4).

The actor is taken from the database, never from the environment, where the database
authenticates people: on a PostgreSQL ledger it is ``session_user``. A SQLite ledger
authenticates nobody ("unauthenticated demo mode"), and a PostgreSQL superuser can bypass every
grant, so neither identity can prove a role: there no role is checked, and governance actions
are refused unless the demo/test setting ``STEWARD_ALLOW_UNAUTHENTICATED=1`` allows them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from orchestration.errors import BadInput
from orchestration.vocabulary import Role

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from orchestration.access.policy import Policy
    from orchestration.settings import Settings

GOVERNANCE = frozenset(
    {
        "waive",
        "revoke",
        "hold",
        "release",
        "retire",
        "restore",
        "approve",
        "provide",
        "subject export",
        "subject correct",
        "subject restrict",
        "subject lift",
        "subject erase",
    }
)
"""Commands (and the Dagster jobs that do the same) that change what readers, recipients or
the retention sweep may do: refused where nobody is authenticated, unless allowed."""

DEMO_MODE = "unauthenticated demo mode"
PROXY_USER = "user authenticated by the UI's proxy"


class AccessRefused(BadInput):
    """The actor lacks the role, or a second person is needed (exit 2, nothing changed)."""


@dataclass(frozen=True)
class Identity:
    """The acting database user. ``checked``: the database authenticated them and they cannot
    bypass grants, so their roles are enforced; otherwise ``unchecked_because`` says why not."""

    actor: str
    checked: bool
    unchecked_because: str | None = None
    kind: str = "database user"  # or, for a run launched from the UI, the proxy's user


def identify(engine: Engine, fallback_actor: str) -> Identity:
    """The session user of ``engine`` on PostgreSQL; on SQLite, ``fallback_actor`` (which is
    STEWARD_ACTOR) in unauthenticated demo mode."""
    if engine.dialect.name != "postgresql":
        return Identity(
            fallback_actor, False, f"{DEMO_MODE}: the SQLite ledger authenticates nobody"
        )
    from sqlalchemy import text

    with engine.connect() as conn:
        user, superuser = conn.execute(
            text("SELECT session_user, rolsuper FROM pg_roles WHERE rolname = session_user")
        ).one()
    if superuser:
        return Identity(
            str(user), False, f"database user {user} is a PostgreSQL superuser, who bypasses grants"
        )
    return Identity(str(user), True)


@dataclass(frozen=True)
class Access:
    """The access policy applied to one identity."""

    identity: Identity
    policy: Policy | None  # loaded only for a checked identity
    allow_unauthenticated: bool = False

    @property
    def actor(self) -> str:
        return self.identity.actor

    def require(self, command: str) -> None:
        """Refuse ``command`` unless the actor holds a role the policy grants it; unchecked,
        refuse a governance action unless the demo/test setting allows it."""
        if not self.identity.checked:
            if command in GOVERNANCE and not self.allow_unauthenticated:
                raise AccessRefused(
                    f"`steward {command}` is a governance action and cannot run in "
                    f"{self.identity.unchecked_because}: connect to the PostgreSQL ledger as "
                    "your own database user (STEWARD_ALLOW_UNAUTHENTICATED=1 is for the demo "
                    "and tests only) (C5.4-1)"
                )
            return
        policy = self._policy()
        needed = policy.roles_for(command)
        held = policy.roles_of(self.actor)
        if held & needed:
            return
        raise AccessRefused(
            f"`steward {command}` needs the role {_names(needed) or '(none named)'}"
            f"; {self.identity.kind} {self.actor} holds {_names(held) or 'no role'} in "
            f"{policy.source} "
            "(C5.4-1)"
        )

    def launched_by(self, user: str) -> Access:
        """The same policy applied to the person the proxy authenticated for a run launched
        from the UI (``orchestration/access/launches.py``); checked exactly when the run's own
        database user is, since only then does the policy apply at all."""
        return replace(self, identity=replace(self.identity, actor=user, kind=PROXY_USER))

    def _policy(self) -> Policy:
        if self.policy is None:
            raise AccessRefused("no access policy was loaded for a checked identity (C5.4-1)")
        return self.policy

    def require_not_producer(self, producers: set[str], label: str) -> None:
        """Separation of duties: whoever produced a version does not waive it (C5.5-4)."""
        if self.identity.checked and self.actor in producers:
            raise AccessRefused(
                f"{label} was produced by {self.actor}, who therefore cannot waive it: "
                "another data steward must (C5.5-4)"
            )

    def hold_needs_approval(self, until: datetime | None, now: datetime) -> bool:
        """A hold without an end, or longer than the policy's limit, needs a second approver."""
        if not self.identity.checked:
            return False
        limit = timedelta(days=self._policy().longest_hold_days)
        return until is None or until - now > limit

    @property
    def retire_needs_approval(self) -> bool:
        """Every retirement needs a second approver where people are authenticated."""
        return self.identity.checked


def _names(roles: frozenset[Role]) -> str:
    return " or ".join(sorted(r.value for r in roles))


def access_for(settings: Settings, engine: Engine) -> Access:
    """The policy of this project applied to the database user of ``engine``; read only when
    that user's roles can be checked (``steward check`` validates it regardless); the policy
    module (and pydantic) is imported only then."""
    identity = identify(engine, settings.actor)
    if not identity.checked:
        return Access(identity, None, settings.allow_unauthenticated)
    from orchestration.access.policy import load_policy, policy_path

    policy = load_policy(policy_path(settings.project_root, settings.access_policy))
    return Access(identity, policy, settings.allow_unauthenticated)
