# Databricks notebook source
# MAGIC %md
# MAGIC ## Key Vault secrets through akv-sidecar
# MAGIC The cluster's init script (akv-sidecar-init.sh) started the sidecar on every node, put the
# MAGIC akv-sidecar-hadoop jar on Spark's classpath and exported `AKV_SIDECAR_URL` and
# MAGIC `AKV_SIDECAR_TOKEN_FILE`; the client reads both.
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

# Spark on ADLS Gen2 through the akv-sidecar-hadoop providers. The init script put the jar in
# /databricks/jars and, for each of AKV_SIDECAR_STORAGE_ACCOUNTS, the provider settings in the
# cluster's Spark conf: ABFS on the driver and on every executor asks its own node's sidecar for a
# SAS per container and operation, renewed before it expires. No key or SAS is in any Spark conf
# (SET shows class names, a URL and a file's path), and a rotated key needs no restart.
from delta.tables import DeltaTable  # noqa: E402 - a notebook cell's import

lake = AzureADLS(
    account="mystorageaccount",  # CHANGE: one of the init script's AKV_SIDECAR_STORAGE_ACCOUNTS
    container="bronze",  # CHANGE
    auth_mode="sidecar_sas_provider",
    hns=True,  # as AKV_SIDECAR_STORAGE_HNS
)
lake.configure_spark(spark)  # noqa: F821 - the same settings; warns (and falls back) without the jar
table = lake.uri("akv_sidecar_check")  # abfss://bronze@mystorageaccount.dfs.core.windows.net/...
spark.range(100).write.format("delta").mode("overwrite").save(table)  # noqa: F821
spark.range(100, 110).write.format("delta").mode("append").save(table)  # noqa: F821
print("rows:", spark.read.format("delta").load(table).count())  # noqa: F821 - 110
display(DeltaTable.forPath(spark, table).history().select("version", "operation"))  # noqa: F821
