#!/usr/bin/env bash
# Databricks cluster-scoped init script. On every node (Databricks runs it on the driver and on each worker,
# before their Spark JVMs start): install akv-sidecar, start it on 127.0.0.1, wait until every configured
# secret is cached, put the akv-sidecar-hadoop jar (Hadoop credential providers) on Spark's classpath and tell
# notebooks where the sidecar is. On the driver, for the storage accounts named, also add the provider settings
# to the cluster's Spark conf, so ABFS on the driver and on every executor asks its own node's sidecar for a
# SAS per container and operation: no key or SAS in any Spark conf.
#
# Settings (cluster "Environment variables"; secrets as {{secrets/<scope>/<key>}} references):
#   AKV_SIDECAR_VAULT          required  the Key Vault's name (https://<name>.vault.azure.net)
#   AKV_SIDECAR_SECRETS        comma-separated secret names prefetched before the cluster is up (required
#                                        unless AKV_SIDECAR_STORAGE_ACCOUNTS is set)
#   AKV_SIDECAR_STORAGE_ACCOUNTS  optional  comma-separated ACCOUNT=SECRET pairs: a storage account the sidecar
#                                        signs SAS for, and the secret in AKV_SIDECAR_VAULT holding its key
#   AKV_SIDECAR_STORAGE_HNS    true      whether those accounts have a hierarchical namespace (ADLS Gen2)
#   AKV_SIDECAR_SAS_MAX_TTL    1h        the longest SAS signed (the providers renew before expiry)
#   AKV_SIDECAR_HADOOP_JAR     optional  the jar to install; default: the one the installed wheel carries
#   AKV_SIDECAR_VAULT_URL      optional  the vault's URL when it is not https://<name>.vault.azure.net
#   AKV_SIDECAR_CA_FILE        optional  an extra CA bundle to trust for the vault (inspecting proxies)
#   AKV_SIDECAR_CREDENTIAL     auto      auto | client_secret | managed_identity | default
#                                        auto: client_secret when AZURE_CLIENT_SECRET is set, else managed_identity
#   AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET   the service principal (client_secret), or
#                                        AZURE_CLIENT_ID alone to pick a user-assigned managed identity
#   AKV_SIDECAR_PORT           8787
#   AKV_SIDECAR_PIP_SPEC       akv-sidecar[service]==0.1.0   what pip installs (a wheel path or a mirror's name)
#   AKV_SIDECAR_PYTHON         /databricks/python3/bin/python3 if present, else python3 (3.11+: Runtime 15+)
#   AKV_SIDECAR_READY_TIMEOUT  180 seconds; past it the script fails and so does the cluster start
#   ROOT                       empty; a prefix for every path written (tests run the script in a temp root)
#
# Writes (under ROOT), on every node: /local_disk0/akv-sidecar/{venv,config.yaml,token,sidecar.pid,sidecar.log},
# /databricks/jars/akv-sidecar-hadoop-<version>.jar, and the exports AKV_SIDECAR_URL and AKV_SIDECAR_TOKEN_FILE
# appended to /databricks/spark/conf/spark-env.sh; on the driver, with storage accounts,
# /databricks/driver/conf/00-akv-sidecar-spark.conf (the provider settings: URLs, paths, class names).
# Each node has its own caller token; every node's sidecar listens on the same loopback port and keeps its
# token at the same path, so one Spark conf serves the driver and all executors.
set -euo pipefail

log() { echo "akv-sidecar-init: $*" >&2; }
die() {
    log "error: $*"
    exit 1
}

root=${ROOT:-}
home_dir="$root/local_disk0/akv-sidecar"
venv="$home_dir/venv"
config="$home_dir/config.yaml"
token_file="$home_dir/token"
pid_file="$home_dir/sidecar.pid"
log_file="$home_dir/sidecar.log"
spark_env="$root/databricks/spark/conf/spark-env.sh"
jars_dir="$root/databricks/jars"
spark_conf="$root/databricks/driver/conf/00-akv-sidecar-spark.conf"
port=${AKV_SIDECAR_PORT:-8787}
url="http://127.0.0.1:$port"
pip_spec=${AKV_SIDECAR_PIP_SPEC:-akv-sidecar[service]==0.1.0}
ready_timeout=${AKV_SIDECAR_READY_TIMEOUT:-180}
vault=${AKV_SIDECAR_VAULT:?set AKV_SIDECAR_VAULT to the Key Vault name in the cluster environment variables}
storage_accounts=${AKV_SIDECAR_STORAGE_ACCOUNTS:-}
secrets=${AKV_SIDECAR_SECRETS:-}
[[ -n "$secrets" || -n "$storage_accounts" ]] ||
    die "set AKV_SIDECAR_SECRETS to a comma-separated list of secret names (or AKV_SIDECAR_STORAGE_ACCOUNTS)"
