"""Signatures that make the front door the only door.

The HTTP server signs (Ed25519) every request it starts and every human decision it forwards, naming the
principal its credential proved; workflows verify against the public keys the worker trusts, so a client that
reaches Temporal directly, with a made-up actor or approver, is refused on the record. The worker in turn
seals (HMAC-SHA256, its own secret) each decision authorize made, and its effect activities act only on a
sealed call: `execute_action` scheduled by any other workflow finds no valid seal and refuses.

Everything here is pure but for reading and creating key files; the workflows import `verify` (deterministic).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from cxgov.errors import BadRequest
from cxgov.wire import ActionRequest, Assertion, ConnectorCall

SEAL_BYTES = 32


def canonical(payload: Mapping[str, Any]) -> bytes:
    """The bytes a signature covers: sorted keys, no spaces, amounts as the text the wire carries."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), default=_plain).encode()


def _plain(value: object) -> object:
    if isinstance(value, Decimal):
        return str(value)  # as the wire carries it: "40.00" stays "40.00"
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} cannot be signed")


def key_id_of(public: bytes) -> str:
    """A short, stable name for a public key: the first 16 hex digits of its sha256."""
    return hashlib.sha256(public).hexdigest()[:16]


@dataclass(frozen=True)
class Signer:
    """The HTTP server's Ed25519 key."""

    private: Ed25519PrivateKey

    @property
    def public(self) -> bytes:
        return self.private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    @property
    def key_id(self) -> str:
        return key_id_of(self.public)

    def sign(self, payload: Mapping[str, Any], *, principal: str, at: datetime) -> Assertion:
        """An assertion that `principal` (proven by its credential) asked for exactly `payload` at `at`."""
        body = {**payload, "principal": principal, "signed_at": at.isoformat()}
        signature = self.private.sign(canonical(body))
        return Assertion(
            key_id=self.key_id,
            principal=principal,
            signed_at=at,
            signature=base64.b64encode(signature).decode(),
        )


def verify(
    assertion: Assertion | None, payload: Mapping[str, Any], *, principal: str, trusted: Mapping[str, str]
) -> str | None:
    """Why `assertion` does not prove that `principal` asked for `payload`, or None when it does.

    Args:
        trusted: key id -> base64 raw Ed25519 public key, the keys the worker trusts.
    """
    if assertion is None:
        return "it carries no signature of a trusted cxgov server: it did not come through the front door"
    if assertion.principal != principal:
        return f"it is signed for {assertion.principal!r}, not {principal!r}"
    public = trusted.get(assertion.key_id)
    if public is None:
        return f"it is signed with key {assertion.key_id[:16]!r}, which this worker does not trust"
    body = {**payload, "principal": assertion.principal, "signed_at": assertion.signed_at.isoformat()}
    try:
        Ed25519PublicKey.from_public_bytes(base64.b64decode(public)).verify(
            base64.b64decode(assertion.signature, validate=True), canonical(body)
        )
    except (InvalidSignature, ValueError):
        return "its signature does not verify: the request was altered or forged"
    return None


def action_payload(request: ActionRequest) -> dict[str, Any]:
    """What a signed action request covers: every field but the signature itself."""
    # Without an override the payload is what it was before overrides existed: older signatures still verify.
    left_out = {"assertion"} if request.override is not None else {"assertion", "override"}
    return {"kind": "action", **request.model_dump(exclude=left_out)}


def decision_payload(*, verdict: str, action_id: str, person: str, reason: str, digest: str) -> dict[str, Any]:
    """What a signed approve, deny or reverse covers."""
    return {"kind": verdict, "action_id": action_id, "person": person, "reason": reason, "digest": digest}


def override_payload(*, action_id: str, of_action: str, person: str, reason: str) -> dict[str, Any]:
    """What a signed override covers: the request that re-runs `of_action`, by `person`, for `reason`."""
    return {"kind": "override", "action_id": action_id, "of_action": of_action, "person": person, "reason": reason}


