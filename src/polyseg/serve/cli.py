"""``polyseg serve``: run the page, the CVAT interactor endpoint and (``--label-studio``) the Label Studio ML
backend on one port. Needs ``pip install "polyseg[serve]"``."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from .protocol import BODY_TIMEOUT, HEADER_TIMEOUT, MAX_HEAD_BYTES


def _basic(text: str) -> tuple[str, str]:
    user, sep, password = text.partition(":")
    if not sep or not user or not password:
        raise argparse.ArgumentTypeError("basic auth must be USER:PASSWORD")
    return user, password


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="polyseg serve",
        description="Serve polyseg over HTTP: a page to try it, CVAT's interactor contract (POST /api/cvat) and, "
        "with --label-studio, a Label Studio ML backend.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=9090, help="port (default 9090, as Label Studio ML backends)")
    p.add_argument("--label-studio", action="store_true", help="answer Label Studio's ML backend protocol")
    p.add_argument("--label-studio-url", default=os.environ.get("LABEL_STUDIO_URL"),
                   help="Label Studio to fetch task images from (default: $LABEL_STUDIO_URL)")
    p.add_argument("--label-studio-api-key", default=os.environ.get("LABEL_STUDIO_API_KEY"),
                   help="its API token (default: $LABEL_STUDIO_API_KEY)")
    p.add_argument("--image-root", type=Path, help="allow task images given as local paths under this folder")
    p.add_argument("--token", default=os.environ.get("POLYSEG_TOKEN"),
                   help="require 'Authorization: Bearer TOKEN' (default: $POLYSEG_TOKEN)")
    env_basic = os.environ.get("BASIC_AUTH_USER"), os.environ.get("BASIC_AUTH_PASS")
    p.add_argument("--basic-auth", type=_basic, default=env_basic if all(env_basic) else None, metavar="USER:PASS",
                   help="require HTTP basic auth (default: $BASIC_AUTH_USER / $BASIC_AUTH_PASS)")
    p.add_argument("--max-body-mb", type=float, default=32.0, help="largest request body, MB (default 32)")
    p.add_argument("--header-timeout", type=float, default=HEADER_TIMEOUT, metavar="S",
                   help=f"seconds a connection may take to send a request's headers (default {HEADER_TIMEOUT:g})")
    p.add_argument("--read-timeout", type=float, default=BODY_TIMEOUT, metavar="S",
                   help=f"seconds a request body may take to arrive (default {BODY_TIMEOUT:g})")
    p.add_argument("--tolerance", type=float, default=1.4, help="polygon tolerance for CVAT / Label Studio, px")
    p.add_argument("--model", type=Path, help="an OpenVINO IR .xml instead of the bundled weights")
    p.add_argument("--threads", type=int, help="OpenVINO inference threads (default: OpenVINO's choice)")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        import uvicorn

        from ..segmenter import Segmenter
        from .app import create_app
        from .label_studio import ImageLoader
        from .protocol import protocol_class
    except ImportError as exc:
        print(f"polyseg serve: error: {exc}; install the server with: pip install 'polyseg[serve]'", file=sys.stderr)
        return 2
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    if args.host not in ("127.0.0.1", "localhost", "::1") and not (args.token or args.basic_auth):
        print(f"polyseg serve: warning: listening on {args.host} without --token or --basic-auth", file=sys.stderr)
    try:
        segmenter = Segmenter.from_pretrained(args.model, num_threads=args.threads)
    except (FileNotFoundError, ValueError) as exc:
        print(f"polyseg serve: error: {exc}", file=sys.stderr)
        return 2
    max_body = int(args.max_body_mb * 1024 * 1024)
    app = create_app(
        segmenter,
        label_studio=args.label_studio,
        loader=ImageLoader(args.label_studio_url, args.label_studio_api_key, args.image_root),
        token=args.token,
        basic_auth=args.basic_auth,
        max_body_bytes=max_body,
        tolerance=args.tolerance,
    )
    http = protocol_class(header_timeout=args.header_timeout, body_timeout=args.read_timeout, max_body_bytes=max_body)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, http=http, timeout_keep_alive=5,
                h11_max_incomplete_event_size=MAX_HEAD_BYTES)
    segmenter.close()
    return 0
