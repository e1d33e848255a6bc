"""Entry point of ``python -m akv_emulator``."""

import sys

from ._cli import main

sys.exit(main())
