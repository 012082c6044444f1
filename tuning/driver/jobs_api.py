"""The Ray Jobs API as one client: every request bounded in time, every answer checked to be Ray's, and every
failure of the head (HTTP errors, another server, silence, a refused connection) one line naming its address.

tuning.driver.submit (submit, list, follow, inspect, stop) and tuning.driver.resume_job reach the cluster only through
`connect` and `call` here.
"""

import contextlib
import ipaddress
import logging
import os
import re
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

from tuning.errors import UserError

TOKEN_HELP = (
    "give the cluster's token in RAY_AUTH_TOKEN, or a file named by RAY_AUTH_TOKEN_PATH, or "
    "~/.ray/auth_token (on the head node: `ray get-auth-token`)"
)
# The Jobs API answers before the head's job agent is up; Ray itself says "please try again later".
AGENT_BUSY = "No available agent to submit job"
AGENT_RETRY_S = 60  # how long that is retried (each try also waits up to 10 s inside the head)
# Every request to the Jobs API is bounded. requests' timeouts are per connect and per read, so an upload that
# keeps moving is never cut: a head that accepts no connection in CONNECT_TIMEOUT_S is unreachable; /api/version
# answers at once on a healthy head; other requests may wait 10 s in the head for its agent, or store an upload.
CONNECT_TIMEOUT_S = 10
VERSION_TIMEOUT_S = 15
ANSWER_TIMEOUT_S = 120
# A job id as Ray's (raysubmit_..., hex driver ids) and tuning's (tuning-NAME-xxxxxxxx, NAME up to 200) are: never
# a path on the server (`../../api/jobs`), and short enough that `.tuning-job-ID-xxxxxx.yaml` is a file name.
JOB_ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]{0,229}"


class ClusterError(Exception):
    """The cluster failed a request (HTTP 5xx, no job agent): the CLI prints one line and exits 1."""


class _NoAnswer(Exception):
    """A request the head did not answer in time, or whose connection broke; `first`: nothing had answered yet."""

    def __init__(self, what: str, first: bool):
        super().__init__(what)
        self.first = first


class _NotRay(Exception):
    """An answer that is not the Ray Jobs API's: an HTML page, someone else's JSON, a 404 at /api/version."""


class _AgentBusy(Exception):
    pass


def auth_token() -> tuple[str | None, str]:
    """The Ray auth token and where it came from, in Ray's own order: env, token path, ~/.ray/auth_token."""
    if os.environ.get("RAY_AUTH_TOKEN"):
        return os.environ["RAY_AUTH_TOKEN"].strip(), "RAY_AUTH_TOKEN"
    path = Path(os.environ.get("RAY_AUTH_TOKEN_PATH") or Path.home() / ".ray" / "auth_token").expanduser()
    if path.is_file():
        return path.read_text().strip(), str(path)
    if os.environ.get("RAY_AUTH_TOKEN_PATH"):
        raise UserError(f"RAY_AUTH_TOKEN_PATH {path}: no such file; {TOKEN_HELP}")
    return None, "no token"


def _one_line(text: str) -> str:
    """The last meaningful line of an error body (Ray sends whole tracebacks; a proxy, an HTML page)."""
    if text.lstrip().startswith("<"):
        text = re.sub(r"<[^>]*>", "\n", text)
    lines = [line.strip() for line in text.splitlines() if line.strip().strip(".")]
    return (lines[-1] if lines else text.strip())[:300]


def check_job_id(job_id, what: str = "JOB") -> None:
    """UserError unless `job_id` has a job id's shape (before any request: it becomes part of a URL path)."""
    if not isinstance(job_id, str) or not re.fullmatch(JOB_ID_PATTERN, job_id):
        raise UserError(
            f"{what} {job_id!r}: not a job id: letters, digits, '.', '_' and '-', starting with a "
            "letter or digit, 230 at most (as `tuning submit` prints them and `tuning jobs` lists them)"
        )


def _unreachable(address: str, why: str) -> UserError:
    return UserError(
        f"cannot reach the Ray dashboard at {address}: {why}; expected the head's dashboard address, "
        "e.g. http://HEAD:8265 (is the cluster up, the port forwarded?)"
    )


