package org.akvsidecar.hadoop;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.InterruptedIOException;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

import org.junit.jupiter.api.Test;

class CredentialCacheTest {
    private final TestClock clock = new TestClock("2026-01-01T00:00:00Z");
    private final CredentialCache<String> cache = new CredentialCache<>(clock, Duration.ofMinutes(6));

    @Test
    void aLeaderInterruptedFailsItselfNotTheThreadsWaitingOnIt() throws Exception {
        // A Spark task killed mid-fetch (speculation, cancellation) interrupts the leader: the
        // other tasks of the executor that wait on the same scope must fetch again, not fail.
        CountDownLatch leading = new CountDownLatch(1);
        CountDownLatch followerWaits = new CountDownLatch(1);
        AtomicInteger fetches = new AtomicInteger();
        AtomicReference<Throwable> leaderFailure = new AtomicReference<>();
        Thread leader = new Thread(() -> {
            try {
                cache.get("scope", () -> {
                    fetches.incrementAndGet();
                    leading.countDown();
                    try { // as SidecarClient waits on the sidecar's answer
                        Thread.sleep(10_000);
                    } catch (InterruptedException interrupted) {
                        Thread.currentThread().interrupt();
                        throw new InterruptedIOException("Interrupted while asking the akv-sidecar.");
                    }
                    throw new AssertionError("not interrupted");
                });
            } catch (Throwable failed) {
                leaderFailure.set(failed);
            }
        });
        leader.start();
        leading.await();
        CompletableFuture<String> follower = CompletableFuture.supplyAsync(() -> {
            followerWaits.countDown();
            try {
                return cache.get("scope", () -> {
                    fetches.incrementAndGet();
                    return new Credential("fresh", clock.instant().plus(Duration.ofHours(1)));
                }).secret();
            } catch (Exception failed) {
                throw new RuntimeException(failed);
            }
        });
        followerWaits.await();
        Thread.sleep(100);
        leader.interrupt();
        leader.join(5000);
        assertEquals("fresh", follower.get(5, TimeUnit.SECONDS));
        assertEquals(2, fetches.get());
        assertEquals(InterruptedIOException.class, leaderFailure.get().getClass());
    }

    @Test
    void theSameTokenAnsweredInsideTheMarginIsAskedAgainSoonNotAtAQuarterOfItsLife() throws Exception {
        // The sidecar answers the token it holds until 5 minutes before its expiry: the one asked for
        // 6 minutes before is the same, and must be asked for again shortly (not 90 s before expiry),
        // so that the sidecar's renewal reaches ABFS, which wants one from 5 minutes before expiry.
        Instant expiry = clock.instant().plus(Duration.ofHours(1));
        AtomicInteger fetches = new AtomicInteger();
        CredentialCache.Fetch sidecar = () -> fetches.incrementAndGet() == 1 || !clock.instant()
                .isAfter(expiry.minus(Duration.ofMinutes(5)))
                ? new Credential("old", expiry)
                : new Credential("new", clock.instant().plus(Duration.ofHours(1)));
        assertEquals("old", cache.get("t", sidecar).secret());
        clock.set(expiry.minus(Duration.ofMinutes(6)));
        assertEquals("old", cache.get("t", sidecar).secret());
        clock.set(expiry.minus(Duration.ofMinutes(5)).plus(Duration.ofSeconds(6)));
        assertEquals("new", cache.get("t", sidecar).secret());
    }

    @Test
    void aFailedFlightLeavesTheNextCallerToTryAgain() throws Exception {
        AtomicInteger fetches = new AtomicInteger();
        CredentialCache.Fetch failing = () -> {
            fetches.incrementAndGet();
            throw new SidecarException("down", 0, null, null);
        };
        assertThrows(SidecarException.class, () -> cache.get("s", failing));
        assertEquals("ok", cache.get("s", () -> new Credential("ok", clock.instant().plusSeconds(3600))).secret());
        assertEquals(1, fetches.get());
    }
}
