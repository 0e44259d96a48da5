"""Running the HTTP API: beside the worker in `cxgov up`, or alone as `cxgov serve`."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Iterator

import uvicorn

from cxgov.api.app import Gate, create_app
from cxgov.charter import CharterCache, load_charter
from cxgov.client import CxgovClient
from cxgov.errors import BadRequest, Unavailable
from cxgov.identity import KeyStore
from cxgov.identity.oidc import OidcSettings, OidcVerifier
from cxgov.identity.signing import load_signer
from cxgov.settings import Settings

START_TIMEOUT = 15.0


class _Server(uvicorn.Server):
    """uvicorn without its own signal handlers: the process that embeds it decides when it stops."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def bind_address(address: str) -> tuple[str, int]:
    """CXGOV_HTTP_ADDRESS as (host, port); `localhost` binds the loopback interface only.

    Raises:
        BadRequest: Not host:port.
    """
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise BadRequest(f"CXGOV_HTTP_ADDRESS={address!r} is not host:port", field="CXGOV_HTTP_ADDRESS")
    return ("127.0.0.1" if host == "localhost" else host), int(port)


class ApiServer:
    """The API on a uvicorn server inside the running event loop.

    Args:
        gate: What the API answers with.
        address: host:port to bind (port 0: any free port).
    """

    def __init__(self, gate: Gate, *, address: str) -> None:
        host, port = bind_address(address)
        self._shown_host = address.rpartition(":")[0]
        self.gate = gate
        self._server = _Server(uvicorn.Config(create_app(gate), host=host, port=port, log_level="warning"))
        self._task: asyncio.Task[None] | None = None
        self.url = ""

    async def start(self) -> str:
        """Bind and serve; the base URL once it accepts connections.

        Raises:
            Unavailable: The address cannot be bound (in use, not an address of this machine).
        """
        self._task = asyncio.create_task(self._server.serve())
        loop = asyncio.get_running_loop()
        deadline = loop.time() + START_TIMEOUT
        while not self._server.started:
            if self._task.done() or loop.time() > deadline:
                self._server.should_exit = True
                with contextlib.suppress(BaseException):
                    await self._task
                config = self._server.config
                raise Unavailable(
                    f"the HTTP API cannot listen on {config.host}:{config.port} (in use?); set CXGOV_HTTP_ADDRESS"
                )
            await asyncio.sleep(0.02)
        port = self._server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://{self._shown_host}:{port}"
        return self.url

    async def stop(self) -> None:
        """Stop accepting, finish what is in flight, and return."""
        self._server.should_exit = True
        if self._task is not None:
            with contextlib.suppress(BaseException):
                await self._task


def gate_for(settings: Settings, client: CxgovClient) -> Gate:
    """The API's dependencies from the settings: keys in the archive database, OIDC when configured."""
    oidc = None
    if settings.oidc_issuer is not None:
        oidc = OidcVerifier(
            OidcSettings(issuer=settings.oidc_issuer, audience=settings.oidc_audience, claim=settings.oidc_claim)
        )
    return Gate(
        client=client,
        keys=KeyStore(settings.audit_url),
        charters=CharterCache(settings.charter_path),
        settings=settings,
        oidc=oidc,
    )


async def serve_api(settings: Settings, *, say: Callable[[str], None]) -> None:
    """`cxgov serve`: the API alone, against CXGOV_TEMPORAL_ADDRESS, until SIGINT or SIGTERM."""
    charter = load_charter(settings.charter_path)
    bind_address(settings.http_address)
    client = await CxgovClient.connect(settings, signer=load_signer(settings.signing_key_path))
    gate = gate_for(settings, client)
    server = ApiServer(gate, address=settings.http_address)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        url = await server.start()
        say(f"HTTP API             {url}  (docs {url}/docs; charter {charter.charter} v{charter.version})")
        say("serving; Ctrl-C stops")
        await stop.wait()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        await server.stop()
        gate.keys.close()
        say("stopped the HTTP API")
