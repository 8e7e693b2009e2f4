"""The weekly scheduler: trigger parsing, the single-scheduler lock, timing and the runner."""
