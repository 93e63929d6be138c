"""The worker: delivers the outbox and runs periodic jobs. `python -m service.worker`."""
