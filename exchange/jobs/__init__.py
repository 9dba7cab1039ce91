"""Scheduled jobs: what a job is, the hub's jobs, the scheduler that runs each once across
workers, their history and metrics (docs/jobs.md)."""
