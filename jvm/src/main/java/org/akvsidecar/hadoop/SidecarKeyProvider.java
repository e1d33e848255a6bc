package org.akvsidecar.hadoop;

import java.io.IOException;
import java.util.Map;
import java.util.Objects;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.azurebfs.contracts.exceptions.KeyProviderException;
import org.apache.hadoop.fs.azurebfs.services.KeyProvider;

/**
 * ABFS's storage account key provider (Shared Key), backed by the akv-sidecar's
 * {@code GET /v1/vaults/{vault}/secrets/{name}}: the key is read from Key Vault through the
 * sidecar when ABFS opens the account, and is named in the configuration, never written there.
 *
 * <pre>
 * fs.azure.account.auth.type                   SharedKey
 * fs.azure.account.keyprovider                 org.akvsidecar.hadoop.SidecarKeyProvider
 * fs.azure.akv-sidecar.key.vault.mystorage     mykv
 * fs.azure.akv-sidecar.key.secret.mystorage    mystorage-key
 * </pre>
 *
 * <p>Prefer {@link SidecarSasTokenProvider} where it fits: executors then hold a SAS for one
 * container, not the key to the whole account. ABFS 3.5 takes key providers from
 * {@code org.apache.hadoop.fs.azurebfs.services}; WASB's {@code org.apache.hadoop.fs.azure.KeyProvider}
 * is gone with WASB. ABFS creates the provider with its public no-argument constructor.
 */
public final class SidecarKeyProvider implements KeyProvider {
    private final Map<String, String> env;

    /** The provider as ABFS creates it, by reflection. */
    public SidecarKeyProvider() {
        this(System.getenv());
    }

    SidecarKeyProvider(Map<String, String> env) {
        this.env = Objects.requireNonNull(env, "env");
    }

    /**
     * The account key of {@code accountName} ({@code mystorage.dfs.core.windows.net}).
     *
     * @throws KeyProviderException when the keys naming the secret are missing or the sidecar
     *     cannot be reached in time or refuses; the message names the account, the vault and
     *     secret, the sidecar's URL and what to check, never the key
     */
    @Override
    public String getStorageAccountKey(String accountName, Configuration conf) throws KeyProviderException {
        try {
            SidecarSettings settings = SidecarSettings.load(conf, accountName, env);
            SidecarSettings.Keys keys = SidecarSettings.keys(conf, accountName);
            String account = keys.account;
            String vault = name(keys, SidecarSettings.KEY_VAULT, account, "[0-9A-Za-z-]{3,24}");
            String secret = name(keys, SidecarSettings.KEY_SECRET, account, "[0-9A-Za-z-]{1,127}");
            SidecarClient client = new SidecarClient(settings);
            SidecarClient.Ask ask = new SidecarClient.Ask("the account key of storage account '" + account
                    + "' (secret '" + secret + "' of vault '" + vault + "')", vault + "/" + secret);
            Map<String, Object> answer = client.get("/v1/vaults/" + vault + "/secrets/" + secret, ask);
            return client.string(answer, "value", ask);
        } catch (KeyProviderException failed) {
            throw failed;
        } catch (IOException failed) {
            KeyProviderException wrapped = new KeyProviderException(failed.getMessage());
            wrapped.initCause(failed); // hadoop-azure 3.5.0's (String, Throwable) drops the cause
            throw wrapped;
        }
    }

    private static String name(SidecarSettings.Keys keys, String key, String account, String pattern)
            throws KeyProviderException {
        String value = keys.get(key).orElseThrow(() -> new KeyProviderException("No Key Vault secret named"
                + " for the account key of storage account '" + account + "': set " + SidecarSettings.KEY_VAULT
                + "." + account + " and " + SidecarSettings.KEY_SECRET + "." + account + " (the vault and"
                + " the secret's name, no secret itself)."));
        if (!value.matches(pattern)) {
            // The names go into the request's path: letters, digits and hyphens only, as Key Vault's.
            throw new KeyProviderException(keys.which(key).orElse(key) + "='" + SidecarSettings.clip(value)
                    + "' is not a Key Vault name: use letters, digits and hyphens.");
        }
        return value;
    }
}
