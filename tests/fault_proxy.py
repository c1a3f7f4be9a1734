"""Fault-injecting proxies in front of the BigQuery emulator's REST and gRPC endpoints and of
fake-gcs-server (:class:`HttpFaultProxy` serves both REST APIs).

bqemulator and fake-gcs-server never fail transiently and have no IAM, so retries and
permission errors cannot be provoked through them. These proxies are real servers on real
sockets: the job's real clients talk to them, they forward every call to the emulator except
the ones a test chooses to fail with a real HTTP status or gRPC status code, and they record
what passed through. An HTTP fault may also drop the connection without an answer (``drop``),
or hold a call for ``delay`` seconds and then forward it (a slow service), or forward it and
then drop the connection (``lose_answer``: the call took effect, the caller never heard).
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc


@dataclass
class Fault:
    """Fail the first ``times`` calls whose method and path (or gRPC method) match."""

    method: str  # HTTP method, or "" for any; for gRPC the method name, e.g. "ReadRows"
    path_contains: str
    status: int | grpc.StatusCode
    message: str = "injected by the test's proxy"
    reason: str = ""  # HTTP: the error's ``errors[].reason``, e.g. rateLimitExceeded
    times: int = 1
    after_responses: int = 0  # gRPC streams: fail after forwarding this many responses
    seen: int = 0
    after: int = 0  # HTTP: let this many matching calls through first
    drop: bool = False  # HTTP: close the connection without answering (status unused)
    delay: float = 0.0  # HTTP: hold the call this long, then forward it (status unused)
    lose_answer: bool = False  # HTTP: forward the call, then drop the connection unanswered
    passed: int = 0

    def matches(self, method: str, path: str) -> bool:
        if self.seen >= self.times or self.path_contains not in path:
            return False
        if self.method and self.method != method:
            return False
        if self.passed < self.after:
            self.passed += 1
            return False
        return True


@dataclass
class HttpFaultProxy:
    """An HTTP proxy to ``upstream`` (host:port) that answers matching requests with errors."""

    upstream: str
    faults: list[Fault] = field(default_factory=list)
    log: list[tuple[str, str, int]] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    @property
    def address(self) -> str:
        assert self._server is not None
        return f"127.0.0.1:{self._server.server_address[1]}"

    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _fault(self, method: str, path: str) -> Fault | None:
        with self._lock:  # calls arrive on several threads
            for fault in self.faults:
                if fault.matches(method, path):
                    fault.seen += 1
                    return fault
        return None

    @property
    def injected(self) -> int:
        """The faults injected so far (delays are not faults)."""
        return sum(f.seen for f in self.faults if not f.delay)

    def start(self) -> HttpFaultProxy:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                fault = proxy._fault(self.command, self.path)
                if fault is not None and fault.lose_answer:  # done, but the caller never knows
                    proxy._forward(self.command, self.path, self.headers, body)
                if fault is not None and (fault.drop or fault.lose_answer):
                    proxy.log.append((self.command, self.path, 0))
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if fault is not None and fault.delay:
                    time.sleep(fault.delay)
                    fault = None
                if fault is not None:
                    status = int(fault.status)  # type: ignore[arg-type]
                    errors = [{"reason": fault.reason, "message": fault.message}]
                    error = {"code": status, "message": fault.message}
                    error["errors"] = errors if fault.reason else []
                    payload = json.dumps({"error": error}).encode()
                    headers = {"Content-Type": "application/json"}
                else:
                    status, headers, payload = proxy._forward(
                        self.command, self.path, self.headers, body
                    )
                proxy.log.append((self.command, self.path, status))
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def _forward(
        self, method: str, path: str, headers: Any, body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        host, port = self.upstream.split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=60)
        try:
            sent = {k: v for k, v in headers.items() if k.lower() not in ("host", "connection")}
            connection.request(method, path, body=body or None, headers=sent)
            response = connection.getresponse()
            payload = response.read()
            kept = {
                k: v
                for k, v in response.getheaders()
                if k.lower() not in ("content-length", "transfer-encoding", "connection")
            }
            return response.status, kept, payload
        finally:
            connection.close()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


@dataclass
class GrpcFaultProxy:
    """A gRPC proxy to ``upstream`` (host:port); ``requests`` and ``responses`` record
    (method, serialized message) pairs."""

    upstream: str
    faults: list[Fault] = field(default_factory=list)
    requests: list[tuple[str, bytes]] = field(default_factory=list)
    responses: list[tuple[str, bytes]] = field(default_factory=list)  # unary calls only
    failed: list[str] = field(default_factory=list)
    _server: Any = None
    _port: int = 0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self._port}"

    def _fault(self, method: str) -> Fault | None:
        name = method.rsplit("/", 1)[-1]
        for fault in self.faults:
            if fault.matches(name, name):
                fault.seen += 1
                return fault
        return None

    def start(self) -> GrpcFaultProxy:
        options = [("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)]
        channel = grpc.insecure_channel(self.upstream, options=options)
        proxy = self

        def unary(method: str):  # type: ignore[no-untyped-def]
            def call(request: bytes, context: grpc.ServicerContext) -> bytes:
                proxy.requests.append((method, request))
                fault = proxy._fault(method)
                if fault is not None:
                    proxy.failed.append(method)
                    context.abort(fault.status, fault.message)  # type: ignore[arg-type]
                response = channel.unary_unary(method)(request, timeout=60)
                proxy.responses.append((method, response))
                return response

            return call

        def streaming(method: str):  # type: ignore[no-untyped-def]
            def call(request: bytes, context: grpc.ServicerContext) -> Iterator[bytes]:
                proxy.requests.append((method, request))
                fault = proxy._fault(method)
                responses = channel.unary_stream(method)(request, timeout=60)
                for count, response in enumerate(responses):
                    if fault is not None and count >= fault.after_responses:
                        break
                    yield response
                if fault is not None:
                    proxy.failed.append(method)
                    context.abort(fault.status, fault.message)  # type: ignore[arg-type]

            return call

        class Handler(grpc.GenericRpcHandler):
            def service(self, details: Any) -> Any:
                if details.method.endswith("/ReadRows"):
                    return grpc.unary_stream_rpc_method_handler(streaming(details.method))
                return grpc.unary_unary_rpc_method_handler(unary(details.method))

        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=8), options=options)
        self._server.add_generic_rpc_handlers((Handler(),))
        self._port = self._server.add_insecure_port("127.0.0.1:0")
        self._server.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop(grace=None)
