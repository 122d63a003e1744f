"""`python -m cycleaug ...` is the same as the `cycleaug` console script."""

import sys

from cycleaug.cli import main

sys.exit(main())
