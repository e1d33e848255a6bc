package org.akvsidecar.hadoop;

import static org.akvsidecar.hadoop.Fixture.CALLER_TOKEN;
import static org.akvsidecar.hadoop.Fixture.HOST;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.Date;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SidecarTokenProviderTest {
    static final String ACCESS_TOKEN = "eyJ0eXAiOiJKV1Qi.ACCESS-TOKEN-never-leak";

    @TempDir
    Path dir;
    Fixture fx;
    SidecarTokenProvider provider;

    @BeforeEach
    void start() throws IOException {
        fx = new Fixture(dir);
        provider = new SidecarTokenProvider(fx.clock);
    }

    @AfterEach
    void stop() {
        fx.close();
    }

    private FakeSidecar.Script tokensLiving(Duration life) {
        AtomicInteger n = new AtomicInteger();
        return request -> FakeSidecar.Reply.json(200, "{\"access_token\":\"" + ACCESS_TOKEN + "-" + n.incrementAndGet()
                + "\",\"expires_on\":\"" + fx.clock.instant().plus(life) + "\",\"scope\":\""
                + SidecarTokenProvider.STORAGE_SCOPE + "\"}");
    }

    @Test
    void asksForAStorageTokenAndReportsItsExpiry() throws IOException {
        fx.sidecar.answer(tokensLiving(Duration.ofHours(1)));
        provider.initialize(fx.conf(), HOST);
        assertNull(provider.getExpiryTime());
        assertEquals(ACCESS_TOKEN + "-1", provider.getAccessToken());
        assertEquals(Date.from(Instant.parse("2026-01-01T01:00:00Z")), provider.getExpiryTime());

        FakeSidecar.Request request = fx.sidecar.requests().get(0);
        assertEquals("POST", request.method());
        assertEquals("/v1/tokens", request.path());
        assertEquals(Map.of("scope", "https://storage.azure.com/.default"), request.json());
        assertEquals("Bearer " + CALLER_TOKEN, request.header("Authorization"));
        assertEquals("HTTP/1.1", request.protocol());
        assertNull(request.header("Upgrade"));
    }

    @Test
    void cachesThenRenewsBeforeAbfsOwnFiveMinutePoint() throws IOException {
        fx.sidecar.answer(tokensLiving(Duration.ofHours(1)));
        provider.initialize(fx.conf(), HOST);
        provider.getAccessToken();
        fx.clock.advance(Duration.ofMinutes(53).plusSeconds(59));
        assertEquals(ACCESS_TOKEN + "-1", provider.getAccessToken());
        assertEquals(1, fx.sidecar.requests().size());
        fx.clock.advance(Duration.ofSeconds(1)); // 6 minutes left
        assertEquals(ACCESS_TOKEN + "-2", provider.getAccessToken());
        assertEquals(Date.from(fx.clock.instant().plus(Duration.ofHours(1))), provider.getExpiryTime());
    }

    @Test
    void aLongTokenIsRenewedWithATenthOfItsLifeLeft() throws IOException {
        fx.sidecar.answer(tokensLiving(Duration.ofHours(24)));
        provider.initialize(fx.conf(), HOST);
        provider.getAccessToken();
        fx.clock.advance(Duration.ofHours(21).plusMinutes(35)); // 2 h 25 min left
        assertEquals(ACCESS_TOKEN + "-1", provider.getAccessToken());
        fx.clock.advance(Duration.ofMinutes(1)); // 2 h 24 min left: a tenth
        assertEquals(ACCESS_TOKEN + "-2", provider.getAccessToken());
    }

    @Test
    void aRefusalNamesTheScopeAndNeverATokenInIt() throws IOException {
        fx.sidecar.answer(request -> FakeSidecar.Reply.error(403, "Forbidden", "Caller 'etl' may not get a"
                + " token for 'https://storage.azure.com/.default'; add it to its 'allow' list."));
        provider.initialize(fx.conf(), HOST);
        SidecarException error = assertThrows(SidecarException.class, provider::getAccessToken);
        String message = error.getMessage();
        assertTrue(message.contains("an access token for https://storage.azure.com/.default"), message);
        assertTrue(message.contains("storage account 'mystorage'"), message);
        assertTrue(message.contains("'token/https://storage.azure.com/.default'"), message);
        assertTrue(message.contains(fx.sidecar.url()), message);
        assertEquals("Forbidden", error.code().orElseThrow());
        assertFalse(message.contains(CALLER_TOKEN), message);
    }

    @Test
    void aBrokenAnswerNeverQuotesTheToken() throws IOException {
        fx.sidecar.answer(request -> FakeSidecar.Reply.json(200, "{\"access_token\":\"" + ACCESS_TOKEN + "\"}"));
        provider.initialize(fx.conf(), HOST);
        SidecarException error = assertThrows(SidecarException.class, provider::getAccessToken);
        assertTrue(error.getMessage().contains("'expires_on'"), error.getMessage());
        assertFalse(error.getMessage().contains("ACCESS-TOKEN"), error.getMessage());
    }

    @Test
    void aHungSidecarIsBounded() throws IOException {
        fx.sidecar.answer(request -> FakeSidecar.Reply.hang(10_000));
        org.apache.hadoop.conf.Configuration conf = fx.conf();
        conf.set(SidecarSettings.TIMEOUT, "400ms");
        provider.initialize(conf, HOST);
        long start = System.nanoTime();
        assertThrows(SidecarException.class, provider::getAccessToken);
        long millis = (System.nanoTime() - start) / 1_000_000;
        assertTrue(millis >= 350 && millis < 800, "took " + millis + " ms");
    }
}
