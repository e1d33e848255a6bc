package org.akvsidecar.hadoop;

import static org.akvsidecar.hadoop.Fixture.HOST;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;

import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The wire: what a raw socket can do to the client that an HTTP server would not. */
class SidecarClientTest {
    @TempDir
    Path dir;
    Fixture fx;

    @BeforeEach
    void start() throws IOException {
        fx = new Fixture(dir);
    }

    @AfterEach
    void stop() {
        fx.close();
    }

    /**
     * A server that hangs up on the first {@code drops} connections as soon as a request arrives
     * (as a sidecar closing an idle kept-alive connection does), then answers {@code body}.
     */
    private static final class Dropper implements AutoCloseable {
        final ServerSocket socket = new ServerSocket(0, 8, InetAddress.getLoopbackAddress());
        final AtomicInteger connections = new AtomicInteger();
        final Thread thread;

        Dropper(int drops, String body) throws IOException {
            thread = new Thread(() -> {
                while (!socket.isClosed()) {
                    try (Socket client = socket.accept()) {
                        InputStream in = client.getInputStream();
                        in.read(new byte[8192]);
                        if (connections.incrementAndGet() <= drops) {
                            continue; // closed without a byte of answer
                        }
                        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
                        OutputStream out = client.getOutputStream();
                        out.write(("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                                + bytes.length + "\r\nConnection: close\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
                        out.write(bytes);
                        out.flush();
                    } catch (IOException closed) {
                        return;
                    }
                }
            }, "dropper");
            thread.setDaemon(true);
            thread.start();
        }

        String url() {
            return "http://127.0.0.1:" + socket.getLocalPort();
        }

        @Override
        public void close() throws IOException {
            socket.close();
        }
    }

    private SidecarClient client(String url) throws IOException {
        Configuration conf = fx.conf();
        conf.set(SidecarSettings.URL, url);
        return new SidecarClient(SidecarSettings.load(conf, HOST));
    }

    private static final SidecarClient.Ask ASK = new SidecarClient.Ask("a test answer", "kv1/x");

    // POST: the JDK retries a GET on its own, never a POST, and both vending routes are POSTs.
    @Test
    void aConnectionDroppedBeforeTheAnswerIsTriedOnceMore() throws IOException {
        try (Dropper server = new Dropper(1, "{\"value\":\"v\"}")) {
            Map<String, Object> answer = client(server.url()).post("/v1/tokens", Map.of("scope", "s"), ASK);
            assertEquals("v", answer.get("value"));
            assertEquals(2, server.connections.get());
        }
    }

    @Test
    void onlyOnce() throws IOException {
        try (Dropper server = new Dropper(2, "{\"value\":\"v\"}")) {
            SidecarException error = assertThrows(SidecarException.class,
                    () -> client(server.url()).post("/v1/tokens", Map.of("scope", "s"), ASK));
            assertTrue(error.getMessage().startsWith("Could not reach the akv-sidecar at " + server.url()
                    + " for a test answer"), error.getMessage());
            assertEquals(2, server.connections.get());
        }
    }

    @Test
    void anOversizedAnswerIsRefusedUnread() throws IOException {
        fx.sidecar.answer(request -> FakeSidecar.Reply.json(200,
                "{\"value\":\"" + "x".repeat((int) SidecarClient.MAX_BODY) + "\"}"));
        SidecarException error = assertThrows(SidecarException.class,
                () -> client(fx.sidecar.url()).get("/v1/vaults/kv1/secrets/x", ASK));
        assertTrue(error.getMessage().contains("over 1048576 bytes"), error.getMessage());
    }

    @Test
    void noProxyIsUsedWhateverTheJvmSays() throws IOException {
        String before = System.getProperty("http.proxyHost");
        System.setProperty("http.proxyHost", "192.0.2.1"); // would hang or fail if it were used
        System.setProperty("http.proxyPort", "9");
        try {
            fx.sidecar.answer(request -> FakeSidecar.Reply.json(200, "{\"value\":\"v\"}"));
            assertEquals("v", client(fx.sidecar.url()).get("/v1/vaults/kv1/secrets/x", ASK).get("value"));
        } finally {
            if (before == null) {
                System.clearProperty("http.proxyHost");
            } else {
                System.setProperty("http.proxyHost", before);
            }
            System.clearProperty("http.proxyPort");
        }
    }
}
