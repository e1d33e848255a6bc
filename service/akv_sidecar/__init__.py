"""akv_sidecar."""
