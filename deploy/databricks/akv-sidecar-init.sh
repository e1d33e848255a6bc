#!/usr/bin/env bash
# Databricks cluster-scoped init script: install akv-sidecar on the driver, start it on 127.0.0.1, wait until
# every configured secret is cached, and tell notebooks where to find it.
#
# Settings (cluster "Environment variables"; secrets as {{secrets/<scope>/<key>}} references):
#   AKV_SIDECAR_VAULT          required  the Key Vault's name (https://<name>.vault.azure.net)
#   AKV_SIDECAR_SECRETS        required  comma-separated secret names prefetched before the cluster is up
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
# Writes (under ROOT): /local_disk0/akv-sidecar/{venv,config.yaml,token,sidecar.pid,sidecar.log} and the
# exports AKV_SIDECAR_URL and AKV_SIDECAR_TOKEN_FILE appended to /databricks/spark/conf/spark-env.sh.
set -euo pipefail

log() { echo "akv-sidecar-init: $*" >&2; }
die() {
    log "error: $*"
    exit 1
}

if [[ "${DB_IS_DRIVER:-}" != "TRUE" ]]; then
    log "not the driver node; nothing to do"
    exit 0
fi

root=${ROOT:-}
home_dir="$root/local_disk0/akv-sidecar"
venv="$home_dir/venv"
config="$home_dir/config.yaml"
token_file="$home_dir/token"
pid_file="$home_dir/sidecar.pid"
log_file="$home_dir/sidecar.log"
spark_env="$root/databricks/spark/conf/spark-env.sh"
port=${AKV_SIDECAR_PORT:-8787}
url="http://127.0.0.1:$port"
pip_spec=${AKV_SIDECAR_PIP_SPEC:-akv-sidecar[service]==0.1.0}
ready_timeout=${AKV_SIDECAR_READY_TIMEOUT:-180}
vault=${AKV_SIDECAR_VAULT:?set AKV_SIDECAR_VAULT to the Key Vault name in the cluster environment variables}
secrets=${AKV_SIDECAR_SECRETS:?set AKV_SIDECAR_SECRETS to a comma-separated list of secret names}

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
        printf 'credential:\n%s\n' "$credential"
    } >"$config"
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
mkdir -p "$home_dir"
write_config
install_sidecar
write_token
export_for_notebooks
start_sidecar
wait_until_ready
log "ready at $url (pid $(cat "$pid_file")); notebooks get AKV_SIDECAR_URL and AKV_SIDECAR_TOKEN_FILE"
