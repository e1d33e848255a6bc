package org.akvsidecar.hadoop;

import java.time.Instant;
import java.util.Objects;

/**
 * A vended secret (a SAS, an access token or an account key) and when it stops working.
 *
 * <p>{@code toString} leaves the secret out, so a credential that ends up in a log, an
 * exception or a debugger's variable view shows only its expiry.
 */
record Credential(String secret, Instant expiresOn) {
    Credential {
        Objects.requireNonNull(secret, "secret");
        Objects.requireNonNull(expiresOn, "expiresOn");
    }

    @Override
    public String toString() {
        return "Credential[secret=<redacted>, expiresOn=" + expiresOn + "]";
    }
}
