"""akv_client."""
