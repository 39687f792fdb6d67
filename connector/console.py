"""`leadsync serve`: the report live, the review queue answered with buttons, and the
dead letters with their reasons — a small Flask site served by waitress; and for
machines, ``/healthz`` (each pipeline's state, 503 when one failed) and ``/metrics``
(Prometheus' text format).

Who may reach it: bound to loopback (the default), anyone on this machine; bound to
any other address, only a request carrying the token named by ``[console] token_env``
(``Authorization: Bearer …``, or a browser session opened with it at /login; /healthz
is open to a load balancer: without the token it tells each pipeline's status and last
success only). A token
in the environment is asked for on loopback too. Requests that change state need
Flask-WTF's CSRF token as well (a Bearer request is exempt: browsers never add that
header on their own), and on loopback only the loopback host names are answered, so a
page of another site cannot reach the console by re-pointing its own name at 127.0.0.1.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import os
import secrets
import threading
from typing import Any
from urllib.parse import urlsplit

import structlog
from flask import (
    Flask,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_wtf.csrf import CSRFError, CSRFProtect
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from waitress.server import create_server
from werkzeug.exceptions import ServiceUnavailable

from connector import metrics
from connector.config import Config, by_name
from connector.errors import ConfigError, LeadsyncError
from connector.health import StateCollector, Stores, figures_of, health, overall
from connector.health import as_dict as health_dict
from connector.reporting import as_csv, as_html, figures, window

log = structlog.get_logger("leadsync.console")

DEFAULT_PORT = 8765
PAGE = 1000
"""Reviews, answers and dead letters a page lists (the oldest first)."""
MIN_TOKEN = 16
"""A shorter token is refused: it would be guessed."""
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "[::1]"})
"""The Host names a console on loopback answers (werkzeug's TRUSTED_HOSTS cannot hold
an IPv6 literal: it cuts a name at its first colon)."""
SECURITY_HEADERS = {
    "X-Frame-Options": "DENY",  # no page of another site frames the buttons
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    # plotly's bundle runs inline; nothing is fetched from anywhere else
    "Content-Security-Policy": "default-src 'self'; script-src 'self' 'unsafe-inline' "
                               "'unsafe-eval'; style-src 'self' 'unsafe-inline'; "
                               "img-src 'self' data: blob:; frame-ancestors 'none'; "
                               "form-action 'self'; base-uri 'none'",
}


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name: it may resolve anywhere


def token_for(config: Config, host: str) -> str | None:
    """The token every request must carry, from the environment variable [console]
    token_env names; None on loopback when that variable is unset. Bound beyond
    loopback without one, or with one too short, is a ConfigError saying what to set."""
    name = config.console.token_env
    token = os.environ.get(name, "")
    if not token and is_loopback(host):
        return None
    if not token:
        raise ConfigError(f"console: listening on {host} (beyond this machine) needs a "
                          f"token: set the environment variable {name} ([console] "
                          "token_env) to a long random string, e.g. the output of "
                          "`python -c 'import secrets; print(secrets.token_urlsafe())'`")
    if len(token) < MIN_TOKEN or len(set(token)) < 8 or token != "".join(token.split()):
        raise ConfigError(f"console: the token in {name} is too easy to guess: use at least "
                          f"{MIN_TOKEN} characters, without spaces, not a repeated few")
    return token


def create_app(pipelines: Config | dict[str, Config], *, host: str,
               token: str | None) -> Flask:
    """The console's site for these pipelines (a page shows the one its ``pipeline``
    query names, else the first); ``token`` from :func:`token_for`."""
    pipelines = by_name(pipelines)
    stores = Stores(pipelines)
    app = Flask(__name__, template_folder="templates")
    app.extensions["leadsync_stores"] = stores  # Console.close closes them
    app.config.update(
        SECRET_KEY=secrets.token_bytes(32),  # sessions end with the process
        SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Strict",
        WTF_CSRF_CHECK_DEFAULT=False, WTF_CSRF_TIME_LIMIT=None,
        MAX_CONTENT_LENGTH=64 * 1024)
    csrf = CSRFProtect(app)
    registry = CollectorRegistry()
    registry.register(StateCollector(stores))
    registry.register(metrics.BATCH_SECONDS)
    registry.register(metrics.API_USED)
    registry.register(metrics.API_REMAINING)

    def here() -> str:
        """The pipeline the page is of: ``?pipeline=``, else the first."""
        return request.args.get("pipeline") or next(iter(pipelines))

    def chosen() -> Config:
        if here() not in pipelines:
            abort(404, f"no pipeline {here()!r} (there are {', '.join(pipelines)})")
        return pipelines[here()]

    def store() -> Any:
        return stores(chosen().pipeline)

    @app.context_processor
    def which() -> dict[str, Any]:
        several = len(pipelines) > 1
        return {"pipelines": list(pipelines) if several else [], "pipeline": here(),
                "keep": f"?pipeline={here()}" if several else ""}

    def bearer() -> bool:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        return (token is not None and scheme.lower() == "bearer"
                and hmac.compare_digest(given.strip().encode(), token.encode()))

    local = is_loopback(host)

    @app.before_request
    def guard() -> Any:
        if local and _host_name(request.headers.get("Host", "")) not in LOOPBACK_NAMES:
            abort(400, "this console answers to 127.0.0.1, localhost and [::1] only")
        by_bearer = bearer()
        if token is not None and not by_bearer and not session.get("signed_in") \
                and request.endpoint not in ("sign_in", "static", "healthz"):
            # a browser is sent to sign in; a program (or a wrong Bearer token) gets 401
            if request.method == "GET" and "Authorization" not in request.headers \
                    and "text/html" in request.headers.get("Accept", ""):
                return redirect(url_for("sign_in", next=request.full_path))
            return Response("a token is required: Authorization: Bearer <token>\n", 401,
                            {"WWW-Authenticate": 'Bearer realm="leadsync"'},
                            mimetype="text/plain")
        if request.method not in ("GET", "HEAD", "OPTIONS") and not by_bearer:
            csrf.protect()
        return None

    @app.after_request
    def headers(response: Response) -> Response:
        response.headers.update(SECURITY_HEADERS)
        return response

    @app.errorhandler(CSRFError)
    def refused(exc: CSRFError) -> tuple[str, int]:
        return render_template("console/message.html", title="Refused",
                               message=f"{exc.description} Reload the page and try again.",
                               nav=False), 400

    @app.route("/login", methods=["GET", "POST"])
    def sign_in() -> Any:
        if token is None:
            return redirect(url_for("overview"))
        wrong = False
        if request.method == "POST":  # the CSRF token was asked of it by guard()
            given = request.form.get("token", "")
            if hmac.compare_digest(given.encode(), token.encode()):
                session.clear()
                session["signed_in"] = True
                return redirect(_own_path(request.args.get("next", ""))
                                or url_for("overview"))
            wrong = True
            log.warning("console: a wrong token was given", remote=request.remote_addr)
        return render_template("console/login.html", wrong=wrong, nav=False), \
            401 if wrong else 200

    @app.get("/healthz")
    def healthz() -> Response:
        found = [health(config, store=_or_none(stores, name))
                 for name, config in pipelines.items()]
        worst, code = overall(found)
        shown = health_dict(found)
        if token is not None and not bearer() and not session.get("signed_in"):
            # a load balancer's probe: the states, not the errors (they name hosts)
            shown = {"status": worst, "pipelines": {
                h.pipeline: {"status": h.status, "last_success_at": h.last_success_at}
                for h in found}}
        return Response(json.dumps(shown, indent=2), code, mimetype="application/json")

    @app.get("/metrics")
    def prometheus() -> Response:
        return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)

    @app.get("/")
    def overview() -> str:
        config = chosen()
        counted = figures_of(store().engine, config.crm.adapter)
        return render_template("console/overview.html", config=config, counted=counted,
                               runs=[run.as_dict() for run in store().runs(10)],
                               healths=[health(c, store=_or_none(stores, name))
                                        for name, c in pipelines.items()])

    @app.get("/report")
    def report() -> Any:
        config = chosen()
        start, end, by, per = _window()
        page = as_html(figures(config, start, end, by, per),
                       console={"since": f"{start:%Y-%m-%d}", "until": f"{end:%Y-%m-%d}",
                                "by": by or "", "per": per or "",
                                "query": request.query_string.decode("ascii", "replace"),
                                **which()})
        return Response(page, mimetype="text/html")

    @app.get("/report.json")
    def report_json() -> Response:
        start, end, by, per = _window()
        return Response(json.dumps(figures(chosen(), start, end, by, per), indent=2),
                        mimetype="application/json")

    @app.get("/report.csv")
    def report_csv() -> Response:
        start, end, by, per = _window()
        return Response(as_csv(figures(chosen(), start, end, by, per)), mimetype="text/csv",
                        headers={"Content-Disposition": "inline; filename=leadsync.csv"})

    @app.get("/reviews")
    def reviews() -> str:
        held = store().reviews
        return render_template("console/reviews.html",
                               pending=[_review(r) for r in held.listing(limit=PAGE)],
                               waiting=[_review(r) for r in held.answered(limit=PAGE)])

    @app.post("/reviews/<int:review_id>")
    def decide(review_id: int) -> Any:
        choice = request.form.get("choice", "")
        if choice not in ("same", "different"):
            abort(400, "choose same or different")
        held = store().reviews
        known = held.get(review_id)
        if known is None:
            abort(404, f"no review {review_id}")
        if known.status != "pending":  # a stale page, a form sent twice: asked once only
            abort(409, f"review {review_id} was answered already ({known.status})")
        decided = held.decide(review_id, choice)
        action = (f"update {decided.kind} {decided.crm_id}" if choice == "same"
                  else "create a new record")
        log.info("review decided in the console", review=review_id, choice=choice,
                 lead=decided.marketing_id)
        if bearer():
            return {"review": review_id, "choice": choice, "lead": decided.marketing_id}
        flash(f"Review {review_id}: {choice}. The next run will {action} for lead "
              f"{decided.marketing_id}.")
        return redirect(url_for("reviews", **request.args))

    @app.get("/dead-letters")
    def dead_letters() -> str:
        letters = [letter.as_dict() for letter in store().dead_letters(limit=PAGE)]
        return render_template("console/letters.html", letters=letters)

    @app.errorhandler(LeadsyncError)
    def unavailable(exc: LeadsyncError) -> Any:  # a database down: say which, not 500
        return problem(ServiceUnavailable(str(exc)))

    @app.errorhandler(400)
    @app.errorhandler(404)
    @app.errorhandler(409)
    @app.errorhandler(503)
    def problem(exc: Any) -> Any:
        if request.path.endswith((".json", ".csv")):  # a program asked: a program's answer
            return {"error": exc.description}, exc.code
        return render_template("console/message.html", title=exc.name,
                               message=exc.description), exc.code

    return app


def _or_none(stores: Stores, name: str) -> Any:
    """The pipeline's store, or None when it cannot be opened (health says why)."""
    try:
        return stores(name)
    except LeadsyncError:
        return None


