"""The benchmarks' front door key: governed actions are signed and verified, as through the HTTP API.

Kept out of the benchmark modules that define workflows: the workflow sandbox re-imports those, and a key
generated at import would be a new one (and cryptography's native module does not load twice)."""

from __future__ import annotations

import base64

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cxgov.identity.signing import Signer

SIGNER = Signer(Ed25519PrivateKey.generate())
TRUSTED = {SIGNER.key_id: base64.b64encode(SIGNER.public).decode()}
