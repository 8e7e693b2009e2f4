"""digest: weekly intelligence signals in, per-membership-tier email digests out."""

__version__ = "0.1.0"
