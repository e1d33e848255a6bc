package org.akvsidecar.hadoop;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Vended credentials by scope, each renewed a safety margin before it expires, with one request
 * in flight per scope.
 *
 * <p>ABFS asks for a credential before every request, from many threads; without this, each of
 * them would be one call to the sidecar. The margin is the later of a fixed minimum and a tenth
 * of the credential's remaining life, and at most a quarter of a new one's. When the sidecar answers with a credential that is already
 * inside the margin (it keeps handing out its own cached one for a while), the answer is used and
 * asked for again after {@link #RECHECK}, not on every call. When renewing fails while the
 * credential held still has more than {@link #FLOOR} to live, that one is served and renewal is
 * retried after {@link #RECHECK}: a sidecar restart then costs no failed request. A leader
 * interrupted (a Spark task killed) fails alone: the threads that waited on it start a new flight.
 *
 * @param <K> the scope: a value type whose {@code toString} holds no secret
 */
final class CredentialCache<K> {
    /** How soon to ask again after an answer already inside the margin, or a failed renewal. */
    static final Duration RECHECK = Duration.ofSeconds(5);
    /** A credential with less than this left is not served from the cache after a failure. */
    static final Duration FLOOR = Duration.ofSeconds(10);

    private static final Logger LOG = LoggerFactory.getLogger(CredentialCache.class);

    /** Fetches one credential from the sidecar. */
    interface Fetch {
        Credential fetch() throws IOException;
    }

    private record Lease(Credential credential, Instant refreshAt) {
    }

    private static final class Slot {
        volatile Lease lease;
        CompletableFuture<Lease> flight; // guarded by the slot
    }

    private final Clock clock;
    private final Duration minMargin;
    private final ConcurrentHashMap<K, Slot> slots = new ConcurrentHashMap<>();

    CredentialCache(Clock clock, Duration minMargin) {
        this.clock = clock;
        this.minMargin = minMargin;
    }

    /** The credential for {@code scope}: cached, or fetched once for every caller waiting on it. */
    Credential get(K scope, Fetch fetch) throws IOException {
        while (true) {
            Lease got = attempt(scope, fetch);
            if (got != null) {
                return got.credential;
            }
            // The leader was interrupted (its Spark task killed): that is its failure, not this
            // thread's, which leads or follows a new flight.
        }
    }

    /** The lease for {@code scope}, or null when the flight followed ended by its leader's interrupt. */
    private Lease attempt(K scope, Fetch fetch) throws IOException {
        Slot slot = slots.computeIfAbsent(scope, k -> new Slot());
        Lease lease = slot.lease;
        if (lease != null && clock.instant().isBefore(lease.refreshAt)) {
            return lease;
        }
        CompletableFuture<Lease> flight;
        boolean leader;
        synchronized (slot) {
            lease = slot.lease;
            if (lease != null && clock.instant().isBefore(lease.refreshAt)) {
                return lease;
            }
            leader = slot.flight == null;
            if (leader) {
                slot.flight = new CompletableFuture<>();
            }
            flight = slot.flight;
        }
        // Outside the lock: the leader takes it again to end the flight.
        return leader ? lead(scope, slot, flight, fetch) : await(flight);
    }

    /** The one fetch of a flight; its outcome is every follower's too. */
    private Lease lead(K scope, Slot slot, CompletableFuture<Lease> flight, Fetch fetch)
            throws IOException {
        Lease next;
        try {
            next = lease(fetch.fetch(), slot.lease, clock.instant());
        } catch (IOException | RuntimeException | Error failure) {
            Lease held = slot.lease;
            Instant now = clock.instant();
            if (held == null || !now.isBefore(held.credential.expiresOn().minus(FLOOR))
                    || failure instanceof Error) {
                finish(slot, null);
                flight.completeExceptionally(failure);
                throw failure;
            }
            next = new Lease(held.credential, earliest(now.plus(RECHECK), held.credential.expiresOn().minus(FLOOR)));
            // The message is ours and names no secret; the credential held is still good.
            LOG.warn("akv-sidecar: renewing {} failed, serving the one held until {} and retrying in {} s: {}",
                    scope, held.credential.expiresOn(), RECHECK.toSeconds(), failure.getMessage());
        }
        finish(slot, next);
        flight.complete(next);
        LOG.debug("akv-sidecar: {} valid until {}, renewed from {}", scope, next.credential.expiresOn(),
                next.refreshAt);
        return next;
    }

    private static void finish(Slot slot, Lease next) {
        if (next != null) {
            slot.lease = next;
        }
        synchronized (slot) {
            slot.flight = null;
        }
    }

    private Lease lease(Credential credential, Lease held, Instant now) {
        Duration left = Duration.between(now, credential.expiresOn());
        Duration margin = left.dividedBy(10).compareTo(minMargin) > 0 ? left.dividedBy(10) : minMargin;
        boolean again = held != null && held.credential.equals(credential);
        if (!again && margin.compareTo(left.dividedBy(4)) > 0) {
            // Short-lived (a SAS of a 20 s max_ttl): renew with a quarter of its life left, once,
            // when the sidecar (which re-signs with a third left) answers a new one. The one held,
            // answered again (a token the sidecar keeps until 5 minutes before expiry), is not
            // short-lived: it is asked for again after RECHECK, below.
            margin = left.dividedBy(4);
        }
        Instant refreshAt = credential.expiresOn().minus(margin);
        Instant soonest = now.plus(RECHECK);
        if (refreshAt.isBefore(soonest)) {
            // Inside the margin already: the sidecar renews on its own schedule (a SAS with a
            // third of its life left, a token 5 minutes before expiry), so ask again shortly
            // rather than at once, and never past the floor.
            refreshAt = earliest(soonest, credential.expiresOn().minus(FLOOR));
        }
        return new Lease(credential, refreshAt);
    }

    private static Instant earliest(Instant a, Instant b) {
        return a.isBefore(b) ? a : b;
    }

    /** The flight's lease, or null when its leader was interrupted (and this thread was not). */
    private static Lease await(CompletableFuture<Lease> flight) throws IOException {
        try {
            // Unbounded here, bounded by the leader: its fetch has the client's deadline.
            return flight.get();
        } catch (InterruptedException interrupted) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("Interrupted while waiting for the akv-sidecar.");
        } catch (ExecutionException failed) {
            Throwable cause = failed.getCause();
            if (cause.getClass() == InterruptedIOException.class && !Thread.currentThread().isInterrupted()) {
                return null;
            }
            if (cause instanceof SidecarException sidecar) {
                throw sidecar.copy(); // this thread's own stack, the same message and code
            }
            if (cause instanceof Error error) {
                throw error;
            }
            throw new IOException(cause.getMessage(), cause);
        }
    }
}
