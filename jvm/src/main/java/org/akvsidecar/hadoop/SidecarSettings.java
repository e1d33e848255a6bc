package org.akvsidecar.hadoop;

import java.io.IOException;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

import org.apache.hadoop.conf.Configuration;

/**
 * Where the sidecar is and how to reach it, for one storage account: read from Hadoop keys that
 * hold no secret, with defaults from the pod's environment.
 *
 * <p>Each key may also be given per account, as ABFS's own keys are: {@code KEY.<account host>}
 * (for example {@code fs.azure.akv-sidecar.url.mystorage.dfs.core.windows.net}), then
 * {@code KEY.<account>}, then {@code KEY}. The URL and the token file fall back to the
 * {@value #ENV_URL} and {@value #ENV_TOKEN_FILE} environment variables, which the akv-sidecar's
 * pod templates already set, so a Spark job needs nothing else.
 *
 * <table>
 *   <caption>Keys</caption>
 *   <tr><th>key</th><th>default</th><th>meaning</th></tr>
 *   <tr><td>{@value #URL}</td><td>{@value #ENV_URL}, else {@value #DEFAULT_URL}</td>
 *       <td>the sidecar's base URL</td></tr>
 *   <tr><td>{@value #TOKEN_FILE}</td><td>{@value #ENV_TOKEN_FILE}</td>
 *       <td>the file holding the caller token (re-read when it changes)</td></tr>
 *   <tr><td>{@value #TIMEOUT}</td><td>10s</td>
 *       <td>the longest one call to the sidecar may take, connecting included</td></tr>
 *   <tr><td>{@value #SAS_TTL}</td><td>the sidecar's (the account's {@code max_ttl})</td>
 *       <td>the lifetime asked for each SAS</td></tr>
 *   <tr><td>{@value #KEY_VAULT}, {@value #KEY_SECRET}</td><td>none</td>
 *       <td>for {@link SidecarKeyProvider}: the Key Vault secret holding the account key</td></tr>
 * </table>
 */
public final class SidecarSettings {
    /** The prefix of every key this library reads. */
    public static final String PREFIX = "fs.azure.akv-sidecar.";
    /** The sidecar's base URL, such as {@code http://127.0.0.1:8787}. */
    public static final String URL = PREFIX + "url";
    /** The path of the file that holds the caller token (never the token itself). */
    public static final String TOKEN_FILE = PREFIX + "token.file";
    /** The deadline of one call to the sidecar: {@code 10s}, {@code 500ms}; a bare number is seconds. */
    public static final String TIMEOUT = PREFIX + "timeout";
    /** The lifetime asked for each SAS ({@code 30m}, {@code 3600}); unset: the sidecar's default. */
    public static final String SAS_TTL = PREFIX + "sas.ttl";
    /** The Key Vault vault holding an account key, for {@link SidecarKeyProvider}. */
    public static final String KEY_VAULT = PREFIX + "key.vault";
    /** The Key Vault secret holding an account key, for {@link SidecarKeyProvider}. */
    public static final String KEY_SECRET = PREFIX + "key.secret";
    /** The environment variable giving the URL when no key does. */
    public static final String ENV_URL = "AKV_SIDECAR_URL";
    /** The environment variable giving the token file when no key does. */
    public static final String ENV_TOKEN_FILE = "AKV_SIDECAR_TOKEN_FILE";
    /** The sidecar's default address, as the Python client's. */
    public static final String DEFAULT_URL = "http://127.0.0.1:8787";
    /** The default deadline of one call. */
    public static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(10);

    private final String account;
    private final String url;
    private final Path tokenFile;
    private final Duration timeout;
    private final Duration sasTtl;

    SidecarSettings(String account, String url, Path tokenFile, Duration timeout, Duration sasTtl) {
        this.account = Objects.requireNonNull(account, "account");
        this.url = Objects.requireNonNull(url, "url");
        this.tokenFile = Objects.requireNonNull(tokenFile, "tokenFile");
        this.timeout = Objects.requireNonNull(timeout, "timeout");
        this.sasTtl = sasTtl;
    }

    /**
     * The settings for {@code accountName} (ABFS passes {@code mystorage.dfs.core.windows.net},
     * or just {@code mystorage}) from {@code conf} and the process environment.
     *
     * @param conf the Hadoop configuration
     * @param accountName the storage account, with or without its host's domain
     * @return the settings
     * @throws IOException when a key holds a value that cannot work, or no token file is set;
     *     the message names the key
     */
    public static SidecarSettings load(Configuration conf, String accountName) throws IOException {
        return load(conf, accountName, System.getenv());
    }

    static SidecarSettings load(Configuration conf, String accountName, Map<String, String> env)
            throws IOException {
        Keys keys = keys(conf, accountName);
        String account = keys.account;

        String url = keys.get(URL).orElseGet(() -> nonEmpty(env.get(ENV_URL)).orElse(DEFAULT_URL));
        url = checkUrl(url, keys.which(URL).orElse(ENV_URL));

        String file = keys.get(TOKEN_FILE).or(() -> nonEmpty(env.get(ENV_TOKEN_FILE)))
                .orElseThrow(() -> new IOException("No caller token file for the akv-sidecar (storage account '"
                        + account + "'): set " + TOKEN_FILE + " (or " + TOKEN_FILE + "." + account
                        + ") to the file holding the caller token, or " + ENV_TOKEN_FILE
                        + " in the environment."));

        Duration timeout = keys.duration(TIMEOUT).orElse(DEFAULT_TIMEOUT);
        Duration sasTtl = keys.duration(SAS_TTL).orElse(null);
        return new SidecarSettings(account, url, Path.of(file), timeout, sasTtl);
    }

