"""What every CRM sandbox does the same way: serve its WSGI app on a local
socket in a thread, stop and save, count requests, and play the shared fault
script (``connector.sandbox.faults``). Each sandbox adds its CRM's own state and
the helpers a test uses to play a sales rep."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, ClassVar, Self

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from .faults import FaultEvent, FaultInjector, Faults


class _QuietHandler(WSGIRequestHandler):
    """Werkzeug logs every request at INFO; tests and demos want only errors."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None


class ServedSandbox(ABC):
    """Base of the sandboxes. Subclasses set ``_app`` (a WSGI app with
    ``request_count``, ``injector``, ``faulted_count`` and ``fault_log``),
    ``state_path`` and ``save()``, and call ``_init_serving()``."""

    thread_name: ClassVar[str] = "sandbox"
    _app: Any
    state_path: Path | None

    def _init_serving(self) -> None:
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._address: str | None = None
        self._lifecycle = threading.Lock()

    @abstractmethod
    def save(self) -> None:
        """Write the sandbox's data to ``state_path`` (each CRM keeps its own shape)."""

    # --- lifecycle --------------------------------------------------------
    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on ``host:port`` (0 picks a free port) and return ``"host:port"``;
        a second call is a no-op."""
        with self._lifecycle:
            if self._server is not None:
                return self.address
            server = make_server(
                host, port, self.wsgi_app, threaded=True, request_handler=_QuietHandler
            )
            thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.01},  # how long stop() waits for the loop
                name=f"{self.thread_name}:{server.server_port}",
                daemon=True,
            )
            thread.start()
            self._server, self._thread = server, thread
            self._address = f"{host}:{server.server_port}"
            return self._address

    def stop(self) -> None:
        """Stop serving and, if there is a ``state_path``, save to it."""
        with self._lifecycle:
            server, thread = self._server, self._thread
            self._server = self._thread = None
            self._address = None
            if server is not None:
                server.shutdown()
                server.server_close()
            if thread is not None:
                thread.join(timeout=5)
        if self.state_path is not None:
            self.save()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --- what callers look at ------------------------------------------------
    @property
    def address(self) -> str:
        """``host:port``; only once started."""
        if self._address is None:
            raise RuntimeError("the sandbox is not started; call start() first")
        return self._address

    @property
    def request_count(self) -> int:
        """Every HTTP request received, refused and faulted ones included: what a
        test or a benchmark counts API calls with."""
        return int(self._app.request_count)

    def wsgi_app(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        """The WSGI callable, usable without a socket (e.g. werkzeug's test Client)."""
        return self._app(environ, start_response)  # type: ignore[no-any-return]

    # --- faults ------------------------------------------------------------------
    @property
    def faults(self) -> Faults | None:
        """The fault script in force, or None. Assigning one restarts its request numbering."""
        injector = self._app.injector
        return injector.faults if injector else None

    @faults.setter
    def faults(self, faults: Faults | None) -> None:
        self._app.injector = FaultInjector(faults) if faults is not None else None

    def inject(self, **settings: Any) -> Faults:
        """``sandbox.inject(error_rate=0.1, seed=1)`` is ``sandbox.faults = Faults(...)``."""
        faults = Faults(**settings)
        self.faults = faults
        return faults

    @property
    def faulted_count(self) -> int:
        """Requests answered with an injected fault (503, 502, drop, drop_after, timeout)."""
        return int(self._app.faulted_count)

    @property
    def fault_log(self) -> list[FaultEvent]:
        """Each injected fault in order: eligible-request number, kind, method, path."""
        return list(self._app.fault_log)