def _log_stream_error(exc: Exception, address: str) -> Exception:
    """The message for a failure of the log stream (a websocket, aiohttp's): no such job, or the cluster's."""
    if getattr(exc, "status", None) == 404:
        return UserError(f"{address}: no such job (its log stream answered HTTP 404)")
    return ClusterError(
        f"the Ray cluster at {address} broke off the job's log stream: "
        f"{type(exc).__name__}: {_one_line(str(exc)) or 'no reason given'}"
    )


@contextlib.contextmanager
def talking_to(address: str, source: str):
    """Turn the job client's failures into messages: auth, an unreachable or wrong address, not found
    (UserError, exit 2); the cluster's own failures and silences (ClusterError, exit 1); and a head without a
    job agent yet (_AgentBusy). The one place where what the Jobs API says becomes a message."""
    from ray.exceptions import AuthenticationError

    try:
        from aiohttp import ClientError as StreamError
    except ImportError:  # ray[default] brings aiohttp; without it no log stream is opened either
        StreamError = OSError
    try:
        yield
    except AuthenticationError as exc:
        first = str(exc).split("\n")[0]
        raise UserError(
            f"the Ray cluster at {address} refused the request ({first}); token from {source}. {TOKEN_HELP}"
        ) from None
    except _NotRay as exc:
        raise UserError(
            f"{address} does not answer as a Ray dashboard ({exc}); expected the head's dashboard "
            "address, e.g. http://HEAD:8265 (is that the dashboard's port?)"
        ) from None
    except _NoAnswer as exc:
        if exc.first:
            raise _unreachable(address, str(exc)) from None
        raise ClusterError(
            f"the Ray cluster at {address}: {exc}; is the head node healthy? (`ray status` on it)"
        ) from None
    except ConnectionError as exc:
        raise _unreachable(address, str(exc)) from None
    except (StreamError, TimeoutError) as exc:
        raise _log_stream_error(exc, address) from None
    except RuntimeError as exc:
        _runtime_error(exc, address)


def _runtime_error(exc: RuntimeError, address: str):
    """Ray's RuntimeError for an HTTP status (`Request failed with status code N: BODY`) as a message."""
    text = str(exc)
    if AGENT_BUSY in text:
        raise _AgentBusy(text) from None
    code = re.match(r"Request failed with status code (\d{3})", text)
    body = _one_line(text.split(":", 1)[1] if ":" in text else text)
    if code and code.group(1).startswith("5"):
        raise ClusterError(f"the Ray cluster at {address} failed the request (HTTP {code.group(1)}): {body}") from None
    if code or "does not exist" in text:
        raise UserError(f"{address}: {body}") from None
    if "WebSocket" in text:  # the log stream closed abnormally, or errored
        raise _log_stream_error(exc, address) from None
    raise exc


def call(client, address: str, request, *args, **kwargs):
    """`request(*args, **kwargs)` through talking_to; while the head has no job agent yet (a fresh
    cluster), retried with backoff (1, 2, 4, 8, 10, 10 ... s) for AGENT_RETRY_S seconds."""
    deadline, delay = time.monotonic() + AGENT_RETRY_S, 1.0
    while True:
        try:
            with talking_to(address, client.tuning_source):
                return request(*args, **kwargs)
        except _AgentBusy:
            if time.monotonic() + delay > deadline:
                raise ClusterError(
                    f"the Ray cluster at {address} has no job agent ready after "
                    f'{AGENT_RETRY_S} s of retries ("{AGENT_BUSY}"); is the head node '
                    "healthy? (`ray status` on it)"
                ) from None
            print(
                f"the cluster's job agent is not ready yet; retrying in {delay:g} s (for up to {AGENT_RETRY_S} s)",
                file=sys.stderr,
                flush=True,
            )
            time.sleep(delay)
            delay = min(delay * 2, 10.0)


def plain_http_warning(address: str, token: str | None) -> str | None:
    """A warning when `token` would travel unencrypted (plain http://) to another machine."""
    url = urlparse(address)
    if not token or url.scheme != "http":
        return None
    host = (url.hostname or "").lower()
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost" or host.endswith(".localhost")
    if loopback:
        return None
    return (
        f"warning: {address} is plain http:// to another machine: the cluster's token travels unencrypted "
        "and anyone on the path can read it and run code on the cluster; forward the port "
        "(`ray dashboard`, `kubectl port-forward`) and use http://127.0.0.1:8265, or reach it over https://"
    )


