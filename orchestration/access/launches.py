"""Who launched a run from the operators' UI, as the authenticating proxy said (C5.4-1).

Behind the proxy (docs/deploy.md), ``steward webserver`` stamps every launch request with the
user in ``X-Forwarded-User`` and a seal: an HMAC over that user and the instant, keyed by a file
only the webserver and the run workers read. A governance job then acts as that user, checked
against the access policy, instead of as the deployment's database user. A tag without a valid
seal is refused, so a run submitted around the proxy cannot claim somebody else.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from orchestration.clock import district_time, ensure_aware, parse_instant
from orchestration.errors import BadInput
from orchestration.secret_files import create_secret, read_secret

LAUNCHED_BY = "steward/launched_by"
LAUNCHED_AT = "steward/launched_at"
LAUNCH_SEAL = "steward/launch_seal"
LAUNCH_TAGS = (LAUNCHED_BY, LAUNCHED_AT, LAUNCH_SEAL)
KEY_BYTES = 32
KEY_NAME = "UI launch key"
# A seal vouches for a launch for this long: a backfill's runs may start hours after it.
SEAL_LIFETIME = timedelta(hours=24)


class LaunchRefused(BadInput):
    """A run claims a launcher its seal does not vouch for (the run fails, C5.4-1)."""


@dataclass(frozen=True)
class Launch:
    """The person the proxy authenticated when the run was launched, and when."""

    user: str
    at: datetime


def launch_key(path: Path) -> bytes:
    """The key at ``path``, made on first use (the webserver makes it; workers read it)."""
    return read_secret(path, KEY_BYTES, KEY_NAME) or create_secret(path, KEY_BYTES, KEY_NAME)


def seal(key: bytes, user: str, at: datetime) -> str:
    message = f"{user}\n{ensure_aware(at).isoformat()}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def launch_tags(key: bytes, user: str, at: datetime) -> dict[str, str]:
    """The tags the webserver puts on a launch request, replacing any the client sent."""
    return {
        LAUNCHED_BY: user,
        LAUNCHED_AT: ensure_aware(at).isoformat(),
        LAUNCH_SEAL: seal(key, user, at),
    }


def launch_of(tags: Mapping[str, str], key_path: Path, now: datetime) -> Launch | None:
    """Who launched the run with ``tags``: None when no launcher is claimed (a schedule, the
    command line); refused when the claim is incomplete, unsealed, forged or too old."""
    claimed = {t: tags[t] for t in LAUNCH_TAGS if t in tags}
    if not claimed:
        return None
    if len(claimed) != len(LAUNCH_TAGS):
        raise LaunchRefused(
            f"the run claims a launcher without all of {', '.join(LAUNCH_TAGS)} (C5.4-1)"
        )
    key = read_secret(key_path, KEY_BYTES, KEY_NAME)
    if key is None:
        raise LaunchRefused(f"the run claims a launcher but there is no {KEY_NAME} at {key_path}")
    try:
        at = parse_instant(claimed[LAUNCHED_AT])
    except ValueError:
        raise LaunchRefused(f"the run's {LAUNCHED_AT} tag is not an instant (C5.4-1)") from None
    user = claimed[LAUNCHED_BY]
    if not hmac.compare_digest(seal(key, user, at), claimed[LAUNCH_SEAL]):
        raise LaunchRefused(
            f"the run claims it was launched by {user}, but its seal does not match: it was not "
            "stamped by the webserver behind the proxy (C5.4-1)"
        )
    if not at <= now <= at + SEAL_LIFETIME:
        raise LaunchRefused(
            f"the run's launch seal of {district_time(at)} is not valid at {district_time(now)} "
            f"(a seal lasts {SEAL_LIFETIME.total_seconds() / 3600:.0f} hours; launch it again)"
        )
    return Launch(user, at)
