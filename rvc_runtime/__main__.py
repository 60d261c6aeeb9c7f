"""`python -m rvc_runtime [--json] [--measure]`: which BLAS MLX uses here, why, and its threads."""

import sys

from rvc_runtime.blas import main

sys.exit(main())
