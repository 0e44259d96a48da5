"""The connection to Temporal every cxgov process makes: the pydantic data converter, the tracing interceptor, and
TLS or an API key when the cluster asks for them."""

from __future__ import annotations

import asyncio
from pathlib import Path

from opentelemetry import trace
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import TLSConfig

from cxgov.errors import BadRequest, Unavailable
from cxgov.settings import Settings
from cxgov.tracing import configure_tracing, tracing_interceptor

CONNECT_TIMEOUT = 10.0


async def connect(settings: Settings, *, tracer: trace.Tracer | None = None) -> Client:
    """Connect to Temporal with the pydantic data converter and the tracing interceptor.

    Raises:
        Unavailable: nothing answers at settings.temporal_address.
    """
    configure_tracing(settings.tracing)
    tls, api_key = temporal_security(settings)
    try:
        return await asyncio.wait_for(
            Client.connect(
                settings.temporal_address,
                namespace=settings.namespace,
                data_converter=pydantic_data_converter,
                interceptors=[tracing_interceptor(tracer)],
                tls=tls,
                api_key=api_key,
            ),
            timeout=CONNECT_TIMEOUT,
        )
    except (RuntimeError, TimeoutError, OSError) as err:
        raise Unavailable(
            f"cannot reach Temporal at {settings.temporal_address} ({str(err).splitlines()[0] if str(err) else 'timeout'}); "
            "start the stack with `cxgov up` or set CXGOV_TEMPORAL_ADDRESS"
        ) from None


def temporal_security(settings: Settings) -> tuple[TLSConfig | bool, str | None]:
    """TLS (mTLS with a client certificate) and the API key for Temporal, from CXGOV_TEMPORAL_TLS_* and
    CXGOV_TEMPORAL_API_KEY; plain TCP when none is set (the embedded dev server).

    Raises:
        BadRequest: A certificate without its key (or the reverse), or a file that cannot be read.
    """
    cert, key, ca = settings.temporal_tls_cert, settings.temporal_tls_key, settings.temporal_tls_ca
    if (cert is None) != (key is None):
        raise BadRequest(
            "set both CXGOV_TEMPORAL_TLS_CERT and CXGOV_TEMPORAL_TLS_KEY for mTLS, or neither", field="tls"
        )
    if cert is None and ca is None:
        return (settings.temporal_tls or settings.temporal_api_key is not None), settings.temporal_api_key
    return (
        TLSConfig(
            client_cert=_pem(cert, "CXGOV_TEMPORAL_TLS_CERT"),
            client_private_key=_pem(key, "CXGOV_TEMPORAL_TLS_KEY"),
            server_root_ca_cert=_pem(ca, "CXGOV_TEMPORAL_TLS_CA"),
        ),
        settings.temporal_api_key,
    )


def _pem(path: str | None, variable: str) -> bytes | None:
    if path is None:
        return None
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise BadRequest(f"{variable}={path}: cannot be read ({err.strerror})", field=variable) from None
    if b"-----BEGIN" not in data:
        raise BadRequest(f"{variable}={path}: not a PEM file", field=variable)
    return data


def governed(client: Client, *, tracer: trace.Tracer | None = None) -> Client:
    """The same connection with cxgov's data converter and tracing interceptor added (tests, embedding)."""
    config = client.config()
    config["data_converter"] = pydantic_data_converter
    config["interceptors"] = [*config["interceptors"], tracing_interceptor(tracer)]
    return Client(**config)
