"""gunicorn settings for `make run`, the Docker image and Kubernetes: `gunicorn -c THIS wsgi:app`.

GUNICORN_BIND (default 127.0.0.1:8000; the image sets 0.0.0.0:8000) and WEB_CONCURRENCY
(workers, default 2) come from the environment. Sync workers: the app is plain WSGI and each
request holds one database connection for its short transaction.

Metrics: every worker writes its counters to files in PROMETHEUS_MULTIPROC_DIR (set here
before any worker imports prometheus_client; a fresh directory unless the operator names
one), so `/metrics` reports the sum whichever worker answers. The directory is emptied when
gunicorn starts (stale files would add a previous run's counts) and a dead worker's live-only
files are dropped when it exits.
"""

import os
import tempfile
from pathlib import Path

if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="alliance-metrics-")
METRICS_DIR = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])

from prometheus_client import multiprocess  # noqa: E402 - reads PROMETHEUS_MULTIPROC_DIR

bind = [os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")]
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "sync"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 20
keepalive = 5
# Recycle workers now and then so a slow leak cannot grow without bound.
max_requests = 2000
max_requests_jitter = 200
# gunicorn 27 would otherwise create a control socket under $HOME/.gunicorn.
control_socket_disable = True
# The app writes its own JSON logs (request id, no PHI); gunicorn's access log would repeat
# them without the request id, so only gunicorn's error log is kept, on stderr.
accesslog = None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")


def _clear_metrics() -> None:
    """Only prometheus_client's files: the operator may have named a shared directory."""
    METRICS_DIR.mkdir(parents=True, exist_ok=True)
    for counts in METRICS_DIR.glob("*.db"):
        counts.unlink(missing_ok=True)


def on_starting(_server: object) -> None:
    _clear_metrics()


def on_exit(_server: object) -> None:
    _clear_metrics()


def child_exit(_server: object, worker: object) -> None:
    multiprocess.mark_process_dead(worker.pid)  # type: ignore[attr-defined]
