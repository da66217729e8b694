"""`chalice local`, with API Gateway's own answers in Photofeed's error body.

This is chalice's local server (LocalDevServer, LocalGateway, the `local` stage of
.chalice/config.json), started the way `chalice local --no-autoreload` starts it. What
it adds is what Photofeed configures on API Gateway itself (gateway responses): a path
no route matches is a 404, and a method no route takes (TRACE, QUERY, ...) is a 405,
both with the stable JSON error body instead of `{"message": ...}` or HTML.

It also stands in for the CDN (CloudFront in AWS): GET /cdn/<key> serves renditions
from the private bucket, and nothing else (originals are never served).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import sys
import uuid
from typing import Any
from urllib.parse import unquote

from botocore.exceptions import ClientError
from chalice import Chalice, local
from chalice.cli.factory import CLIFactory
from chalice.config import Config

from chalicelib.api.deps import get_clients
from chalicelib.api.errors import ApiError, BadRequest, MethodNotAllowed, NotFound
from chalicelib.api.middleware import REQUEST_ID_HEADER
from chalicelib.media.keys import RENDITIONS_PREFIX
from devstack.processes import die_with_parent
from devstack.services import CDN_PATH, ROOT


class RequestHandler(local.ChaliceRequestHandler):
    """Chalice's request handler, answering the gateway's errors in our shape."""

    # TCP_NODELAY: an answer goes out as headers, then body, in two writes; with Nagle's
    # algorithm the body waits for the client's delayed ACK of the headers (40 ms).
    disable_nagle_algorithm = True

    def __init__(self, *args: Any, app_object: Chalice, config: Config) -> None:
        # Set before the base class handles the request (it does so in __init__).
        self._routes = app_object.routes
        self._matcher = local.RouteMatcher(list(app_object.routes))
        super().__init__(*args, app_object=app_object, config=config)

    def _send_error_response(self, error: local.LocalGatewayException) -> None:
        if isinstance(error, local.ForbiddenError) and b"Missing Authentication Token" in (
            error.body or b""
        ):
            self._send_api_error(NotFound(f"no route matches {self.path.split('?')[0]}"))
            return
        super()._send_error_response(error)

    def _send_api_error(self, error: ApiError, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(error.body())
        headers = {
            "Content-Type": "application/json",
            REQUEST_ID_HEADER: str(uuid.uuid4()),  # as API Gateway's own answers carry one
            **(headers or {}),
        }
        self._send_http_response(error.status, headers, body)

    def _refuse_method(self) -> None:
        self._read_and_discard_body()
        path = self.path.split("?")[0]
        try:
            route = self._matcher.match_route(self.path).route
        except ValueError:
            self._send_api_error(NotFound(f"no route matches {path}"))
            return
        allowed = ", ".join(sorted(self._routes[route]))
        error = MethodNotAllowed(f"{self.command} is not supported; use {allowed}")
        self._send_api_error(error, {"Allow": allowed})

    def _read_and_discard_body(self) -> None:
        length = self.headers.get("content-length", "0")
        if length.isdigit() and int(length) > 0:
            self.rfile.read(int(length))

    def _serve_rendition(self) -> None:
        """A rendition from the bucket, as CloudFront serves it; 404 for anything else."""
        key = unquote(self.path[len(CDN_PATH) :].split("?")[0])
        clients = get_clients()
        try:
            if not key.startswith(RENDITIONS_PREFIX):
                raise KeyError(key)
            found = clients.s3.get_object(Bucket=clients.settings.bucket, Key=key)
        except (KeyError, ClientError):
            self._send_api_error(NotFound(f"no rendition at {key}"))
            return
        data = found["Body"].read()
        self.send_response(200)
        self.send_header("Content-Type", found["ContentType"])
        self.send_header("Cache-Control", found.get("CacheControl", "no-cache"))
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command == "GET":
            self.wfile.write(data)

    def _generic_handle(self) -> None:
        if self.path.startswith(CDN_PATH) and self.command in ("GET", "HEAD"):
            self._serve_rendition()
            return
        if not self.headers.get("content-length", "0").isdigit():
            self._send_api_error(BadRequest("Content-Length must be a whole number"))
            self.close_connection = True
            return
        super()._generic_handle()

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_PATCH = do_OPTIONS = _generic_handle  # noqa: N815

    def __getattr__(self, name: str) -> Any:
        # Any other method (TRACE, CONNECT, QUERY, ...) is refused as the gateway would.
        if name.startswith("do_"):
            return self._refuse_method
        raise AttributeError(name)


class SharedPortServer(local.ThreadedHTTPServer):
    """Chalice's threaded server on a port that several processes share: the kernel
    spreads connections over them, as API Gateway spreads requests over containers."""

    def server_bind(self) -> None:
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        super().server_bind()


def serve(host: str, port: int, stage: str, workers: int = 1) -> None:
    """Serve the app as `chalice local` does, in `workers` processes, until interrupted.

    One process serves on threads, one request at a time for Python code (the GIL);
    more processes use more cores. Each keeps its own in-process state (clients, caches,
    connections), as Lambda's containers do."""
    factory = CLIFactory(project_dir=str(ROOT), environ=os.environ)
    config = factory.create_config_obj(chalice_stage_name=stage)
    app = config.chalice_app
    local.CustomLocalChalice.__bases__ = (local.LocalChalice, app.__class__)
    app.__class__ = local.CustomLocalChalice
    # Forked before any client, connection or thread exists (the app makes them lazily).
    for _ in range(workers - 1):
        if os.fork() == 0:
            die_with_parent(signal.SIGINT)
            if os.getppid() == 1:  # the parent ended before that was set
                os._exit(0)
            break
    server = local.LocalDevServer(
        app, config, host, port, handler_cls=RequestHandler, server_cls=SharedPortServer
    )
    server.serve_forever()


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.api", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--stage", default="local")
    parser.add_argument(
        "--workers", type=int, default=1, help="processes serving the port (default 1)"
    )
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        serve(args.host, args.port, args.stage, max(1, args.workers))
    return 0


if __name__ == "__main__":
    sys.exit(main())
