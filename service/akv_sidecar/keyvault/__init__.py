"""Key Vault as the service sees it: the credential, one SecretClient per vault, the per-vault
throttle gate, and plain outcomes (``SecretData`` or ``Failed``) instead of Azure's exceptions.

May import: core, config. The only layer that imports azure-*.
"""
