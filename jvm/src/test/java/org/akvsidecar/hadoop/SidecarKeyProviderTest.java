package org.akvsidecar.hadoop;

import static org.akvsidecar.hadoop.Fixture.CALLER_TOKEN;
import static org.akvsidecar.hadoop.Fixture.HOST;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.azurebfs.contracts.exceptions.KeyProviderException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SidecarKeyProviderTest {
    static final String ACCOUNT_KEY = "QUNDT1VOVC1LRVktbmV2ZXItbGVhaw==";

    @TempDir
    Path dir;
    Fixture fx;
    final SidecarKeyProvider provider = new SidecarKeyProvider(Map.of());

    @BeforeEach
    void start() throws IOException {
        fx = new Fixture(dir);
    }

    @AfterEach
    void stop() {
        fx.close();
    }

    private Configuration conf() {
        Configuration conf = fx.conf();
        conf.set("fs.azure.akv-sidecar.key.vault.mystorage", "mykv");
        conf.set("fs.azure.akv-sidecar.key.secret.mystorage", "mystorage-key");
        return conf;
    }

    private static FakeSidecar.Reply secret(FakeSidecar.Request request, String value) {
        return FakeSidecar.Reply.json(200, "{\"vault\":\"mykv\",\"name\":\"mystorage-key\",\"value\":\"" + value
                + "\",\"version\":\"4f0c\",\"content_type\":null,\"tags\":{\"owner\":\"data\"},\"enabled\":true,"
                + "\"age_seconds\":0.4,\"stale\":false}");
    }

    @Test
    void readsTheKeyThroughTheSidecar() throws IOException {
        fx.sidecar.answer(request -> secret(request, ACCOUNT_KEY));
        assertEquals(ACCOUNT_KEY, provider.getStorageAccountKey(HOST, conf()));
        FakeSidecar.Request request = fx.sidecar.requests().get(0);
        assertEquals("GET", request.method());
        assertEquals("/v1/vaults/mykv/secrets/mystorage-key", request.path());
        assertEquals("Bearer " + CALLER_TOKEN, request.header("Authorization"));
        assertEquals("HTTP/1.1", request.protocol());
    }

    @Test
    void thePerHostFormOfTheKeysWins() throws IOException {
        fx.sidecar.answer(request -> secret(request, ACCOUNT_KEY));
        Configuration conf = conf();
        conf.set("fs.azure.akv-sidecar.key.secret." + HOST, "host-form");
        provider.getStorageAccountKey(HOST, conf);
        assertEquals("/v1/vaults/mykv/secrets/host-form", fx.sidecar.requests().get(0).path());
    }

    @Test
    void withoutTheKeysTheMessageNamesThem() {
        KeyProviderException error = assertThrows(KeyProviderException.class,
                () -> provider.getStorageAccountKey(HOST, fx.conf()));
        assertTrue(error.getMessage().contains("fs.azure.akv-sidecar.key.vault.mystorage"), error.getMessage());
        assertTrue(error.getMessage().contains("fs.azure.akv-sidecar.key.secret.mystorage"), error.getMessage());
        assertEquals(0, fx.sidecar.requests().size());
    }

    @Test
    void aNameThatIsNoKeyVaultNameIsRefused() {
        Configuration conf = conf();
        conf.set("fs.azure.akv-sidecar.key.secret.mystorage", "../../healthz");
        KeyProviderException error = assertThrows(KeyProviderException.class,
                () -> provider.getStorageAccountKey(HOST, conf));
        assertTrue(error.getMessage().startsWith("fs.azure.akv-sidecar.key.secret.mystorage="), error.getMessage());
        assertEquals(0, fx.sidecar.requests().size());
    }

    @Test
    void aRefusalIsAKeyProviderExceptionWithTheSidecarsCode() {
        fx.sidecar.answer(request -> FakeSidecar.Reply.error(404, "SecretNotFound",
                "Secret 'mystorage-key' was not found in vault 'mykv'."));
        KeyProviderException error = assertThrows(KeyProviderException.class,
                () -> provider.getStorageAccountKey(HOST, conf()));
        String message = error.getMessage();
        for (String part : List.of("storage account 'mystorage'", "secret 'mystorage-key' of vault 'mykv'",
                "HTTP 404 SecretNotFound", fx.sidecar.url())) {
            assertTrue(message.contains(part), "'" + part + "' not in: " + message);
        }
        assertFalse(message.contains(CALLER_TOKEN), message);
        SidecarException cause = assertInstanceOf(SidecarException.class, error.getCause());
        assertEquals("SecretNotFound", cause.code().orElseThrow());
    }

    @Test
    void aBrokenAnswerNeverQuotesTheKey() {
        fx.sidecar.answer(request -> FakeSidecar.Reply.json(200, "{\"value\":\"" + ACCOUNT_KEY + "\""));
        KeyProviderException error = assertThrows(KeyProviderException.class,
                () -> provider.getStorageAccountKey(HOST, conf()));
        assertFalse(error.getMessage().contains(ACCOUNT_KEY), error.getMessage());
    }
}
