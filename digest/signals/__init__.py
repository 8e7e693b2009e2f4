"""The signals stage: sources in, validated signals stored.

`readers/` holds one module per source format (found by its registry), `ingest` finds and reads
the sources and stores each in one transaction, `merging` is the one rule for a signal read from
several sources, and `store` is the only code that touches the signal tables. Ingest is the only
stage that reads sources; every later stage reads the store.
"""
