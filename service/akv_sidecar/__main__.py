"""``python -m akv_sidecar``: the same as the ``akv-sidecar`` command."""

from ._cli import main

raise SystemExit(main())
