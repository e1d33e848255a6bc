package org.akvsidecar.hadoop;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;

import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Test;

class SidecarSettingsTest {
    private static final String HOST = "mystorage.dfs.core.windows.net";

    private static Configuration conf() {
        return new Configuration(false);
    }

    @Test
    void thePodsEnvironmentIsEnough() throws IOException {
        SidecarSettings settings = SidecarSettings.load(conf(), HOST,
                Map.of("AKV_SIDECAR_URL", "http://127.0.0.1:9999/", "AKV_SIDECAR_TOKEN_FILE", "/run/token"));
        assertEquals("mystorage", settings.account());
        assertEquals("http://127.0.0.1:9999", settings.url());
        assertEquals(Path.of("/run/token"), settings.tokenFile());
        assertEquals(Duration.ofSeconds(10), settings.timeout());
        assertEquals(Optional.empty(), settings.sasTtl());
    }

    @Test
    void theDefaultUrlIsThePythonClients() throws IOException {
        SidecarSettings settings = SidecarSettings.load(conf(), "mystorage", Map.of("AKV_SIDECAR_TOKEN_FILE", "/t"));
        assertEquals(SidecarSettings.DEFAULT_URL, settings.url());
    }

    @Test
    void keysWinOverTheEnvironmentAndPerAccountKeysOverPlainOnes() throws IOException {
        Configuration conf = conf();
        conf.set("fs.azure.akv-sidecar.url", "http://plain:1");
        conf.set("fs.azure.akv-sidecar.url.mystorage", "http://short:2");
        conf.set("fs.azure.akv-sidecar.url." + HOST, "http://host:3");
        conf.set("fs.azure.akv-sidecar.token.file", "/plain");
        conf.set("fs.azure.akv-sidecar.token.file.mystorage", "/short");
        conf.set("fs.azure.akv-sidecar.timeout", "500ms");
        conf.set("fs.azure.akv-sidecar.sas.ttl.mystorage", "30m");
        Map<String, String> env = Map.of("AKV_SIDECAR_URL", "http://env:4", "AKV_SIDECAR_TOKEN_FILE", "/env");

        SidecarSettings settings = SidecarSettings.load(conf, HOST, env);
        assertEquals("http://host:3", settings.url());
        assertEquals(Path.of("/short"), settings.tokenFile());
        assertEquals(Duration.ofMillis(500), settings.timeout());
        assertEquals(Optional.of(Duration.ofMinutes(30)), settings.sasTtl());

        SidecarSettings other = SidecarSettings.load(conf, "otheracct.dfs.core.windows.net", env);
        assertEquals("http://plain:1", other.url());
        assertEquals(Path.of("/plain"), other.tokenFile());
        assertEquals(Optional.empty(), other.sasTtl());
    }

    @Test
    void aBareNumberIsSeconds() throws IOException {
        Configuration conf = conf();
        conf.set("fs.azure.akv-sidecar.timeout", "3");
        conf.set("fs.azure.akv-sidecar.sas.ttl", "3600");
        SidecarSettings settings = SidecarSettings.load(conf, HOST, Map.of("AKV_SIDECAR_TOKEN_FILE", "/t"));
        assertEquals(Duration.ofSeconds(3), settings.timeout());
        assertEquals(Optional.of(Duration.ofHours(1)), settings.sasTtl());
    }

    @Test
    void withoutATokenFileTheMessageSaysWhatToSet() {
        IOException error = assertThrows(IOException.class, () -> SidecarSettings.load(conf(), HOST, Map.of()));
        assertTrue(error.getMessage().contains("fs.azure.akv-sidecar.token.file"), error.getMessage());
        assertTrue(error.getMessage().contains("AKV_SIDECAR_TOKEN_FILE"), error.getMessage());
        assertTrue(error.getMessage().contains("mystorage"), error.getMessage());
    }

    @Test
    void badValuesAreRefusedNamingTheKey() {
        Map<String, String> env = Map.of("AKV_SIDECAR_TOKEN_FILE", "/t");
        for (String bad : new String[] {"soon", "0", "-5s"}) {
            Configuration conf = conf();
            conf.set("fs.azure.akv-sidecar.timeout.mystorage", bad);
            IOException error = assertThrows(IOException.class, () -> SidecarSettings.load(conf, HOST, env));
            assertTrue(error.getMessage().startsWith("fs.azure.akv-sidecar.timeout.mystorage="), error.getMessage());
        }
        for (String bad : new String[] {"127.0.0.1:8787", "ftp://h/", "http://", "nota url"}) {
            Configuration conf = conf();
            conf.set("fs.azure.akv-sidecar.url", bad);
            IOException error = assertThrows(IOException.class, () -> SidecarSettings.load(conf, HOST, env));
            assertTrue(error.getMessage().startsWith("fs.azure.akv-sidecar.url"), error.getMessage());
        }
        assertThrows(IOException.class, () -> SidecarSettings.load(conf(), "No_Such!", env));
    }

    @Test
    void aUrlWithCredentialsOrAQueryIsRefusedWithoutEchoingThem() {
        for (String url : new String[] {"http://user:Pa55word@127.0.0.1:8787", "http://127.0.0.1:8787/?sig=Pa55word"}) {
            IOException error = assertThrows(IOException.class,
                    () -> SidecarSettings.load(conf(), HOST, Map.of("AKV_SIDECAR_URL", url, "AKV_SIDECAR_TOKEN_FILE", "/t")));
            assertFalse(error.getMessage().contains("Pa55word"), error.getMessage());
            assertTrue(error.getMessage().startsWith("AKV_SIDECAR_URL"), error.getMessage());
        }
    }

    @Test
    void toStringNamesPathsOnly() throws IOException {
        SidecarSettings settings = SidecarSettings.load(conf(), HOST, Map.of("AKV_SIDECAR_TOKEN_FILE", "/run/token"));
        assertEquals("SidecarSettings[account=mystorage, url=http://127.0.0.1:8787, tokenFile=/run/token,"
                + " timeout=PT10S, sasTtl=null]", settings.toString());
    }
}
