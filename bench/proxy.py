"""A counting, slowing HTTP proxy between leadsync and a CRM sandbox.

The end-to-end benchmark counts calls where a user's network would see them:
at the wire, outside leadsync and outside the sandbox, so neither the
adapter's own counter nor the sandbox's can flatter the figure. Every request
is forwarded to the sandbox after ``latency`` seconds (a real CRM is tens of
milliseconds away) and counted by method and a path category (``POST
composite/sobjects``, ``POST hubspot search``, ...).

The CRM tells its client where to go next in its answers: Salesforce's SOAP
login returns the instance's ``serverUrl``, HubSpot's paging returns
``next.link``. The sandbox builds such URLs from the Host it was asked on,
which the proxy sets to the sandbox's own address as a reverse proxy would,
so answers are rewritten (bodies and ``Location``) to name the proxy instead:
a client that follows them keeps going through the proxy and keeps being
counted.

    with CountingProxy("127.0.0.1:8451", latency=0.03) as proxy:
        ...  # point leadsync's route_to at proxy.address
        proxy.counts()   # {"POST login": 1, "GET query": 3, ...}
"""

from __future__ import annotations

import http.client
import json
import os
import re
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType

HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
              "trailers", "transfer-encoding", "upgrade", "content-length", "host"}

# Path → category, first match wins. Salesforce REST paths carry the API version
# (/services/data/v59.0/...), HubSpot's carry the object type; both are dropped.
CATEGORIES: tuple[tuple[str, str], ...] = (
    (r"^/services/Soap/[uc]/", "login"),
    (r"^/services/oauth2/token", "login"),
    (r"^/services/data/v[\d.]+/sobjects/[^/]+/describe", "describe"),
    (r"^/services/data/v[\d.]+/sobjects/?$", "describe"),
    (r"^/services/data/v[\d.]+/query(All)?/?", "query"),
    (r"^/services/data/v[\d.]+/composite/sobjects", "composite/sobjects"),
    (r"^/services/data/v[\d.]+/composite", "composite"),
    (r"^/services/data/v[\d.]+/jobs/", "bulk"),
    (r"^/services/data/v[\d.]+/(parameterizedS|s)earch", "search"),
    (r"^/services/data/v[\d.]+/limits", "limits"),
    (r"^/services/data/v[\d.]+/sobjects/[^/]+/(updated|deleted)", "changes"),
    (r"^/services/data/v[\d.]+/sobjects/", "sobject"),
    (r"^/services/data/?", "versions"),
    (r"^/crm/v3/objects/[^/]+/search", "hubspot search"),
    (r"^/crm/v3/objects/[^/]+/batch/([a-z]+)", "hubspot batch/{0}"),
    (r"^/crm/v[34]/associations/.*/batch/([a-z]+)", "hubspot associations batch/{0}"),
    (r"^/crm/v[34]/objects/[^/]+/[^/]+/associations", "hubspot associations"),
    (r"^/crm/v3/objects/[^/]+/merge", "hubspot merge"),
    (r"^/crm/v3/objects/[^/]+/[^/]+", "hubspot record"),
    (r"^/crm/v3/objects/[^/]+/?$", "hubspot list"),
    (r"^/crm/v3/properties/", "hubspot properties"),
    (r"^/crm/v3/owners", "hubspot owners"),
    (r"^/(account-info|integrations)/", "hubspot limits"),
)
_COMPILED = tuple((re.compile(pattern), name) for pattern, name in CATEGORIES)


def category(path: str) -> str:
    """The counting bucket of a request path (query string ignored)."""
    path = path.split("?", 1)[0]
    for pattern, name in _COMPILED:
        found = pattern.search(path)
        if found:
            return name.format(*found.groups())
    return "other " + "/".join(path.split("/")[:3])


class CountingProxy:
    """Forwards every request to ``upstream`` ("host:port"), counted and delayed."""

    def __init__(self, upstream: str, *, latency: float = 0.0, host: str = "127.0.0.1",
                 port: int = 0, timeout: float = 600.0) -> None:
        self.upstream = upstream
        self.latency = latency
        self.timeout = timeout
        trace = os.environ.get("LEADSYNC_PROXY_TRACE")
        self.trace: Path | None = Path(trace) if trace else None
        """With LEADSYNC_PROXY_TRACE=file, each call's method, path, status and the
        start of its body are appended there (to see what a count is made of)."""
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((host, port), _handler(self))
        self._server.daemon_threads = True
        self.address = f"{host}:{self._server.server_port}"
        self._thread: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------------

    def start(self) -> str:
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        name="counting-proxy", daemon=True)
        self._thread.start()
        return self.address

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> CountingProxy:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()

    # --- counts ------------------------------------------------------------------

    def count(self, method: str, path: str) -> None:
        with self._lock:
            self._counts[f"{method} {category(path)}"] += 1

    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(sorted(self._counts.items()))

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self._counts.values())

    def reset(self) -> dict[str, int]:
        """The counts so far, then zero: one phase of a benchmark ends here."""
        with self._lock:
            counts = dict(sorted(self._counts.items()))
            self._counts.clear()
            return counts

    def dump(self, path: Path) -> None:
        path.write_text(json.dumps(self.counts(), indent=2) + "\n", encoding="utf-8")

    # --- rewriting ---------------------------------------------------------------

    def rewrite(self, data: bytes) -> bytes:
        """Answers name the proxy wherever they named the sandbox."""
        return data.replace(self.upstream.encode(), self.address.encode())


def _handler(proxy: CountingProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            """Quiet: a benchmark makes thousands of requests."""

        def _forward(self) -> None:
            body = self._body()
            proxy.count(self.command, self.path)
            if proxy.latency:
                time.sleep(proxy.latency)
            host, _, port = proxy.upstream.rpartition(":")
            upstream = http.client.HTTPConnection(host, int(port), timeout=proxy.timeout)
            try:
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                headers["Host"] = proxy.upstream
                upstream.request(self.command, self.path, body=body, headers=headers)
                answer = upstream.getresponse()
                data = answer.read()
                if proxy.trace is not None:  # what each counted call was, for a diagnosis
                    with proxy.trace.open("a", encoding="utf-8") as out:
                        out.write(f"{self.command} {self.path} {answer.status} "
                                  f"{(body or b'')[:400].decode('utf-8', 'replace')}\n")
                if not answer.getheader("Content-Encoding"):
                    data = proxy.rewrite(data)
                self.send_response(answer.status, answer.reason)
                for key, value in answer.getheaders():
                    if key.lower() in HOP_BY_HOP:
                        continue
                    if key.lower() == "location":
                        value = proxy.rewrite(value.encode()).decode()
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            finally:
                upstream.close()

        def _body(self) -> bytes | None:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks = []
                while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
                self.rfile.readline()
                return b"".join(chunks)
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else None

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = do_HEAD = _forward

    return Handler
