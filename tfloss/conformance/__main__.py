"""``python -m tfloss.conformance``: see :mod:`tfloss.conformance.cli`."""

import sys

from .cli import main

sys.exit(main())
