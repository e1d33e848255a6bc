package org.akvsidecar.hadoop;

import static org.akvsidecar.hadoop.Fixture.HOST;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;

import java.io.IOException;
import java.nio.file.Path;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.azurebfs.AbfsConfiguration;
import org.apache.hadoop.fs.azurebfs.extensions.CustomTokenProviderAdaptee;
import org.apache.hadoop.fs.azurebfs.extensions.SASTokenProvider;
import org.apache.hadoop.fs.azurebfs.oauth2.AccessTokenProvider;
import org.apache.hadoop.fs.azurebfs.services.KeyProvider;
import org.apache.hadoop.util.ReflectionUtils;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Each provider loaded as ABFS loads it: by class name from the Hadoop key a user sets, with
 * Hadoop's reflection, then initialized; and then through hadoop-azure 3.5.0's own
 * {@code AbfsConfiguration}, the code path of a real {@code abfss://} filesystem.
 */
class HadoopLoadingTest {
    @TempDir
    Path dir;
    Fixture fx;

    @BeforeEach
    void start() throws IOException {
        fx = new Fixture(dir);
        fx.sidecar.answer(request -> switch (request.path()) {
            case "/v1/storage/sas" -> FakeSidecar.sas(request, "sv=1&sig=s", "2099-01-01T00:00:00Z");
            case "/v1/tokens" -> FakeSidecar.Reply.json(200, "{\"access_token\":\"t\",\"expires_on\":"
                    + "\"2099-01-01T00:00:00Z\",\"scope\":\"https://storage.azure.com/.default\"}");
            default -> FakeSidecar.Reply.json(200, "{\"name\":\"k\",\"value\":\"a2V5\"}");
        });
    }

    @AfterEach
    void stop() {
        fx.close();
    }

    @Test
    void theSasProviderLoadsByItsKey() throws IOException {
        Configuration conf = fx.conf();
        conf.set("fs.azure.sas.token.provider.type", SidecarSasTokenProvider.class.getName());
        Class<? extends SASTokenProvider> type =
                conf.getClass("fs.azure.sas.token.provider.type", null, SASTokenProvider.class);
        SASTokenProvider provider = ReflectionUtils.newInstance(type, conf);
        provider.initialize(conf, HOST);
        assertEquals("sv=1&sig=s", provider.getSASToken("mystorage", "bronze", "/", SASTokenProvider.LIST_OPERATION));
    }

    @Test
    void theTokenProviderLoadsByItsKey() throws IOException {
        Configuration conf = fx.conf();
        conf.set("fs.azure.account.oauth.provider.type", SidecarTokenProvider.class.getName());
        Class<? extends CustomTokenProviderAdaptee> type =
                conf.getClass("fs.azure.account.oauth.provider.type", null, CustomTokenProviderAdaptee.class);
        CustomTokenProviderAdaptee provider = ReflectionUtils.newInstance(type, conf);
        provider.initialize(conf, HOST);
        assertEquals("t", provider.getAccessToken());
    }

    @Test
    void theKeyProviderLoadsByItsKey() throws Exception {
        Configuration conf = fx.conf();
        conf.set("fs.azure.account.keyprovider", SidecarKeyProvider.class.getName());
        conf.set("fs.azure.akv-sidecar.key.vault.mystorage", "mykv");
        conf.set("fs.azure.akv-sidecar.key.secret.mystorage", "mystorage-key");
        // ABFS 3.5.0: getClassByName, then Class.newInstance (a public no-argument constructor).
        Object provider = conf.getClassByName(conf.get("fs.azure.account.keyprovider"))
                .getDeclaredConstructor().newInstance();
        assertEquals("a2V5", ((KeyProvider) provider).getStorageAccountKey(HOST, conf));
    }

    @Test
    void abfsOwnConfigurationLoadsTheSasProvider() throws Exception {
        Configuration conf = fx.conf();
        conf.set("fs.azure.account.auth.type", "SAS");
        conf.set("fs.azure.sas.token.provider.type", SidecarSasTokenProvider.class.getName());
        SASTokenProvider provider = new AbfsConfiguration(conf, HOST).getSASTokenProvider();
        assertInstanceOf(SidecarSasTokenProvider.class, provider);
        assertEquals("sv=1&sig=s", provider.getSASToken("mystorage", "bronze", "/x", SASTokenProvider.READ_OPERATION));
    }

    @Test
    void abfsOwnConfigurationLoadsTheTokenProvider() throws Exception {
        Configuration conf = fx.conf();
        conf.set("fs.azure.account.auth.type", "Custom"); // ABFS's type for a CustomTokenProviderAdaptee
        conf.set("fs.azure.account.oauth.provider.type", SidecarTokenProvider.class.getName());
        AccessTokenProvider provider = new AbfsConfiguration(conf, HOST).getTokenProvider();
        assertEquals("t", provider.getToken().getAccessToken());
    }

    @Test
    void abfsOwnConfigurationLoadsTheKeyProvider() throws Exception {
        Configuration conf = fx.conf();
        conf.set("fs.azure.account.auth.type", "SharedKey");
        conf.set("fs.azure.account.keyprovider", SidecarKeyProvider.class.getName());
        conf.set("fs.azure.akv-sidecar.key.vault.mystorage", "mykv");
        conf.set("fs.azure.akv-sidecar.key.secret.mystorage", "mystorage-key");
        assertEquals("a2V5", new AbfsConfiguration(conf, HOST).getStorageAccountKey());
        assertEquals("/v1/vaults/mykv/secrets/mystorage-key", fx.sidecar.requests().get(0).path());
    }
}