def _own_path(target: str) -> str | None:
    """``next=`` when it is a path of this site; None for anything a browser could
    read as another site (``//host``, ``/\\host``, a scheme, control characters)."""
    if not target.startswith("/") or any(c in target for c in "\\\t\r\n") \
            or target.startswith("//"):
        return None
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else None


def _host_name(header: str) -> str:
    """``[::1]:8765`` → ``[::1]``; ``Localhost:8765`` → ``localhost``."""
    header = header.strip().lower()
    if header.startswith("["):
        return header.partition("]")[0] + "]"
    return header.partition(":")[0]


def _window() -> tuple[Any, Any, str | None, str | None]:
    """The report's days and breakdown from the query string, as `leadsync report`
    reads its options; a wrong one is a 400 naming it."""
    by = request.args.get("by") or None
    per = request.args.get("period") or None
    try:
        start, end = window(request.args.get("since") or None,
                            request.args.get("until") or None, by, per)
    except ValueError as exc:
        abort(400, str(exc).replace("--", ""))
    return start, end, by, per


def _review(row: Any) -> dict[str, Any]:
    lead, record = json.loads(row.lead), json.loads(row.record)
    return {"id": row.id, "lead_id": row.marketing_id, "kind": row.kind,
            "crm_id": row.crm_id, "crm_object": row.crm_object, "score": row.score,
            "reason": row.reason, "status": row.status,
            "fields": [(name, lead.get(name), record.get(name))
                       for name in dict.fromkeys([*lead, *record])
                       if lead.get(name) not in (None, "") or record.get(name) not in (None, "")]}


class Console:
    """The console served by waitress on a thread of its own (the daemon's), or on the
    caller's (`leadsync serve`)."""

    def __init__(self, pipelines: Config | dict[str, Config], host: str, port: int) -> None:
        pipelines = by_name(pipelines)
        token = token_for(next(iter(pipelines.values())), host)
        self.app = create_app(pipelines, host=host, token=token)
        self.server = create_server(self.app,
                                    host=host, port=port, threads=4, ident="leadsync")
        self.host, self.port = host, int(self.server.effective_port)  # type: ignore[union-attr]
        self.guarded = token is not None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    def run(self) -> None:
        log.info("console listening", url=self.url, guarded=self.guarded)
        self.server.run()

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.run, name="console", daemon=True)
        thread.start()
        return thread

    def close(self) -> None:
        self.server.close()
        self.app.extensions["leadsync_stores"].close()
