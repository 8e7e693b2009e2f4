"""`python -m digest.cli.regenerate_docs [PAGE]`: rewrite the generated settings reference in
docs/configuration.md from the declared settings (tests/test_docs.py fails while it is stale)."""

from __future__ import annotations

import sys
from pathlib import Path

from digest.cli.settings_file import with_reference


def main(argv: list[str]) -> None:
    target = Path(argv[0] if argv else "docs/configuration.md")
    target.write_text(with_reference(target.read_text(encoding="utf-8")), encoding="utf-8")
    print(f"{target}: settings reference regenerated")


if __name__ == "__main__":
    main(sys.argv[1:])