hns=${AKV_SIDECAR_STORAGE_HNS:-true}
[[ "$hns" == true || "$hns" == false ]] || die "AKV_SIDECAR_STORAGE_HNS is '$hns'; allowed: true, false"
sas_max_ttl=${AKV_SIDECAR_SAS_MAX_TTL:-1h}
is_driver=false
[[ "${DB_IS_DRIVER:-}" == "TRUE" ]] && is_driver=true

default_python=python3
[[ -x /databricks/python3/bin/python3 ]] && default_python=/databricks/python3/bin/python3
python=${AKV_SIDECAR_PYTHON:-$default_python}

credential_kind=${AKV_SIDECAR_CREDENTIAL:-auto}
if [[ "$credential_kind" == auto ]]; then
    credential_kind=managed_identity
    [[ -n "${AZURE_CLIENT_SECRET:-}" ]] && credential_kind=client_secret
fi

# YAML flow sequence of double-quoted names; Key Vault names are [0-9a-zA-Z-] so nothing needs escaping.
yaml_list() {
    local item out=""
    local -a items
    IFS=',' read -r -a items <<<"$1"
    for item in "${items[@]}"; do
        item=${item//[[:space:]]/}
        [[ -n "$item" ]] && out+="${out:+, }\"$item\""
    done
    echo "[$out]"
}

# ACCOUNT=SECRET pairs, checked against Azure's name rules (so nothing needs escaping in YAML or HOCON),
# one "ACCOUNT SECRET" line each.
storage_pairs() {
    local pair account secret
    local -a pairs
    IFS=',' read -r -a pairs <<<"$storage_accounts"
    for pair in "${pairs[@]}"; do
        pair=${pair//[[:space:]]/}
        [[ -z "$pair" ]] && continue
        account=${pair%%=*}
        secret=${pair#*=}
        [[ "$pair" == *=* && "$account" =~ ^[a-z0-9]{3,24}$ && "$secret" =~ ^[0-9A-Za-z-]{1,127}$ ]] ||
            die "AKV_SIDECAR_STORAGE_ACCOUNTS: '$pair' is not ACCOUNT=SECRET (a storage account, 3-24 lowercase letters and digits; a Key Vault secret name)"
        echo "$account $secret"
    done
}

credential_yaml() {
    case "$credential_kind" in
        client_secret)
            : "${AZURE_TENANT_ID:?client_secret needs AZURE_TENANT_ID}"
            : "${AZURE_CLIENT_ID:?client_secret needs AZURE_CLIENT_ID}"
            # The secret itself stays in the environment; the config names the variable only.
            printf '  kind: client_secret\n  tenant_id: "%s"\n  client_id: "%s"\n' \
                "$AZURE_TENANT_ID" "$AZURE_CLIENT_ID"
            printf '  client_secret_env: AZURE_CLIENT_SECRET\n'
            ;;
        managed_identity)
            printf '  kind: managed_identity\n'
            if [[ -n "${AZURE_CLIENT_ID:-}" ]]; then
                printf '  client_id: "%s"\n' "$AZURE_CLIENT_ID"
            fi
            ;;
        default)
            printf '  kind: default\n'
            ;;
        *)
            die "AKV_SIDECAR_CREDENTIAL is '$credential_kind'; allowed: auto, client_secret, managed_identity, default"
            ;;
    esac
}

write_config() {
    {
        printf 'listen:\n  host: 127.0.0.1\n  port: %s\n' "$port"
        printf 'auth:\n  tokens:\n    - name: databricks\n      token_file: "%s"\n      allow: ["*"]\n' \
            "$token_file"
        printf 'vaults:\n  - name: "%s"\n    secrets: %s\n' "$vault" "$(yaml_list "$secrets")"
        [[ -n "${AKV_SIDECAR_VAULT_URL:-}" ]] && printf '    url: "%s"\n' "$AKV_SIDECAR_VAULT_URL"
        [[ -n "${AKV_SIDECAR_CA_FILE:-}" ]] && printf '    ca_file: "%s"\n' "$AKV_SIDECAR_CA_FILE"
        if [[ -n "$storage_lines" ]]; then
            printf 'storage:\n  accounts:\n'
            while read -r account secret; do
                printf '    - name: "%s"\n      key: {vault: "%s", secret: "%s"}\n' "$account" "$vault" "$secret"
                printf '      hns: %s\n      max_ttl: "%s"\n' "$hns" "$sas_max_ttl"
            done <<<"$storage_lines"
        fi
        printf 'credential:\n%s\n' "$credential"
    } >"$config"
}

# The akv-sidecar-hadoop jar into /databricks/jars, on the classpath of the node's Spark JVMs: the one the
# installed wheel carries (the sidecar's own version), or AKV_SIDECAR_HADOOP_JAR.
install_jar() {
    mkdir -p "$jars_dir"
    if [[ -n "${AKV_SIDECAR_HADOOP_JAR:-}" ]]; then
        [[ -f "$AKV_SIDECAR_HADOOP_JAR" ]] || die "AKV_SIDECAR_HADOOP_JAR=$AKV_SIDECAR_HADOOP_JAR is no file"
        install -m 0644 "$AKV_SIDECAR_HADOOP_JAR" "$jars_dir/"
    else
        "$venv/bin/python" -m akv_client hadoop-jar "$jars_dir" >/dev/null ||
            die "no akv-sidecar-hadoop jar in $pip_spec: install a wheel built by 'make dist', or set AKV_SIDECAR_HADOOP_JAR"
    fi
}

