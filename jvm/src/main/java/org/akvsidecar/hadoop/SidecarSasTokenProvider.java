package org.akvsidecar.hadoop;

import java.io.IOException;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.azurebfs.extensions.SASTokenProvider;

/**
 * ABFS's SAS token provider, backed by the akv-sidecar's {@code POST /v1/storage/sas}: each
 * container gets a service SAS signed by the sidecar, with the permissions the operation needs,
 * and the storage account key never reaches Spark.
 *
 * <pre>
 * fs.azure.account.auth.type           SAS
 * fs.azure.sas.token.provider.type     org.akvsidecar.hadoop.SidecarSasTokenProvider
 * fs.azure.akv-sidecar.url             http://127.0.0.1:8787   (or AKV_SIDECAR_URL)
 * fs.azure.akv-sidecar.token.file      /var/run/secrets/akv-sidecar/token (or AKV_SIDECAR_TOKEN_FILE)
 * </pre>
 *
 * <p>ABFS calls {@link #getSASToken} before every request (its streams reuse a SAS for up to two
 * minutes, never within two minutes of its expiry). SAS are cached per account, container and
 * permission set until the later of 60 s or a tenth of their remaining life before they expire;
 * concurrent callers of one scope share one request. Read-only operations ask for {@code rl},
 * writes for {@code racwdl}: the sidecar also caps each caller at its {@code allow_permissions}.
 * See {@link SidecarSettings} for every key.
 */
public final class SidecarSasTokenProvider implements SASTokenProvider {
    /** Renew a SAS at least this long before it expires. */
    static final Duration MIN_MARGIN = Duration.ofSeconds(60);

    /** The cache's key: what one SAS covers. */
    record Scope(String account, String container, String permissions) {
    }

    private final Clock clock;
    private volatile Provision<Scope> provision;

    /** The provider as ABFS creates it, by reflection; {@link #initialize} configures it. */
    public SidecarSasTokenProvider() {
        this(Clock.systemUTC());
    }

    SidecarSasTokenProvider(Clock clock) {
        this.clock = Objects.requireNonNull(clock, "clock");
    }

    /**
     * Reads the settings for {@code accountName} ({@code mystorage.dfs.core.windows.net}).
     *
     * @throws IOException when a key is invalid or no caller token file is set
     */
    @Override
    public void initialize(Configuration configuration, String accountName) throws IOException {
        provision = Provision.load(getClass(), configuration, accountName, clock, MIN_MARGIN);
    }

    /**
     * A SAS (without a leading {@code ?}) for {@code operation} on {@code fileSystem}.
     *
     * @param account the storage account, {@code mystorage}
     * @param fileSystem the container
     * @param path the path operated on (not sent: the SAS covers the container)
     * @param operation one of {@code SASTokenProvider}'s {@code *_OPERATION} constants
     * @throws IOException when the sidecar cannot be reached in time or refuses; the message
     *     names the account, the container, the sidecar's URL and what to check
     */
    @Override
    public String getSASToken(String account, String fileSystem, String path, String operation)
            throws IOException {
        Provision<Scope> current = Provision.require(provision, this);
        SidecarClient client = current.client();
        String name = SidecarSettings.accountOf(account == null ? client.settings().account() : account);
        if (fileSystem == null || fileSystem.isEmpty()) {
            throw new IOException("No container given for a SAS on storage account '" + name + "': ABFS"
                    + " names one for every operation ('" + SidecarSettings.clip(operation) + "' here).");
        }
        Scope scope = new Scope(name, fileSystem, SasPermissions.forOperation(operation));
        return current.get(scope, () -> fetch(client, scope)).secret();
    }

    private Credential fetch(SidecarClient client, Scope scope) throws IOException {
        SidecarClient.Ask ask = new SidecarClient.Ask("a SAS for storage account '" + scope.account()
                + "', container '" + scope.container() + "' (permissions " + scope.permissions() + ")",
                "storage/" + scope.account() + "/" + scope.container());
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("account", scope.account());
        body.put("container", scope.container());
        body.put("permissions", scope.permissions());
        // Whole seconds, as the sidecar's ttl takes; at least one.
        client.settings().sasTtl().ifPresent(ttl -> body.put("ttl", Math.max(1L, ttl.toSeconds())));
        Map<String, Object> answer = client.post("/v1/storage/sas", body, ask);

        String token = client.string(answer, "sas_token", ask);
        if (token.startsWith("?")) {
            token = token.substring(1);
        }
        Instant expires = client.time(answer, "expires_on", ask);
        String granted = answer.get("permissions") instanceof String text ? text : "";
        for (char letter : scope.permissions().toCharArray()) {
            if (granted.indexOf(letter) < 0) {
                // Never the case with the sidecar, which refuses rather than narrows; but a SAS
                // that cannot do the operation would fail later with a vaguer 403 from Azure.
                throw client.badAnswer(ask, "granted '" + SidecarSettings.clip(granted) + "' only.");
            }
        }
        if (!expires.isAfter(clock.instant())) {
            throw client.badAnswer(ask, "answered a SAS that expired at " + expires + " by this machine's"
                    + " clock: check the clocks of this host and the sidecar's.");
        }
        return new Credential(token, expires);
    }

    @Override
    public String toString() {
        return Provision.describe(this, provision);
    }
}
