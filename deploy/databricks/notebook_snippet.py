# Databricks notebook source
# MAGIC %md
# MAGIC ## Key Vault secrets through akv-sidecar
# MAGIC The cluster's init script (akv-sidecar-init.sh) started the sidecar on the driver and
# MAGIC exported `AKV_SIDECAR_URL` and `AKV_SIDECAR_TOKEN_FILE`; the client reads both.
# MAGIC Install the client once per cluster (it needs httpx only): `%pip install akv-sidecar`.

# COMMAND ----------

import os

from akv_client import AzureADLS, SidecarClient

KEY_VAULT = os.environ.get("AKV_SIDECAR_VAULT", "mykv")  # the init script's vault, or CHANGE
STORAGE_KEY_NAME = "bronze-storage-key"  # CHANGE: the Key Vault secret holding the account key

sidecar = SidecarClient()
sidecar.wait_until_ready(timeout=60)
bronze_key = sidecar.get_secret(KEY_VAULT, STORAGE_KEY_NAME)
print(bronze_key)  # the repr masks the value; use bronze_key.value where a key is needed

# COMMAND ----------

# Spark on ADLS Gen2 with the storage key from Key Vault: the key never appears in the notebook.
bronze = AzureADLS(
    account="mystorageaccount",  # CHANGE
    container="bronze",  # CHANGE
    auth_mode="key_vault",
    key_vault_name=KEY_VAULT,
    secret_name=STORAGE_KEY_NAME,
)
bronze.configure_spark(spark)  # noqa: F821 - the notebook's SparkSession
events = spark.read.format("delta").load(bronze.uri("events"))  # noqa: F821
display(events.limit(10))  # noqa: F821 - Databricks' display