def freeze_payload(*, action_id: str, scope: str, person: str, reason: str) -> dict[str, Any]:
    """What a signed freeze order to one waiting action covers."""
    return {"kind": "freeze", "action_id": action_id, "scope": scope, "person": person, "reason": reason}


def seal(secret: bytes, call: ConnectorCall) -> str:
    """The worker's seal on a connector call authorize (or authorize_reversal) allowed."""
    body = {"action_id": call.action_id, "action": call.action, "customer": call.customer, "params": call.params}
    return hmac.new(secret, canonical(body), hashlib.sha256).hexdigest()


def sealed(secret: bytes, call: ConnectorCall) -> bool:
    """Whether `call` carries this worker's seal over exactly its action id, action, customer and params."""
    return call.seal is not None and hmac.compare_digest(call.seal, seal(secret, call))


def load_signer(path: Path) -> Signer:
    """The Ed25519 key at `path` (raw 32 bytes, base64), created 0600 when missing.

    Raises:
        BadRequest: The file is not such a key.
    """
    raw = _secret_file(path, lambda: base64.b64encode(Ed25519PrivateKey.generate().private_bytes_raw()).decode())
    try:
        return Signer(Ed25519PrivateKey.from_private_bytes(base64.b64decode(raw, validate=True)))
    except ValueError:
        raise BadRequest(
            f"{path} is not an Ed25519 signing key (32 bytes, base64)", field="CXGOV_SIGNING_KEY"
        ) from None


def load_seal_secret(path: Path) -> bytes:
    """The worker's seal secret at `path` (32 random bytes, hex), created 0600 when missing."""
    raw = _secret_file(path, lambda: secrets.token_hex(SEAL_BYTES))
    try:
        secret = bytes.fromhex(raw)
    except ValueError:
        secret = b""
    if len(secret) < 16:
        raise BadRequest(f"{path} is not a worker seal secret (hex, 16 bytes or more)", field="CXGOV_WORKER_KEY")
    return secret


def public_key_text(signer: Signer) -> str:
    """`<key id>:<base64 public key>`, the form CXGOV_TRUSTED_KEYS takes."""
    return f"{signer.key_id}:{base64.b64encode(signer.public).decode()}"


def parse_trusted(text: str) -> dict[str, str]:
    """CXGOV_TRUSTED_KEYS: comma-separated base64 Ed25519 public keys (optionally `<key id>:` first).

    Raises:
        BadRequest: An entry that is not a 32-byte public key.
    """
    found: dict[str, str] = {}
    for entry in (part.strip() for part in text.split(",")):
        if not entry:
            continue
        encoded = entry.rpartition(":")[2]
        try:
            raw = base64.b64decode(encoded, validate=True)
            Ed25519PublicKey.from_public_bytes(raw)
        except ValueError:
            raise BadRequest(
                f"CXGOV_TRUSTED_KEYS: {entry[:30]!r} is not an Ed25519 public key", field="CXGOV_TRUSTED_KEYS"
            ) from None
        found[key_id_of(raw)] = base64.b64encode(raw).decode()
    return found


def _secret_file(path: Path, make: Any) -> str:
    """Read a secret file, or create it exclusively (0600) so two processes starting together agree."""
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    value = str(make())
    draft = path.with_name(f".{path.name}.{secrets.token_hex(6)}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(value + "\n")
    try:
        os.link(draft, path)  # atomic, and only if no other process created the file first
    except FileExistsError:
        return path.read_text().strip()
    finally:
        draft.unlink(missing_ok=True)
    return value


def trusted_keys_of(*, setting: str | None, signing_key: Path) -> dict[str, str]:
    """The keys a worker trusts: CXGOV_TRUSTED_KEYS when set, else the public half of CXGOV_SIGNING_KEY (one
    machine, or a key file shared with the HTTP server). A worker trusting no server's key denies everything."""
    if setting is not None:
        return parse_trusted(setting)
    signer = load_signer(signing_key)
    return {signer.key_id: base64.b64encode(signer.public).decode()}
