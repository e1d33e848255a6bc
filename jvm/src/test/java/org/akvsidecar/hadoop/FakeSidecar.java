package org.akvsidecar.hadoop;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

import com.sun.net.httpserver.Headers;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;

/**
 * A stand-in for the akv-sidecar's HTTP API on 127.0.0.1 (a free port), answering as its
 * contract says: {@code POST /v1/storage/sas} {@code {"account","container","path"?,"permissions","ttl"?}}
 * gives {@code {"account","container","path","permissions","sas_token","expires_on"}},
 * {@code POST /v1/tokens} {@code {"scope"}} gives {@code {"access_token","expires_on","scope"}},
 * {@code GET /v1/vaults/{vault}/secrets/{name}} gives the secret's JSON with {@code "value"}, and
 * every error is {@code {"error": {"code", "message"}}}.
 *
 * <p>Each test scripts the answers ({@link #answer}) and reads what was asked ({@link #requests}).
 * It stands in only for the behaviour the providers rely on, so these tests run in seconds with
 * no Python; that the real sidecar behaves so is checked against it by the Python end-to-end
 * tests, which run this jar's providers against a running sidecar.
 */
final class FakeSidecar implements AutoCloseable {
    /** One request as it arrived. */
    record Request(String method, String path, String protocol, Headers headers, String body) {
        String header(String name) {
            return headers.getFirst(name);
        }

        Map<String, Object> json() throws IOException {
            return Json.parseObject(body);
        }
    }

    /** One scripted answer: a status and body, after a delay; or headers, then a stall. */
    record Reply(int status, String body, long delayMillis, boolean stallBody) {
        static Reply json(int status, String body) {
            return new Reply(status, body, 0, false);
        }

        static Reply error(int status, String code, String message) {
            return json(status, "{\"error\":{\"code\":\"" + code + "\",\"message\":\"" + message + "\"}}");
        }

        /** No answer for {@code millis}: a hung sidecar. */
        static Reply hang(long millis) {
            return new Reply(200, "{}", millis, false);
        }

        /** The headers at once, then the body withheld for {@code millis}. */
        static Reply stallBody(long millis) {
            return new Reply(200, "{}", millis, true);
        }
    }

    /** What to answer a request. */
    interface Script {
        Reply apply(Request request) throws Exception;
    }

    private final HttpServer server;
    private final ExecutorService pool = Executors.newCachedThreadPool(r -> {
        Thread thread = new Thread(r, "fake-sidecar");
        thread.setDaemon(true);
        return thread;
    });
    private final List<Request> requests = new CopyOnWriteArrayList<>();
    private volatile Script script = r -> Reply.error(404, "NotFound", "no script");

    FakeSidecar() throws IOException {
        server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 64);
        server.createContext("/", this::handle);
        server.setExecutor(pool);
        server.start();
    }

    String url() {
        return "http://127.0.0.1:" + server.getAddress().getPort();
    }

    FakeSidecar answer(Script script) {
        this.script = script;
        return this;
    }

    List<Request> requests() {
        return requests;
    }

    /** A SAS answer as the sidecar gives it, echoing the request. */
    static Reply sas(Request request, String token, String expiresOn) throws IOException {
        Map<String, Object> asked = request.json();
        return Reply.json(200, "{\"account\":\"" + asked.get("account") + "\",\"container\":\""
                + asked.get("container") + "\",\"path\":null,\"permissions\":\"" + asked.get("permissions")
                + "\",\"sas_token\":\"" + token + "\",\"expires_on\":\"" + expiresOn + "\"}");
    }

    private void handle(HttpExchange exchange) throws IOException {
        try (exchange) {
            String body = new String(exchange.getRequestBody().readAllBytes(), StandardCharsets.UTF_8);
            Request request = new Request(exchange.getRequestMethod(), exchange.getRequestURI().getRawPath(),
                    exchange.getProtocol(), exchange.getRequestHeaders(), body);
            requests.add(request);
            Reply reply;
            try {
                reply = script.apply(request);
            } catch (InterruptedException interrupted) {
                Thread.currentThread().interrupt();
                return;
            } catch (Exception broken) {
                throw new IOException("the test's script failed", broken);
            }
            byte[] bytes = reply.body().getBytes(StandardCharsets.UTF_8);
            exchange.getResponseHeaders().set("Content-Type", "application/json");
            if (reply.stallBody()) {
                exchange.sendResponseHeaders(reply.status(), bytes.length);
                exchange.getResponseBody().flush();
                sleep(reply.delayMillis());
                return;
            }
            sleep(reply.delayMillis());
            exchange.sendResponseHeaders(reply.status(), bytes.length);
            try (OutputStream out = exchange.getResponseBody()) {
                out.write(bytes);
            }
        } catch (RuntimeException broken) {
            broken.printStackTrace();
            throw broken;
        }
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public void close() {
        server.stop(0);
        pool.shutdownNow();
        try {
            pool.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException interrupted) {
            Thread.currentThread().interrupt();
        }
    }
}
