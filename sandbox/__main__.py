"""Command line entry point: `python -m sandbox [--host H] [--port N] [--rpm 50] ...`."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Mapping, Sequence

from aiohttp import web

from .config import FIELD_TYPES, ConfigError, SandboxConfig, config_from_env, parse_text
from .server import BACKLOG, create_app

DEFAULT_PORT = 8765


def build_parser() -> argparse.ArgumentParser:
    """Build the parser: host, port, and one flag per config key (`rate_429` → `--rate-429`)."""
    parser = argparse.ArgumentParser(
        prog="python -m sandbox",
        description="Serve the OpenAI-compatible image sandbox. Flags beat SANDBOX_* env, which beats defaults.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=None, help=f"default: $SANDBOX_PORT or {DEFAULT_PORT}")
    defaults = SandboxConfig().as_dict()
    for key in FIELD_TYPES:
        env = "SANDBOX_" + key.upper()
        parser.add_argument(
            f"--{key.replace('_', '-')}", dest=key, metavar="VALUE", help=f"default: ${env} or {defaults[key]}"
        )
    return parser


def load_config(args: argparse.Namespace, environ: Mapping[str, str]) -> SandboxConfig:
    """Merge defaults, `SANDBOX_*` env and flags (flags win) into a validated config."""
    values = config_from_env(environ)
    for key in FIELD_TYPES:
        text = getattr(args, key)
        if text is not None:
            values[key] = parse_text(key, text)
    return SandboxConfig().updated(values)


def main(argv: Sequence[str] | None = None) -> None:
    """Parse arguments and serve until interrupted."""
    args = build_parser().parse_args(argv)
    try:
        config = load_config(args, os.environ)
        port = args.port if args.port is not None else int(os.environ.get("SANDBOX_PORT", DEFAULT_PORT))
    except (ConfigError, ValueError) as exc:
        sys.exit(f"sandbox: {exc}")
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s sandbox %(message)s")
    logging.getLogger("sandbox").info("listening on http://%s:%s with %s", args.host, port, config.as_dict())
    web.run_app(
        create_app(config),
        host=args.host,
        port=port,
        backlog=BACKLOG,
        handler_cancellation=True,
        access_log=None,
        shutdown_timeout=1.0,
        print=None,
    )


if __name__ == "__main__":
    main()
