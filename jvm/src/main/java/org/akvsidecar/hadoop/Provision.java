package org.akvsidecar.hadoop;

import java.io.IOException;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

import org.apache.hadoop.conf.Configuration;

/**
 * What a vending provider holds once ABFS has initialized it for an account: the sidecar's client
 * and the cache of what the sidecar vended. The SAS and token providers' {@code initialize}, their
 * "not initialized" failure and their {@code toString}, written once.
 *
 * <p>The cache is the JVM's, shared by every provider of the same kind that asks the same sidecar
 * with the same settings: ABFS makes a provider per FileSystem instance, and a JVM may hold several
 * for one container (one per user, or a {@code FileSystem.newInstance}), each of which would
 * otherwise ask for its own SAS of the same scope.
 *
 * @param <K> the cache's scope
 */
final class Provision<K> {
    /** By kind, clock, margin, sidecar URL, token file and SAS lifetime: as many as configurations. */
    private static final Map<List<Object>, CredentialCache<?>> CACHES = new ConcurrentHashMap<>();

    private final SidecarClient client;
    private final CredentialCache<K> cache;

    private Provision(SidecarClient client, CredentialCache<K> cache) {
        this.client = client;
        this.cache = cache;
    }

    /**
     * The settings of {@code accountName} ({@code mystorage.dfs.core.windows.net}) from {@code conf},
     * a client of the sidecar they name, and the JVM's cache for {@code kind} of providers with
     * these settings, renewing {@code margin} ahead at least.
     *
     * @throws IOException when a key is invalid or no caller token file is set
     */
    static <K> Provision<K> load(Class<?> kind, Configuration conf, String accountName, Clock clock,
            Duration margin) throws IOException {
        SidecarSettings settings = SidecarSettings.load(conf, accountName);
        List<Object> key = List.of(kind, clock, margin, settings.url(), settings.tokenFile(),
                settings.sasTtl().map(Object.class::cast).orElse(""));
        @SuppressWarnings("unchecked") // one kind, one scope type: the key's first element
        CredentialCache<K> cache = (CredentialCache<K>) CACHES.computeIfAbsent(key,
                k -> new CredentialCache<K>(clock, margin));
        return new Provision<>(new SidecarClient(settings), cache);
    }

    /** {@code held}, or the failure of a provider used before ABFS initialized it. */
    static <K> Provision<K> require(Provision<K> held, Object provider) throws IOException {
        if (held == null) {
            throw new IOException(provider.getClass().getSimpleName() + " was not initialized: ABFS"
                    + " calls initialize first; a caller of its own must too.");
        }
        return held;
    }

    /** {@code Provider[settings]}: names and paths, never a credential. */
    static String describe(Object provider, Provision<?> held) {
        return provider.getClass().getSimpleName() + "["
                + (held == null ? "not initialized" : held.client.settings()) + "]";
    }

    SidecarClient client() {
        return client;
    }

    /** The credential of {@code scope}: cached, or fetched with {@code fetch} once for all waiting. */
    Credential get(K scope, CredentialCache.Fetch fetch) throws IOException {
        return cache.get(scope, fetch);
    }
}
