package org.akvsidecar.hadoop;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import org.apache.hadoop.conf.Configuration;

/** A fake sidecar, a caller token file and the Hadoop keys that point at both. */
final class Fixture implements AutoCloseable {
    static final String HOST = "mystorage.dfs.core.windows.net";
    static final String CALLER_TOKEN = "caller-TOKEN-must-never-leak-0123";
    static final String NOW = "2026-01-01T00:00:00Z";

    final FakeSidecar sidecar;
    final Path tokenFile;
    final TestClock clock = new TestClock(NOW);

    Fixture(Path dir) throws IOException {
        sidecar = new FakeSidecar();
        tokenFile = Files.writeString(dir.resolve("token"), CALLER_TOKEN + "\n");
    }

    /** The keys a Spark job would set (no secret among them), with a short timeout for tests. */
    Configuration conf() {
        Configuration conf = new Configuration(false);
        conf.set(SidecarSettings.URL, sidecar.url());
        conf.set(SidecarSettings.TOKEN_FILE, tokenFile.toString());
        conf.set(SidecarSettings.TIMEOUT, "2s");
        return conf;
    }

    @Override
    public void close() {
        sidecar.close();
    }
}
