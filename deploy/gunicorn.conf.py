"""gunicorn settings for `make run`, the Docker image and Kubernetes: `gunicorn -c THIS wsgi:app`.

GUNICORN_BIND (default 127.0.0.1:8000; the image sets 0.0.0.0:8000) and WEB_CONCURRENCY
(workers, default 2) come from the environment. Sync workers: the app is plain WSGI and each
request holds one database connection for its short transaction.
"""

import os

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
