"""Credential vending: a storage SAS signed with an account key that the cache keeps fresh, and
access tokens of the sidecar's own identity; both cached and shared by every caller who asks for
the same thing, and returned as outcomes (``outcomes``): what a caller is told is the http layer's
decision. Only this layer imports the Azure Storage SDK.
"""
