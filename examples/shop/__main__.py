"""Run the shop: `python -m examples.shop --data FILE [--seed FILE] [--host H] [--port P] [--token-env NAME]`."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from examples.shop.seed import parse_seed
from examples.shop.server import ShopApp, ShopServer
from examples.shop.store import Store
from examples.shop.values import now

DEFAULT_SEED = Path(__file__).with_name("seed.json")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line options."""
    parser = argparse.ArgumentParser(prog="python -m examples.shop", description=__doc__)
    parser.add_argument("--data", type=Path, required=True, help="the SQLite file (created if missing)")
    parser.add_argument("--seed", type=Path, default=DEFAULT_SEED, help="JSON seed loaded into an empty database")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to listen on; 0 picks a free one (default)")
    parser.add_argument(
        "--token-env", default="SHOP_TOKEN", help="environment variable holding the bearer token (default SHOP_TOKEN)"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Open the store, seed it if empty, and serve until SIGTERM or SIGINT.

    Returns:
        The process exit status: 0 after a clean stop, 2 when the seed cannot be loaded.
    """
    args = parse_args(argv)
    store = Store(args.data)
    try:
        if store.is_empty():
            try:
                store.load(*parse_seed(json.loads(args.seed.read_text()), now()))
            except (OSError, ValueError) as exc:
                print(f"shop: cannot load seed {args.seed}: {exc}", file=sys.stderr)
                return 2
        server = ShopServer((args.host, args.port), ShopApp(store, os.environ.get(args.token_env) or None))
        stop = threading.Event()

        def on_signal(_signum: int, _frame: FrameType | None) -> None:
            stop.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        host, port = server.socket.getsockname()[:2]
        print(f"shop listening on http://{host}:{port}", flush=True)
        serving = threading.Thread(target=server.serve_forever, args=(0.1,), name="shop-server", daemon=True)
        serving.start()
        stop.wait()
        server.shutdown()
        server.server_close()
        serving.join()
        return 0
    finally:
        store.close()


if __name__ == "__main__":
    sys.exit(main())
