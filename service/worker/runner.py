"""The worker loop: deliver due outbox messages, run due jobs, stop cleanly on SIGTERM.

Nothing that fails inside the loop ends it: a failure (the database gone, a bug in a step) is
logged by exception class, counted (`alliance_worker_failures_total`) and the loop tries again
after a backoff that grows while the failures continue, so a database outage is ridden out
without a restart and without hammering the database when it comes back.

Liveness: the loop touches its heartbeat file at every turn and after every message, so the
probe (`python -m service.worker --alive`) tells a loop that turns (even while the database is
down) from one stuck for good. SIGTERM (a rollout, `docker stop`) lets the message in hand
finish and be recorded, gives back the batch's other leases (due again for any worker at
once), and the process exits 0. Not the whole batch: twenty slow webhook receivers would
outlast any grace period, and a kill in the middle of a send is what duplicates a message.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from datetime import timedelta
from pathlib import Path
from types import FrameType

from service.core import metrics
from service.settings import Settings
from service.worker import jobs, outbox
from service.worker.backoff import Backoff

log = logging.getLogger(__name__)


class Worker:
    def __init__(
        self,
        settings: Settings,
        senders: dict[str, outbox.Sender],
        job_list: list[jobs.Job],
        *,
        batch: int = 20,
        lease: timedelta = timedelta(minutes=2),
        idle_sleep: float = 1.0,
    ) -> None:
        self.settings, self.senders, self.jobs = settings, senders, job_list
        self.batch, self.lease, self.idle_sleep = batch, lease, idle_sleep
        self.stopping = threading.Event()
        self.backoff = Backoff(base=max(idle_sleep, 0.05), cap=30.0)
        self.heartbeat = Path(settings.worker_heartbeat_file)

    def run_once(self) -> int:
        """Claim one batch and deliver it; once asked to stop, gives back what it has not
        started and returns."""
        claimed = outbox.claim(self.batch, self.lease)
        for delivered, (message_id, clinic_id) in enumerate(claimed):
            if self.stopping.is_set():
                outbox.release([message for message, _ in claimed[delivered:]])
                return delivered
            outbox.deliver(message_id, clinic_id, self.senders, self.settings)
            self.beat()
        return len(claimed)

    def run(self) -> None:
        log.info("worker started")
        self.beat()
        while not self.stopping.is_set():
            wait = self.step()
            self.beat()
            self.stopping.wait(wait)
        log.info("worker stopped")

    def beat(self) -> None:
        self.heartbeat.touch()

    def step(self) -> float:
        """One turn of the loop; returns how long to wait before the next."""
        try:
            jobs.run_due(self.jobs)
            delivered = self.run_once()
        except Exception as exc:  # the database is down, or a bug: retry, never die
            wait = self.backoff.failed()
            failure = metrics.failure("loop", exc)
            log.warning("worker loop failed", extra={**failure, "retry_in_s": round(wait, 2)})
            return wait
        self.backoff.succeeded()
        return 0.0 if delivered else self.idle_sleep

    def stop(self, _signum: int | None = None, _frame: FrameType | None = None) -> None:
        """SIGTERM/SIGINT: finish the message in hand, then leave."""
        self.stopping.set()

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)


def is_alive(heartbeat: Path, within_seconds: float) -> bool:
    """The liveness probe's answer: the loop touched its heartbeat this recently."""
    try:
        age = time.time() - heartbeat.stat().st_mtime
    except FileNotFoundError:  # not started yet, or another container's file system
        return False
    return age <= within_seconds
