"""The access policy as reviewed data (``access/policy.yaml``, C5.4-1, C5.5-4): the roles, who
holds them, which roles may run each command or job, and the longest hold one person may place.

It is loaded all or nothing like the other declarations: every problem names the file and the
field, and ``steward check`` prints them together (exit 2).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from orchestration.errors import DeclarationErrors
from orchestration.vocabulary import Role

POLICY_FILE = Path("access") / "policy.yaml"


class _PolicyFile(BaseModel):
    """The file as written: unknown fields are refused so a typo is not silently ignored."""

    model_config = ConfigDict(extra="forbid")

    roles: dict[str, str]
    actors: dict[str, list[str]] = Field(default_factory=dict)
    longest_hold_without_approval_days: int = Field(ge=1)
    commands: dict[str, list[str]]


@dataclass(frozen=True)
class Policy:
    """Who holds which role, and which roles may run each command (by its ``steward`` path)."""

    actors: dict[str, frozenset[Role]]
    commands: dict[str, frozenset[Role]]
    longest_hold_days: int
    source: str

    def roles_of(self, actor: str) -> frozenset[Role]:
        return self.actors.get(actor, frozenset())

    def roles_for(self, command: str) -> frozenset[Role]:
        """The roles that may run ``command``; none for a command the policy does not name."""
        return self.commands.get(command, frozenset())

    def may(self, actor: str, command: str) -> bool:
        return bool(self.roles_of(actor) & self.roles_for(command))


def policy_path(project_root: Path, override: str | None = None) -> Path:
    """Where the policy lives: ``STEWARD_ACCESS_POLICY`` if set, else ``access/policy.yaml``."""
    return Path(override).resolve() if override else project_root / POLICY_FILE


def load_policy(path: Path, commands: set[str] | None = None) -> Policy:
    """Read and validate the policy; ``commands`` (the CLI's command paths), when given, is
    what the policy may name, so a misspelt command is caught rather than left to nobody."""
    where = str(path)
    if not path.is_file():
        raise DeclarationErrors([f"{where}: the access policy is missing (C5.4-1)"])
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        parsed = _PolicyFile.model_validate(raw)
    except yaml.YAMLError as exc:
        raise DeclarationErrors([f"{where}: not valid YAML ({exc.__class__.__name__})"]) from None
    except ValidationError as exc:
        raise DeclarationErrors(
            [
                f"{where}: field {'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}"
                for e in exc.errors()
            ]
        ) from None
    problems = _problems(parsed, where, commands)
    if problems:
        raise DeclarationErrors(problems)
    return Policy(
        actors={a: frozenset(Role(r) for r in rs) for a, rs in parsed.actors.items()},
        commands={c: frozenset(Role(r) for r in rs) for c, rs in parsed.commands.items()},
        longest_hold_days=parsed.longest_hold_without_approval_days,
        source=where,
    )


def _problems(parsed: _PolicyFile, where: str, commands: set[str] | None) -> list[str]:
    """Every role named must be one of the four; every command must be one the CLI has."""
    known = {r.value for r in Role}
    problems = [
        f"{where}: field roles.{name}: unknown role (one of {', '.join(sorted(known))}; C5.4-1)"
        for name in parsed.roles
        if name not in known
    ]
    problems += [
        f"{where}: field roles: role {name} is not described (C5.4-1)"
        for name in sorted(known - set(parsed.roles))
    ]
    for section, mapping in (("actors", parsed.actors), ("commands", parsed.commands)):
        for key, roles in mapping.items():
            problems += [
                f"{where}: field {section}.{key}: unknown role {role!r} (C5.4-1)"
                for role in roles
                if role not in known
            ]
            if not roles:
                problems.append(f"{where}: field {section}.{key}: names no role (C5.4-1)")
    if commands is not None:
        problems += [
            f"{where}: field commands.{name}: no such steward command (C5.4-1)"
            for name in sorted(set(parsed.commands) - commands)
        ]
    return problems
