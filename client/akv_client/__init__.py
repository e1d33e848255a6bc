"""akv_client: Key Vault secrets for Spark drivers, through the akv-sidecar.

Installs with httpx alone; pyspark, delta-spark and azure-identity are used only when present.
"""

from ._adls import AUTH_MODES, AzureADLS
from ._classpath import ProviderFallbackWarning
from ._client import FallbackWarning, SecretRef, SidecarClient, SidecarStatus
from ._config import ClientConfig, FallbackConfig
from ._connection import Connection
from ._environment import validate_databricks_environment
from ._exceptions import (
    Forbidden,
    InvalidRequest,
    RateLimited,
    SecretNotFound,
    SidecarError,
    SidecarTimeout,
    SidecarUnavailable,
    Unauthorized,
    UpstreamError,
)
from ._local import LocalConnection
from ._providers import hadoop_jar, spark_submit_conf
from ._secret import AccessToken, Secret, VendedSas
from ._setup import (
    KeyVaultFetchResult,
    configure_connections_parallel,
    fetch_keyvault_secret,
    fetch_keyvault_secrets_parallel,
)
from ._spark import SparkEngine
from ._vending import SidecarTokenCredential

__all__ = [
    "AUTH_MODES",
    "AccessToken",
    "AzureADLS",
    "ClientConfig",
    "Connection",
    "FallbackConfig",
    "FallbackWarning",
    "Forbidden",
    "InvalidRequest",
    "KeyVaultFetchResult",
    "LocalConnection",
    "ProviderFallbackWarning",
    "RateLimited",
    "Secret",
    "SecretNotFound",
    "SecretRef",
    "SidecarClient",
    "SidecarError",
    "SidecarStatus",
    "SidecarTimeout",
    "SidecarTokenCredential",
    "SidecarUnavailable",
    "SparkEngine",
    "Unauthorized",
    "UpstreamError",
    "VendedSas",
    "configure_connections_parallel",
    "fetch_keyvault_secret",
    "fetch_keyvault_secrets_parallel",
    "hadoop_jar",
    "spark_submit_conf",
    "validate_databricks_environment",
]
