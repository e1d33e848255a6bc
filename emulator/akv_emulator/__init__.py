"""akv_emulator."""
