package org.akvsidecar.hadoop;

import static org.akvsidecar.hadoop.Fixture.CALLER_TOKEN;
import static org.akvsidecar.hadoop.Fixture.HOST;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;

import org.apache.hadoop.fs.azurebfs.extensions.SASTokenProvider;
import org.apache.log4j.AppenderSkeleton;
import org.apache.log4j.Level;
import org.apache.log4j.LogManager;
import org.apache.log4j.spi.LoggingEvent;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Every line this library logs, at every level, through Hadoop's own logging: none holds a secret. */
class LogLinesTest {
    static final String SAS = "sv=2024&sig=SAS-SIGNATURE-never-leak";

    @TempDir
    Path dir;
    Fixture fx;
    final List<String> lines = new CopyOnWriteArrayList<>();
    final AppenderSkeleton capture = new AppenderSkeleton() {
        @Override
        protected void append(LoggingEvent event) {
            lines.add(event.getLevel() + " " + event.getRenderedMessage());
        }

        @Override
        public void close() {
        }

        @Override
        public boolean requiresLayout() {
            return false;
        }
    };
    Level before;

    @BeforeEach
    void start() throws IOException {
        fx = new Fixture(dir);
        org.apache.log4j.Logger ours = LogManager.getLogger("org.akvsidecar");
        before = ours.getLevel();
        ours.setLevel(Level.DEBUG);
        ours.setAdditivity(false); // captured, not printed
        ours.addAppender(capture);
    }

    @AfterEach
    void stop() {
        org.apache.log4j.Logger ours = LogManager.getLogger("org.akvsidecar");
        ours.removeAppender(capture);
        ours.setAdditivity(true);
        ours.setLevel(before);
        fx.close();
    }

    @Test
    void fetchingRenewingFailingAndUnknownOperationsLogNoSecret() throws IOException {
        AtomicInteger n = new AtomicInteger();
        fx.sidecar.answer(request -> n.getAndIncrement() == 0
                ? FakeSidecar.sas(request, SAS, fx.clock.instant().plus(Duration.ofHours(1)).toString())
                : FakeSidecar.Reply.error(503, "KeyUnavailable", "Key Vault is failing"));
        SidecarSasTokenProvider provider = new SidecarSasTokenProvider(fx.clock);
        provider.initialize(fx.conf(), HOST);
        provider.getSASToken("mystorage", "bronze", "/", SASTokenProvider.READ_OPERATION);
        fx.clock.advance(Duration.ofMinutes(55));
        provider.getSASToken("mystorage", "bronze", "/", SASTokenProvider.READ_OPERATION); // served, warned
        try {
            provider.getSASToken("mystorage", "bronze", "/", "operation-from-the-future");
        } catch (SidecarException refused) {
            // 503 from the script; the warning about the operation is what is looked at
        }

        assertTrue(lines.stream().anyMatch(l -> l.startsWith("DEBUG") && l.contains("container=bronze")), lines.toString());
        assertTrue(lines.stream().anyMatch(l -> l.startsWith("WARN") && l.contains("KeyUnavailable")), lines.toString());
        assertTrue(lines.stream().anyMatch(l -> l.contains("operation-from-the-future")), lines.toString());
        for (String line : lines) {
            assertFalse(line.contains("SAS-SIGNATURE"), line);
            assertFalse(line.contains(CALLER_TOKEN), line);
        }
    }
}
