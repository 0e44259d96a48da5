"""Reaching a secured Temporal: TLS, mTLS and API keys from CXGOV_TEMPORAL_TLS_* and CXGOV_TEMPORAL_API_KEY."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from temporalio.service import TLSConfig
from temporalio.testing import WorkflowEnvironment

from cxgov.connection import connect, temporal_security
from cxgov.errors import BadRequest, Unavailable
from cxgov.settings import Settings


def pem_pair(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cxgov-worker")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "client.pem", folder / "client.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def test_plain_tcp_by_default_and_tls_with_an_api_key(tmp_path: Path) -> None:
    assert temporal_security(Settings(home=tmp_path)) == (False, None)
    assert temporal_security(Settings(home=tmp_path, temporal_api_key="k-123")) == (True, "k-123")
    assert temporal_security(Settings(home=tmp_path, temporal_tls=True)) == (True, None)


def test_mtls_reads_the_certificate_key_and_ca(tmp_path: Path) -> None:
    cert, key = pem_pair(tmp_path)
    tls, api_key = temporal_security(
        Settings(home=tmp_path, temporal_tls_cert=str(cert), temporal_tls_key=str(key), temporal_tls_ca=str(cert))
    )
    assert isinstance(tls, TLSConfig) and api_key is None
    assert tls.client_cert == cert.read_bytes() and tls.client_private_key == key.read_bytes()
    assert tls.server_root_ca_cert == cert.read_bytes()


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"temporal_tls_cert": "client.pem"}, "set both CXGOV_TEMPORAL_TLS_CERT and CXGOV_TEMPORAL_TLS_KEY"),
        ({"temporal_tls_ca": "/nowhere/ca.pem"}, "CXGOV_TEMPORAL_TLS_CA=/nowhere/ca.pem: cannot be read"),
        ({"temporal_tls_ca": "settings.txt"}, "not a PEM file"),
    ],
)
def test_bad_tls_settings_are_one_clear_error(tmp_path: Path, fields: dict[str, str], problem: str) -> None:
    (tmp_path / "settings.txt").write_text("not a certificate")
    resolved = {name: str(tmp_path / value) if not value.startswith("/") else value for name, value in fields.items()}
    with pytest.raises(BadRequest, match=problem.replace("(", r"\(")):
        temporal_security(Settings(home=tmp_path, **resolved))  # type: ignore[arg-type]


async def test_tls_to_a_plaintext_server_does_not_connect(dev_env: WorkflowEnvironment, tmp_path: Path) -> None:
    address = dev_env.client.service_client.config.target_host
    with pytest.raises(Unavailable, match=f"cannot reach Temporal at {address}"):
        await connect(Settings(home=tmp_path, temporal_address=address, temporal_tls=True))
    assert await connect(Settings(home=tmp_path, temporal_address=address)) is not None
