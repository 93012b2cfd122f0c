"""Small JWT / timestamp helpers shared by the SDK tests (no third-party JWT library on purpose)."""

from __future__ import annotations

import base64
import json
import os
import time
import uuid
from datetime import datetime, timezone

# Identity ids minted by the emulator for the default resource.
RESOURCE_ID = "acacacac-0000-4000-8000-000000000001"
USER_ID_PREFIX = f"8:acs:{RESOURCE_ID}_"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def decode_jwt_payload(token: str) -> dict:
    """Decode (without verifying) the payload of a compact JWT."""
    parts = token.split(".")
    assert len(parts) == 3, f"not a compact JWT (expected 3 segments): {token!r}"
    payload = parts[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def mint_entra_token(app_id: str, object_id: str, tenant_id: str, lifetime_s: int = 3600) -> str:
    """An Entra-shaped access token of a Teams user, as the Teams token exchange expects.

    The emulator does not check the signature (yet), so random bytes stand in for an RS256 signature.
    """
    now = int(time.time())
    header = {"alg": "RS256", "typ": "JWT"}
    payload = {
        "aud": "https://auth.msft.communication.azure.com",
        "appid": app_id,
        "oid": object_id,
        "tid": tenant_id,
        "exp": now + lifetime_s,
        "iat": now,
    }
    return ".".join(
        [
            b64url(json.dumps(header).encode()),
            b64url(json.dumps(payload).encode()),
            b64url(os.urandom(256)),
        ]
    )


def new_teams_identity() -> tuple[str, str, str]:
    """(app_id, object_id, tenant_id) for a made-up Teams user."""
    return str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())


def parse_expires_on(value) -> datetime:
    """Parse the SDK's ``AccessToken.expires_on`` for an emulator token.

    The Python identity SDK hands the service's ``expiresOn`` through as the raw string
    (its generated model types it as ``str``); the emulator promises RFC 3339 in UTC with ``Z``.
    """
    assert isinstance(value, str), f"expected the raw expiresOn string, got {type(value).__name__}: {value!r}"
    assert value.endswith("Z"), f"expiresOn is not RFC 3339 UTC with 'Z': {value!r}"
    parsed = datetime.fromisoformat(value)
    assert parsed.tzinfo is not None and parsed.utcoffset().total_seconds() == 0
    return parsed


def seconds_from_now(moment: datetime) -> float:
    return (moment - datetime.now(timezone.utc)).total_seconds()
