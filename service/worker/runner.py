"""The worker loop: deliver due outbox messages, run due jobs, stop cleanly on SIGTERM."""

from __future__ import annotations

import logging
import signal
import threading
from datetime import timedelta
from types import FrameType

from service.settings import Settings
from service.worker import jobs, outbox

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

    def run_once(self) -> int:
        """Claim one batch and deliver it; stops between messages once asked to stop."""
        delivered = 0
        for message_id, clinic_id in outbox.claim(self.batch, self.lease):
            if self.stopping.is_set():
                break  # unclaimed leases run out and another worker takes them
            outbox.deliver(message_id, clinic_id, self.senders, self.settings)
            delivered += 1
        return delivered

    def run(self) -> None:
        log.info("worker started")
        while not self.stopping.is_set():
            jobs.run_due(self.jobs)
            if self.run_once() == 0:
                self.stopping.wait(self.idle_sleep)
        log.info("worker stopped")

    def stop(self, _signum: int | None = None, _frame: FrameType | None = None) -> None:
        """SIGTERM/SIGINT: finish the message in hand, then leave."""
        self.stopping.set()

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