# The driver's Spark conf (HOCON, as Databricks reads the files in /databricks/driver/conf): for each account,
# what akv_client's spark_submit_conf() gives for auth_mode sidecar_sas_provider. No value is a secret.
write_spark_conf() {
    local account host
    mkdir -p "$(dirname "$spark_conf")"
    {
        printf '# akv-sidecar (init script): ABFS asks the sidecar for SAS; no secret here.\n[driver] {\n'
        while read -r account _; do
            host="$account.dfs.core.windows.net"
            spark_line "fs.azure.account.auth.type.$host" SAS
            spark_line "fs.azure.sas.token.provider.type.$host" org.akvsidecar.hadoop.SidecarSasTokenProvider
            spark_line "fs.azure.akv-sidecar.url.$host" "$url"
            spark_line "fs.azure.akv-sidecar.token.file.$host" "$token_file"
            spark_line "fs.azure.account.hns.enabled.$host" "$hns"
        done <<<"$storage_lines"
        [[ "$hns" == false ]] && spark_line fs.azure.fns.account.service.type BLOB
        # Spark's default redaction regex, widened to account keys and SAS for anyone still on keys.
        printf '  "spark.redaction.regex" = "%s"\n}\n' '(?i)secret|password|token|access[.]?key|account[.]key|sas'
    } >"$spark_conf"
    chmod 0644 "$spark_conf"
}

spark_line() {
    printf '  "spark.hadoop.%s" = "%s"\n' "$1" "$2"
}

# A token of 256 random bits, readable by root only; kept across re-runs so running callers stay valid.
write_token() {
    if [[ ! -s "$token_file" ]]; then
        "$python" -c 'import secrets; print(secrets.token_urlsafe(32))' >"$token_file"
    fi
    chmod 0600 "$token_file"
}

export_for_notebooks() {
    local marker="# akv-sidecar (init script)"
    mkdir -p "$(dirname "$spark_env")"
    touch "$spark_env"
    if ! grep -qF "$marker" "$spark_env"; then
        printf '\n%s\nexport AKV_SIDECAR_URL=%s\nexport AKV_SIDECAR_TOKEN_FILE=%s\n' \
            "$marker" "$url" "$token_file" >>"$spark_env"
    fi
}

start_sidecar() {
    if [[ -s "$pid_file" ]] && kill -0 "$(cat "$pid_file")" 2>/dev/null; then
        log "already running as pid $(cat "$pid_file")"
        return
    fi
    # setsid + nohup: the sidecar outlives this script and the session that ran it.
    setsid nohup "$venv/bin/akv-sidecar" serve --config "$config" >>"$log_file" 2>&1 </dev/null &
    echo $! >"$pid_file"
}

ready() {
    "$venv/bin/python" - "$url/readyz" <<'PY'
import sys, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1], timeout=2) as response:
        sys.exit(0 if response.status == 200 else 1)
except OSError:
    sys.exit(1)
PY
}

wait_until_ready() {
    local deadline=$((SECONDS + ready_timeout))
    until ready; do
        if ! kill -0 "$(cat "$pid_file")" 2>/dev/null; then
            tail -n 20 "$log_file" >&2 || true
            die "the sidecar exited; its log is $log_file"
        fi
        if ((SECONDS >= deadline)); then
            tail -n 20 "$log_file" >&2 || true
            die "not ready after ${ready_timeout}s: $url/readyz (log: $log_file)"
        fi
        sleep 1
    done
}

install_sidecar() {
    if [[ ! -x "$venv/bin/akv-sidecar" ]]; then
        # Databricks Runtime 13 and 14 ship Python 3.10; the sidecar service needs 3.11 (Runtime 15+).
        "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
            die "the sidecar needs Python 3.11+; $python is not: use Databricks Runtime 15+ or set AKV_SIDECAR_PYTHON"
        log "installing $pip_spec into $venv"
        "$python" -m venv "$venv"
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$pip_spec"
    fi
}

umask 077
credential=$(credential_yaml) # a wrong credential setting fails here, before anything is written
storage_lines=$(storage_pairs) # so does a malformed storage account
mkdir -p "$home_dir"
write_config
if [[ "$is_driver" == true && -n "$storage_lines" ]]; then
    write_spark_conf
fi
install_sidecar
write_token
install_jar
export_for_notebooks
start_sidecar
wait_until_ready
log "ready at $url (pid $(cat "$pid_file")); akv-sidecar-hadoop in $jars_dir; driver: $is_driver"
