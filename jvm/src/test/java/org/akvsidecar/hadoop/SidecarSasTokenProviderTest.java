package org.akvsidecar.hadoop;

import static org.akvsidecar.hadoop.Fixture.CALLER_TOKEN;
import static org.akvsidecar.hadoop.Fixture.HOST;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.azurebfs.extensions.SASTokenProvider;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SidecarSasTokenProviderTest {
    /** What a SAS looks like; its signature is what must never show up in a message. */
    static final String SAS = "sv=2024-11-04&se=2026-01-01T01%3A00%3A00Z&sr=c&sp=rl&sig=SAS-SIGNATURE-never-leak";

    /** Every read-only operation of hadoop-azure 3.5.0's SASTokenProvider. */
    static final Set<String> READ_ONLY = Set.of(SASTokenProvider.READ_OPERATION,
            SASTokenProvider.GET_STATUS_OPERATION, SASTokenProvider.GET_PROPERTIES_OPERATION,
            SASTokenProvider.LIST_OPERATION, SASTokenProvider.LIST_OPERATION_BLOB,
            SASTokenProvider.GET_ACL_OPERATION, SASTokenProvider.CHECK_ACCESS_OPERATION,
            SASTokenProvider.COPY_BLOB_SRC_OPERATION);
    /** Every operation that changes data. */
    static final Set<String> WRITES = Set.of(SASTokenProvider.WRITE_OPERATION,
            SASTokenProvider.CREATE_FILE_OPERATION, SASTokenProvider.CREATE_DIRECTORY_OPERATION,
            SASTokenProvider.DELETE_OPERATION, SASTokenProvider.DELETE_RECURSIVE_OPERATION,
            SASTokenProvider.RENAME_SOURCE_OPERATION, SASTokenProvider.RENAME_DESTINATION_OPERATION,
            SASTokenProvider.SET_PROPERTIES_OPERATION, SASTokenProvider.LEASE_BLOB_OPERATION,
            SASTokenProvider.COPY_BLOB_DST_OPERATION);

    @TempDir
    Path dir;
    Fixture fx;
    SidecarSasTokenProvider provider;

    @BeforeEach
    void start() throws IOException {
        fx = new Fixture(dir);
        provider = new SidecarSasTokenProvider(fx.clock);
    }

    @AfterEach
    void stop() {
        fx.close();
    }

    private void initialize(Configuration conf) throws IOException {
        provider.initialize(conf, HOST);
    }

    /** A SAS living {@code life} from the test clock's now, numbered by request. */
    private FakeSidecar.Script sasFor(Duration life) {
        AtomicInteger n = new AtomicInteger();
        return request -> FakeSidecar.sas(request, SAS + "-" + n.incrementAndGet(),
                fx.clock.instant().plus(life).toString());
    }

    private String read() throws IOException {
        return provider.getSASToken("mystorage", "bronze", "/data/x.parquet", SASTokenProvider.READ_OPERATION);
    }

    @Test
    void asksTheSidecarAsItsContractSays() throws IOException {
        fx.sidecar.answer(sasFor(Duration.ofHours(1)));
        initialize(fx.conf());
        assertEquals(SAS + "-1", read());

        FakeSidecar.Request request = fx.sidecar.requests().get(0);
        assertEquals("POST", request.method());
        assertEquals("/v1/storage/sas", request.path());
        assertEquals(Map.of("account", "mystorage", "container", "bronze", "permissions", "rl"), request.json());
        assertEquals("Bearer " + CALLER_TOKEN, request.header("Authorization"));
        assertEquals("application/json", request.header("Content-Type"));
        assertEquals("akv-sidecar-hadoop/" + Version.VERSION, request.header("User-Agent"));
    }

    @Test
    void speaksHttp11WithoutAnUpgrade() throws IOException {
        fx.sidecar.answer(sasFor(Duration.ofHours(1)));
        initialize(fx.conf());
        read();
        FakeSidecar.Request request = fx.sidecar.requests().get(0);
        assertEquals("HTTP/1.1", request.protocol());
        // What made uvicorn log "Unsupported upgrade request": the JDK's default h2c upgrade.
        assertNull(request.header("Upgrade"));
        assertNull(request.header("HTTP2-Settings"));
    }

    @Test
    void sendsTheTtlWhenOneIsSet() throws IOException {
        fx.sidecar.answer(sasFor(Duration.ofMinutes(30)));
        Configuration conf = fx.conf();
        conf.set("fs.azure.akv-sidecar.sas.ttl", "30m");
        initialize(conf);
        read();
        assertEquals(Map.of("account", "mystorage", "container", "bronze", "permissions", "rl",
                "ttl", new java.math.BigDecimal(1800)), fx.sidecar.requests().get(0).json());
    }

    @Test
    void cachesUntilATenthOfTheLifeIsLeftThenRenews() throws IOException {
        fx.sidecar.answer(sasFor(Duration.ofHours(1)));
        initialize(fx.conf());
        assertEquals(SAS + "-1", read());
        fx.clock.advance(Duration.ofMinutes(53).plusSeconds(59)); // 6 min 1 s left
        assertEquals(SAS + "-1", read());
        assertEquals(1, fx.sidecar.requests().size());
        fx.clock.advance(Duration.ofSeconds(1)); // 6 min left: a tenth of an hour
        assertEquals(SAS + "-2", read());
        assertEquals(2, fx.sidecar.requests().size());
    }

    @Test
    void aShortSasIsRenewedAMinuteBeforeItExpires() throws IOException {
        fx.sidecar.answer(sasFor(Duration.ofMinutes(5)));
        initialize(fx.conf());
        read();
        fx.clock.advance(Duration.ofMinutes(3).plusSeconds(59));
        assertEquals(SAS + "-1", read());
        fx.clock.advance(Duration.ofSeconds(1));
        assertEquals(SAS + "-2", read());
    }

    @Test
    void aShortLivedAnswerIsKeptUntilAQuarterOfItsLifeIsLeftNotAskedEveryCall() throws IOException {
        // A 50 s SAS (a short max_ttl, or the sidecar's own near its end): inside the 60 s margin
        // from the start, so it is renewed with a quarter of its life left, in one request.
        fx.sidecar.answer(sasFor(Duration.ofSeconds(50)));
        initialize(fx.conf());
        read();
        fx.clock.advance(Duration.ofSeconds(37));
        read();
        read();
        assertEquals(1, fx.sidecar.requests().size());
        fx.clock.advance(Duration.ofSeconds(1));
        assertEquals(SAS + "-2", read());
        assertEquals(2, fx.sidecar.requests().size());
    }

    @Test
    void providersOfOneJvmShareTheirSasPerScope() throws IOException {
        // ABFS makes a provider per FileSystem instance: a second one for the same container (and
        // settings) is served the SAS the first asked for, with no request of its own.
        fx.sidecar.answer(sasFor(Duration.ofHours(1)));
        initialize(fx.conf());
        assertEquals(SAS + "-1", read());
        SidecarSasTokenProvider second = new SidecarSasTokenProvider(fx.clock);
        second.initialize(fx.conf(), HOST);
        assertEquals(SAS + "-1", second.getSASToken("mystorage", "bronze", "/other", SASTokenProvider.READ_OPERATION));
        assertEquals(1, fx.sidecar.requests().size());
        // Other settings are another cache: here another clock, as another sidecar or token file.
        SidecarSasTokenProvider apart = new SidecarSasTokenProvider(new TestClock(fx.clock.instant().toString()));
        apart.initialize(fx.conf(), HOST);
        assertEquals(SAS + "-2", apart.getSASToken("mystorage", "bronze", "/x", SASTokenProvider.READ_OPERATION));
    }

    @Test
    void readOnlyOperationsNeverAskForMoreThanReadAndList() {
        for (String operation : READ_ONLY) {
            assertEquals("rl", SasPermissions.forOperation(operation), operation);
        }
        for (String operation : WRITES) {
            assertEquals("racwdl", SasPermissions.forOperation(operation), operation);
        }
        assertEquals("o", SasPermissions.forOperation(SASTokenProvider.SET_OWNER_OPERATION));
        assertEquals("p", SasPermissions.forOperation(SASTokenProvider.SET_ACL_OPERATION));
        assertEquals("p", SasPermissions.forOperation(SASTokenProvider.SET_PERMISSION_OPERATION));
        assertEquals("racwdl", SasPermissions.forOperation("some-future-operation"));
    }

    @Test
    void everyOperationOfThisHadoopIsMappedOnPurpose() throws IllegalAccessException {
        // A new Hadoop with a new operation fails here, so that its mapping is decided, not defaulted.
        Set<String> known = new HashSet<>(READ_ONLY);
        known.addAll(WRITES);
        known.addAll(List.of(SASTokenProvider.SET_OWNER_OPERATION, SASTokenProvider.SET_ACL_OPERATION,
                SASTokenProvider.SET_PERMISSION_OPERATION));
        List<String> unmapped = new ArrayList<>();
        for (Field field : SASTokenProvider.class.getFields()) {
            if (Modifier.isStatic(field.getModifiers()) && field.getType() == String.class
                    && !known.contains((String) field.get(null))) {
                unmapped.add(field.getName());
            }
        }
        assertEquals(List.of(), unmapped);
    }

    @Test
    void eachPermissionSetIsItsOwnScopeAndTheContainerIsPartOfIt() throws IOException {
        fx.sidecar.answer(sasFor(Duration.ofHours(1)));
        initialize(fx.conf());
        String reading = read();
        String writing = provider.getSASToken("mystorage", "bronze", "/x", SASTokenProvider.WRITE_OPERATION);
        String listing = provider.getSASToken("mystorage", "bronze", "/", SASTokenProvider.LIST_OPERATION);
        String other = provider.getSASToken("mystorage", "silver", "/x", SASTokenProvider.READ_OPERATION);
        assertEquals(reading, listing);
        assertFalse(reading.equals(writing));
        assertFalse(reading.equals(other));
        List<String> asked = new ArrayList<>();
        for (FakeSidecar.Request request : fx.sidecar.requests()) {
            Map<String, Object> body = request.json();
            asked.add(body.get("container") + ":" + body.get("permissions"));
        }
        assertEquals(List.of("bronze:rl", "bronze:racwdl", "silver:rl"), asked);
    }

    @Test
    void concurrentCallersOfOneScopeShareOneRequest() throws Exception {
        AtomicInteger n = new AtomicInteger();
        fx.sidecar.answer(request -> {
            Thread.sleep(300);
            return FakeSidecar.sas(request, SAS + "-" + n.incrementAndGet(), "2026-01-01T01:00:00Z");
        });
        initialize(fx.conf());
        List<String> results = race(16, this::read);
        assertEquals(1, fx.sidecar.requests().size());
        assertEquals(Set.of(SAS + "-1"), Set.copyOf(results));
    }

    @Test
    void concurrentCallersShareAFailureTooRatherThanQueueingOneRequestEach() throws Exception {
        fx.sidecar.answer(request -> {
            Thread.sleep(300);
            return FakeSidecar.Reply.error(503, "KeyUnavailable", "The key could not be read");
        });
        initialize(fx.conf());
        List<String> results = race(16, () -> {
            try {
                return read();
            } catch (SidecarException failed) {
                return failed.code().orElse("?");
            }
        });
        assertEquals(1, fx.sidecar.requests().size());
        assertEquals(Set.of("KeyUnavailable"), Set.copyOf(results));
    }

    interface Call {
        String call() throws Exception;
    }

    private static List<String> race(int threads, Call call) throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        try {
            CountDownLatch ready = new CountDownLatch(threads);
            CountDownLatch go = new CountDownLatch(1);
            List<Future<String>> futures = new ArrayList<>();
            for (int i = 0; i < threads; i++) {
                futures.add(pool.submit(() -> {
                    ready.countDown();
                    go.await();
                    return call.call();
                }));
            }
            ready.await();
            go.countDown();
            List<String> results = new ArrayList<>();
            for (Future<String> future : futures) {
                results.add(future.get());
            }
            return results;
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void aNewTokenFileIsReadForTheNextRequest() throws IOException {
        fx.sidecar.answer(sasFor(Duration.ofMinutes(5)));
        initialize(fx.conf());
        read();
        Files.writeString(fx.tokenFile, "rotated-caller-token-0123456789\n");
        fx.clock.advance(Duration.ofMinutes(5));
        read();
        assertEquals("Bearer " + CALLER_TOKEN, fx.sidecar.requests().get(0).header("Authorization"));
        assertEquals("Bearer rotated-caller-token-0123456789", fx.sidecar.requests().get(1).header("Authorization"));
    }

    @Test
    void aHungSidecarFailsTheCallWithinTheTimeout() throws IOException {
        fx.sidecar.answer(request -> FakeSidecar.Reply.hang(10_000));
        Configuration conf = fx.conf();
        conf.set(SidecarSettings.TIMEOUT, "500ms");
        initialize(conf);
        long start = System.nanoTime();
        SidecarException error = assertThrows(SidecarException.class, this::read);
        long millis = (System.nanoTime() - start) / 1_000_000;
        assertTrue(millis >= 450 && millis < 1000, "took " + millis + " ms");
        assertTrue(error.getMessage().contains("did not answer"), error.getMessage());
        assertTrue(error.getMessage().contains("within 500 ms (fs.azure.akv-sidecar.timeout)"), error.getMessage());
        assertTrue(error.getMessage().contains(fx.sidecar.url()), error.getMessage());
        assertTrue(error.getMessage().contains("'mystorage', container 'bronze'"), error.getMessage());
    }

    @Test
    void aSidecarThatSendsHeadersThenStallsIsBoundedToo() throws IOException {
        fx.sidecar.answer(request -> FakeSidecar.Reply.stallBody(10_000));
        Configuration conf = fx.conf();
        conf.set(SidecarSettings.TIMEOUT, "500ms");
        initialize(conf);
        long start = System.nanoTime();
        assertThrows(SidecarException.class, this::read);
        long millis = (System.nanoTime() - start) / 1_000_000;
        assertTrue(millis < 1000, "took " + millis + " ms");
    }

    @Test
    void aRefusalCarriesTheSidecarsCodeAndSaysWhatToCheckButNeverTheToken() throws IOException {
        fx.sidecar.answer(request -> FakeSidecar.Reply.error(403, "Forbidden", "Caller 'etl' may not get a SAS"
                + " for 'storage/mystorage/bronze'; add a matching pattern to its 'allow' list in the sidecar's"
                + " configuration."));
        initialize(fx.conf());
        SidecarException error = assertThrows(SidecarException.class, this::read);
        String message = error.getMessage();
        assertEquals(403, error.status());
        assertEquals("Forbidden", error.code().orElseThrow());
        for (String part : List.of("storage account 'mystorage'", "container 'bronze'", "permissions rl",
                fx.sidecar.url(), "HTTP 403 Forbidden", "Caller 'etl' may not get a SAS", fx.tokenFile.toString(),
                "allow patterns", "'storage/mystorage/bronze'")) {
            assertTrue(message.contains(part), "'" + part + "' not in: " + message);
        }
        assertFalse(message.contains(CALLER_TOKEN), message);
        assertFalse(message.contains(".."), message);
    }

    @Test
    void theCallerTokenIsCutFromWhateverTheSidecarSays() throws IOException {
        fx.sidecar.answer(request -> FakeSidecar.Reply.error(401, "Unauthenticated", "bad " + CALLER_TOKEN));
        initialize(fx.conf());
        SidecarException error = assertThrows(SidecarException.class, this::read);
        assertFalse(error.getMessage().contains(CALLER_TOKEN), error.getMessage());
        assertTrue(error.getMessage().contains("Unauthenticated"), error.getMessage());
    }

    @Test
    void aBrokenAnswerNeverQuotesItsBody() throws IOException {
        for (String body : List.of("<html>" + SAS + "</html>", "{\"sas_token\": 5, \"x\": \"" + SAS + "\"}",
                "{\"sas_token\":\"" + SAS + "\",\"expires_on\":\"tomorrow\",\"permissions\":\"rl\"}")) {
            fx.sidecar.answer(request -> FakeSidecar.Reply.json(200, body));
            provider = new SidecarSasTokenProvider(fx.clock);
            initialize(fx.conf());
            SidecarException error = assertThrows(SidecarException.class, this::read);
            assertFalse(error.getMessage().contains("SAS-SIGNATURE"), error.getMessage());
            assertTrue(error.getMessage().contains("container 'bronze'"), error.getMessage());
        }
        fx.sidecar.answer(request -> FakeSidecar.Reply.json(502, "<html>" + SAS + "</html>"));
        SidecarException error = assertThrows(SidecarException.class, this::read);
        assertTrue(error.getMessage().contains("HTTP 502 (no akv-sidecar error body)"), error.getMessage());
        assertFalse(error.getMessage().contains("SAS-SIGNATURE"), error.getMessage());
    }

    @Test
    void anUnreachableSidecarIsNamed() throws IOException {
        Configuration conf = fx.conf();
        int port;
        try (ServerSocket free = new ServerSocket(0)) {
            port = free.getLocalPort();
        }
        conf.set(SidecarSettings.URL, "http://127.0.0.1:" + port);
        initialize(conf);
        SidecarException error = assertThrows(SidecarException.class, this::read);
        assertTrue(error.getMessage().contains("Could not reach the akv-sidecar at http://127.0.0.1:" + port),
                error.getMessage());
        assertTrue(error.getMessage().contains("AKV_SIDECAR_URL"), error.getMessage());
        assertEquals(0, error.status());
    }

    @Test
    void aMissingTokenFileFailsNamingItAndTheScope() throws IOException {
        fx.sidecar.answer(sasFor(Duration.ofHours(1)));
        initialize(fx.conf());
        Files.delete(fx.tokenFile);
        SidecarException error = assertThrows(SidecarException.class, this::read);
        assertTrue(error.getMessage().contains(fx.tokenFile.toString()), error.getMessage());
        assertTrue(error.getMessage().contains("container 'bronze'"), error.getMessage());
        assertEquals(0, fx.sidecar.requests().size());
    }

    @Test
    void theHeldSasIsServedWhileRenewalFailsUntilItsLastSeconds() throws IOException {
        AtomicInteger n = new AtomicInteger();
        Instant expires = Instant.parse("2026-01-01T01:00:00Z");
        fx.sidecar.answer(request -> n.getAndIncrement() == 0 ? FakeSidecar.sas(request, SAS, expires.toString())
                : FakeSidecar.Reply.error(503, "KeyUnavailable", "Key Vault is failing"));
        initialize(fx.conf());
        assertEquals(SAS, read());
        fx.clock.advance(Duration.ofMinutes(55)); // past the margin: renewal is due, and fails
        assertEquals(SAS, read());
        assertEquals(SAS, read()); // not asked again at once
        assertEquals(2, fx.sidecar.requests().size());
        fx.clock.advance(Duration.ofSeconds(5));
        assertEquals(SAS, read());
        assertEquals(3, fx.sidecar.requests().size());
        fx.clock.set(expires.minusSeconds(10)); // the floor: no longer served
        SidecarException error = assertThrows(SidecarException.class, this::read);
        assertEquals("KeyUnavailable", error.code().orElseThrow());
    }

    @Test
    void anExpiredOrNarrowerGrantIsRefused() throws IOException {
        fx.sidecar.answer(request -> FakeSidecar.sas(request, SAS, "2025-12-31T23:59:00Z"));
        initialize(fx.conf());
        SidecarException expired = assertThrows(SidecarException.class, this::read);
        assertTrue(expired.getMessage().contains("expired at 2025-12-31T23:59:00Z"), expired.getMessage());

        fx.sidecar.answer(request -> FakeSidecar.Reply.json(200, "{\"sas_token\":\"" + SAS + "\","
                + "\"expires_on\":\"2026-01-01T01:00:00Z\",\"permissions\":\"r\"}"));
        SidecarException narrower = assertThrows(SidecarException.class, this::read);
        assertTrue(narrower.getMessage().contains("granted 'r' only"), narrower.getMessage());
    }

    @Test
    void aLeadingQuestionMarkIsDroppedAndMillisecondTimesAreRead() throws IOException {
        fx.sidecar.answer(request -> FakeSidecar.sas(request, "?" + SAS, "2026-01-01T01:00:00.000Z"));
        initialize(fx.conf());
        assertEquals(SAS, read());
    }

    @Test
    void usedBeforeInitializeItSaysSo() {
        IOException error = assertThrows(IOException.class, this::read);
        assertTrue(error.getMessage().contains("not initialized"), error.getMessage());
    }

    @Test
    void toStringHoldsNoSecret() throws IOException {
        fx.sidecar.answer(sasFor(Duration.ofHours(1)));
        initialize(fx.conf());
        read();
        assertFalse(provider.toString().contains("SAS-SIGNATURE"), provider.toString());
        assertFalse(provider.toString().contains(CALLER_TOKEN), provider.toString());
        assertFalse(new Credential(SAS, Instant.EPOCH).toString().contains("SAS-SIGNATURE"));
    }
}
