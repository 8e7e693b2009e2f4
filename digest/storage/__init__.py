"""Plumbing: the engine (`db`), the schema (`schema`) and the migrations, and nothing else.

It imports nothing else of digest: each stage owns the access to its own tables (signals in
`digest.signals.store`, issues and editions in `digest.issues.store`, the audience's in
`digest.audience`, the ledger in `digest.delivery`, schedule runs with the scheduler).
"""
