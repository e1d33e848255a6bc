"""``python -m akv_sidecar``: the same as the ``akv-sidecar`` command."""

from akv_sidecar.cli.main import main

raise SystemExit(main())
