"""Background jobs: a task queue in the database (SQLite or PostgreSQL), never threads that die with a request.

- `actions.enqueue` queues a job in the caller's transaction with its audit event (`system.job.enqueue`);
- a `worker.Worker` claims jobs atomically (several may run, in the server or as `pdzone worker`), runs the
  handler registered for the job's kind, and records success or the domain error;
- a heartbeat marks a run alive; a run whose heartbeat goes stale is re-queued, at most
  `PDZONE_JOB_MAX_ATTEMPTS` times;
- `spool` keeps the files a job owns (an upload) private under the data dir until the job ends.

This area sits beside `audit` and the data plane: it knows nothing of the catalog or the web. Who may see a
job is decided above (the console).
"""

from pdzone.jobs.actions import Claim, claim, enqueue, fail, finish, requeue_stale, touch
from pdzone.jobs.models import FINISHED, Job, JobStatus
from pdzone.jobs.queries import get_job, job_json
from pdzone.jobs.worker import HANDLERS, RunningJob, Worker, register

__all__ = [
    "FINISHED",
    "HANDLERS",
    "Claim",
    "Job",
    "JobStatus",
    "RunningJob",
    "Worker",
    "claim",
    "enqueue",
    "fail",
    "finish",
    "get_job",
    "job_json",
    "register",
    "requeue_stale",
    "touch",
]
