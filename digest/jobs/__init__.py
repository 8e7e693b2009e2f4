"""The jobs stage: what runs the pipeline, and when.

`pipeline` is the only orchestrator (ingest → build → check → send for one period; `digest run`
and every scheduled job call it). The scheduler is split by job: `weekly` (the fire, the approval
check, the local-time buckets), `approval` (the gate's state and its decision), `runs` (the
`schedule_runs` records), `scheduler` (APScheduler plumbing), `process` (`digest schedule run`
and `trigger`), `lock` (one active scheduler per database), `timing` and `trigger` (when to
fire).
"""
