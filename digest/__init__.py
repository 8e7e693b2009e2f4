"""digest: weekly intelligence signals in, per-membership-tier email digests out.

One package per stage, so the listing reads as the pipeline: `signals` (sources in) → `issues`
(a period's issue and its editions) → `delivery` (the send), with `audience` (who receives),
`jobs` (the orchestrator and the scheduler), `web` and `cli` above, `storage` (the engine, schema
and migrations) below, and the ground floor (`model`, `period`, `config`, …) under all of them.
"""

__version__ = "0.1.0"