    /** The storage account's name: the host's first label, lower case ({@code mystorage}). */
    static String accountOf(String accountName) throws IOException {
        String name = accountName == null ? "" : accountName.trim().toLowerCase(Locale.ROOT);
        int dot = name.indexOf('.');
        String account = dot < 0 ? name : name.substring(0, dot);
        if (!account.matches("[a-z0-9]{3,24}")) {
            throw new IOException("'" + clip(name) + "' is not a storage account name (3-24 lowercase"
                    + " letters and digits, optionally followed by its host, such as"
                    + " mystorage.dfs.core.windows.net).");
        }
        return account;
    }

    /** The keys of {@code accountName} (with or without its host's domain) in {@code conf}. */
    static Keys keys(Configuration conf, String accountName) throws IOException {
        Objects.requireNonNull(conf, "conf");
        String host = accountName == null ? "" : accountName.trim().toLowerCase(Locale.ROOT);
        return new Keys(conf, host, accountOf(accountName));
    }

    /** Looks a key up per account first, as {@code AbfsConfiguration} does for ABFS's own keys. */
    static final class Keys {
        /** The storage account's name. */
        final String account;
        private final Configuration conf;
        private final String[] suffixes;

        Keys(Configuration conf, String host, String account) {
            this.account = account;
            this.conf = conf;
            this.suffixes = host.equals(account) ? new String[] {"." + account, ""}
                    : new String[] {"." + host, "." + account, ""};
        }

        /** The first key of {@code key}'s forms that is set. */
        Optional<String> which(String key) {
            for (String suffix : suffixes) {
                if (nonEmpty(conf.getTrimmed(key + suffix)).isPresent()) {
                    return Optional.of(key + suffix);
                }
            }
            return Optional.empty();
        }

        Optional<String> get(String key) {
            return which(key).map(conf::getTrimmed);
        }

        Optional<Duration> duration(String key) throws IOException {
            Optional<String> name = which(key);
            if (name.isEmpty()) {
                return Optional.empty();
            }
            long millis;
            try {
                millis = conf.getTimeDuration(name.get(), 0L, TimeUnit.SECONDS, TimeUnit.MILLISECONDS);
            } catch (IllegalArgumentException bad) {
                millis = -1;
            }
            if (millis <= 0) {
                throw new IOException(name.get() + "='" + clip(conf.getTrimmed(name.get()))
                        + "' is not a positive duration: use a number of seconds or a value such as"
                        + " 10s, 500ms or 30m.");
            }
            return Optional.of(Duration.ofMillis(millis));
        }
    }

    private static String checkUrl(String url, String source) throws IOException {
        String trimmed = url.trim();
        while (trimmed.endsWith("/")) {
            trimmed = trimmed.substring(0, trimmed.length() - 1);
        }
        URI uri;
        try {
            uri = new URI(trimmed);
        } catch (URISyntaxException bad) {
            throw new IOException(source + " is not a URL: use http://HOST:PORT, such as " + DEFAULT_URL
                    + ".");
        }
        if (uri.getRawUserInfo() != null) {
            // Not echoed: user info is a credential, and a URL is logged.
            throw new IOException(source + " must not carry user info (user:password@): the caller"
                    + " token comes from " + TOKEN_FILE + ".");
        }
        if (uri.getRawQuery() != null || uri.getRawFragment() != null) {
            // Not echoed either: a query string is where a SAS would sit.
            throw new IOException(source + " must be a base URL with no query or fragment, such as "
                    + DEFAULT_URL + ".");
        }
        String scheme = uri.getScheme() == null ? "" : uri.getScheme().toLowerCase(Locale.ROOT);
        if (!scheme.equals("http") && !scheme.equals("https") || uri.getHost() == null) {
            throw new IOException(source + "='" + clip(trimmed) + "' is not a sidecar URL: use"
                    + " http://HOST:PORT (or https://), such as " + DEFAULT_URL + ".");
        }
        return trimmed;
    }

    private static Optional<String> nonEmpty(String value) {
        return value == null || value.isBlank() ? Optional.empty() : Optional.of(value.trim());
    }

    static String clip(String value) {
        return value == null ? "" : value.length() <= 100 ? value : value.substring(0, 100) + "...";
    }

    /**
     * The storage account's name, such as {@code mystorage}.
     *
     * @return the account's name
     */
    public String account() {
        return account;
    }

    /**
     * The sidecar's base URL, without a trailing slash.
     *
     * @return the URL
     */
    public String url() {
        return url;
    }

    /**
     * The file holding the caller token.
     *
     * @return the file's path
     */
    public Path tokenFile() {
        return tokenFile;
    }

    /**
     * The deadline of one call to the sidecar, connecting included.
     *
     * @return the deadline
     */
    public Duration timeout() {
        return timeout;
    }

    /**
     * The lifetime to ask for each SAS, or empty for the sidecar's default.
     *
     * @return the lifetime, or empty
     */
    public Optional<Duration> sasTtl() {
        return Optional.ofNullable(sasTtl);
    }

    @Override
    public boolean equals(Object other) {
        return other instanceof SidecarSettings that && account.equals(that.account)
                && url.equals(that.url) && tokenFile.equals(that.tokenFile)
                && timeout.equals(that.timeout) && Objects.equals(sasTtl, that.sasTtl);
    }

    @Override
    public int hashCode() {
        return Objects.hash(account, url, tokenFile, timeout, sasTtl);
    }

    /** Names and paths only: the settings hold no secret. */
    @Override
    public String toString() {
        return "SidecarSettings[account=" + account + ", url=" + url + ", tokenFile=" + tokenFile
                + ", timeout=" + timeout + ", sasTtl=" + sasTtl + "]";
    }
}
