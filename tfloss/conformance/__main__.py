"""``python -m tfloss.conformance``: see :mod:`tfloss.conformance.cli`."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
