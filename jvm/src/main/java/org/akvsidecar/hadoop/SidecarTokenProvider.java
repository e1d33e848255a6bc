package org.akvsidecar.hadoop;

import java.io.IOException;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Date;
import java.util.Map;
import java.util.Objects;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.azurebfs.extensions.CustomTokenProviderAdaptee;

/**
 * ABFS's custom OAuth token provider, backed by the akv-sidecar's {@code POST /v1/tokens}: an
 * Entra ID access token for Azure Storage of the sidecar's own identity.
 *
 * <pre>
 * fs.azure.account.auth.type           Custom
 * fs.azure.account.oauth.provider.type org.akvsidecar.hadoop.SidecarTokenProvider
 * fs.azure.akv-sidecar.url             http://127.0.0.1:8787   (or AKV_SIDECAR_URL)
 * fs.azure.akv-sidecar.token.file      /var/run/secrets/akv-sidecar/token (or AKV_SIDECAR_TOKEN_FILE)
 * </pre>
 *
 * <p>({@code Custom} is ABFS's auth type for a {@code CustomTokenProviderAdaptee}; with
 * {@code OAuth} it expects one of its own {@code AccessTokenProvider}s.) ABFS asks for a new token once the one it holds has less than five minutes left. The token
 * is cached until the later of 6 minutes or a tenth of its remaining life before it expires, so
 * that when ABFS asks, the sidecar is asked too (it renews its own from five minutes before
 * expiry, and until then keeps answering the one it holds). See {@link SidecarSettings}.
 */
public final class SidecarTokenProvider implements CustomTokenProviderAdaptee {
    /** The scope asked for: Azure Storage, in every cloud. */
    static final String STORAGE_SCOPE = "https://storage.azure.com/.default";
    /** Renew at least this long before expiry: past ABFS's own five-minute point. */
    static final Duration MIN_MARGIN = Duration.ofMinutes(6);

    private final Clock clock;
    private volatile Provision<String> provision;
    /** The expiry of the token last returned, which ABFS reads right after getAccessToken. */
    private volatile Instant expiry;

    /** The provider as ABFS creates it, by reflection; {@link #initialize} configures it. */
    public SidecarTokenProvider() {
        this(Clock.systemUTC());
    }

    SidecarTokenProvider(Clock clock) {
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
     * A Storage access token: cached, or fetched from the sidecar.
     *
     * @throws IOException when the sidecar cannot be reached in time or refuses; the message
     *     names the account, the scope, the sidecar's URL and what to check
     */
    @Override
    public String getAccessToken() throws IOException {
        Provision<String> current = Provision.require(provision, this);
        Credential token = current.get(STORAGE_SCOPE, () -> fetch(current.client()));
        expiry = token.expiresOn();
        return token.secret();
    }

    /** When the token last returned by {@link #getAccessToken} expires; null before the first. */
    @Override
    public Date getExpiryTime() {
        Instant last = expiry;
        return last == null ? null : Date.from(last);
    }

    private Credential fetch(SidecarClient current) throws IOException {
        SidecarClient.Ask ask = new SidecarClient.Ask("an access token for " + STORAGE_SCOPE
                + " (storage account '" + current.settings().account() + "')", "token/" + STORAGE_SCOPE);
        Map<String, Object> answer = current.post("/v1/tokens", Map.of("scope", STORAGE_SCOPE), ask);
        String token = current.string(answer, "access_token", ask);
        Instant expires = current.time(answer, "expires_on", ask);
        if (!expires.isAfter(clock.instant())) {
            throw current.badAnswer(ask, "answered a token that expired at " + expires + " by this"
                    + " machine's clock: check the clocks of this host and the sidecar's.");
        }
        return new Credential(token, expires);
    }

    @Override
    public String toString() {
        return Provision.describe(this, provision);
    }
}