def _describe(response) -> str:
    """What an answer that is not Ray's looks like, in a few words."""
    kind = response.headers.get("Content-Type", "").split(";")[0].strip() or "no Content-Type"
    text = response.text.lstrip()[:200]
    shape = "an HTML page" if "html" in kind or text.startswith("<") else f"{kind}: {_one_line(text)!r}"
    return f"{response.request.method} {response.request.path_url} answered HTTP {response.status_code}, {shape}"


def _check_answer(method: str, endpoint: str, response) -> None:
    """_NotRay unless `response` is what the Jobs API answers there: /api/version a JSON object with a
    ray_version, a job endpoint's 200 JSON of the shape Ray's client reads (a list of jobs, else an object)."""
    import packaging.version

    if endpoint == "/api/version" and response.status_code >= 500:
        raise RuntimeError(f"Request failed with status code {response.status_code}: {response.text}")
    if endpoint != "/api/version" and not (endpoint.startswith("/api/jobs/") and response.status_code == 200):
        return  # Ray's client reads the status (packages, errors) and reports it; tail is a websocket
    try:
        body = response.json()
    except ValueError:
        raise _NotRay(_describe(response)) from None
    if endpoint == "/api/version":
        if response.status_code != 200 or not isinstance(body, dict):
            raise _NotRay(_describe(response))
        try:
            packaging.version.Version(str(body.get("ray_version")))
        except packaging.version.InvalidVersion:
            raise _NotRay(f"{_describe(response)}, no ray_version in it") from None
    elif not isinstance(body, list if (method, endpoint) == ("GET", "/api/jobs/") else dict):
        raise _NotRay(_describe(response))


def _client_class():
    """Ray's JobSubmissionClient with every request bounded in time and every answer checked to be Ray's (its
    constructor already asks the head for /api/version)."""
    import requests
    from ray.job_submission import JobSubmissionClient

    class BoundedClient(JobSubmissionClient):
        def _do_request(self, method, endpoint, **kwargs):
            first = getattr(self, "_server_ray_version", None) is None  # nothing has answered yet
            read_s = VERSION_TIMEOUT_S if endpoint == "/api/version" else ANSWER_TIMEOUT_S
            kwargs.setdefault("timeout", (CONNECT_TIMEOUT_S, read_s))
            try:
                response = super()._do_request(method, endpoint, **kwargs)
            except requests.exceptions.ConnectTimeout:
                raise _NoAnswer(f"no connection accepted within {CONNECT_TIMEOUT_S:g} s", first) from None
            except requests.exceptions.Timeout:
                raise _NoAnswer(f"no answer to {method} {endpoint} within {read_s:g} s", first) from None
            except requests.exceptions.ConnectionError as exc:
                if first:
                    raise  # Ray's own message: "Failed to connect to Ray at address: ..."
                raise _NoAnswer(
                    f"the connection broke during {method} {endpoint} ({type(exc).__name__})", False
                ) from None
            _check_answer(method, endpoint, response)
            return response

    return BoundedClient


def connect(address: str):
    """A JobSubmissionClient for `address` that sends the auth token, if there is one; each request bounded
    in time, each answer checked to be the Jobs API's (talking_to says what went wrong)."""
    client_class = _client_class()  # imports Ray's job SDK, which sets its own logger to INFO: before the levels
    if not address.startswith(("http://", "https://")):
        raise UserError(f"--address {address}: expected the head's dashboard address, http://HEAD:8265")
    try:
        url = urlparse(address)
        url.port  # noqa: B018 -- a port that is not a number raises here, not deep inside requests
    except ValueError as exc:
        raise UserError(
            f"--address {address}: {exc}; expected the head's dashboard address, http://HEAD:8265"
        ) from None
    if not url.hostname or url.query or url.fragment:  # a path is fine: a dashboard behind a proxy's prefix
        raise UserError(f"--address {address}: expected the head's dashboard address, http://HEAD:8265")
    # Ray logs each packaging step at INFO (its job SDK sets its own logger to INFO); `submit` prints one
    # line about the upload instead.
    for name in ("ray", "ray.dashboard.modules.dashboard_sdk"):
        logging.getLogger(name).setLevel(logging.WARNING)
    token, source = auth_token()
    warning = plain_http_warning(address, token)
    if warning:
        print(warning, file=sys.stderr, flush=True)
    headers = {"Authorization": f"Bearer {token}"} if token else None
    with talking_to(address, source):
        client = client_class(address, headers=headers)
    client.tuning_source, client.tuning_token = source, token
    return client
