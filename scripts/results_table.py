"""The MNIST results table of docs/results.md, rendered from helpers/checkpoints/metrics.json (the seed table).

    .venv/bin/python scripts/results_table.py     prints the markdown that docs/results.md holds between
                                                   <!-- mnist-results:begin --> and <!-- mnist-results:end -->
tests/test_reference_models.py checks that docs/results.md holds exactly this, so the page cannot drift
from the numbers `make course` recomputes.
"""

from __future__ import annotations

import sys

from grading.seed_table import readme_table


def main() -> int:
    import helpers as h

    print(readme_table(h.seed_metrics()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
