package org.akvsidecar.hadoop;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.net.ConnectException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.format.DateTimeParseException;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One sidecar's HTTP API as the providers need it: a JSON request with the caller token, a JSON
 * answer, and failures turned into {@link SidecarException}s that say what to check.
 *
 * <p>Every call is bounded by the settings' timeout as a whole (connecting, sending, the answer's
 * headers and body): the request timeout alone stops at the headers, so the call also waits on
 * its future with that deadline and cancels the exchange when it passes. HTTP/1.1 only: the JDK's
 * default, HTTP/2 with an {@code h2c} upgrade, makes uvicorn log "Unsupported upgrade request".
 * No proxy, whatever the JVM's proxy properties say: the token must go to the sidecar only.
 */
final class SidecarClient {
    static final String USER_AGENT = "akv-sidecar-hadoop/" + Version.VERSION;
    /** The sidecar's answers are a few hundred bytes; anything much larger is not the sidecar. */
    static final long MAX_BODY = 1 << 20;

    /** One JDK client (its selector thread and connection pool) per connect timeout, shared. */
    private static final Map<Duration, HttpClient> CLIENTS = new ConcurrentHashMap<>();
    private static final byte[] TOO_LARGE = new byte[0];
    private static final Logger LOG = LoggerFactory.getLogger(SidecarClient.class);

    /**
     * What one call asks for, for its messages: {@code what} reads as the object of "asked for"
     * ({@code "a SAS for storage account 'a', container 'c' (permissions rl)"}); {@code allow} is
     * the pattern of the caller's {@code allow} list that must cover it.
     */
    record Ask(String what, String allow) {
    }

    private final SidecarSettings settings;
    private final CallerToken token;
    private final HttpClient http;

    SidecarClient(SidecarSettings settings) {
        this(settings, new CallerToken(settings.tokenFile()));
    }

    SidecarClient(SidecarSettings settings, CallerToken token) {
        this.settings = settings;
        this.token = token;
        this.http = CLIENTS.computeIfAbsent(settings.timeout(), timeout -> HttpClient.newBuilder()
                .version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(timeout)
                .followRedirects(HttpClient.Redirect.NEVER)
                .proxy(HttpClient.Builder.NO_PROXY)
                .build());
    }

    SidecarSettings settings() {
        return settings;
    }

    /** {@code POST path} with a flat JSON body; the answer's object. */
    Map<String, Object> post(String path, Map<String, ?> body, Ask ask) throws IOException {
        HttpRequest.Builder request = HttpRequest.newBuilder()
                .POST(HttpRequest.BodyPublishers.ofString(Json.write(body), StandardCharsets.UTF_8))
                .header("Content-Type", "application/json");
        return call(path, request, ask);
    }

    /** {@code GET path}; the answer's object. */
    Map<String, Object> get(String path, Ask ask) throws IOException {
        return call(path, HttpRequest.newBuilder().GET(), ask);
    }

    private Map<String, Object> call(String path, HttpRequest.Builder builder, Ask ask)
            throws IOException {
        String bearer;
        try {
            bearer = token.get();
        } catch (IOException noToken) {
            throw new SidecarException("Could not ask the akv-sidecar at " + settings.url() + " for "
                    + ask.what() + ": " + noToken.getMessage(), 0, null, null);
        }
        Duration timeout = settings.timeout();
        HttpRequest request = builder.uri(URI.create(settings.url() + path))
                .timeout(timeout)
                .header("Authorization", "Bearer " + bearer)
                .header("Accept", "application/json")
                .header("User-Agent", USER_AGENT)
                .build();
        long deadline = System.nanoTime() + timeout.toNanos();
        HttpResponse<byte[]> response = null;
        for (int attempt = 1; response == null; attempt++) {
            CompletableFuture<HttpResponse<byte[]>> future = http.sendAsync(request, info ->
                    info.headers().firstValueAsLong("Content-Length").orElse(0) > MAX_BODY
                            ? HttpResponse.BodySubscribers.replacing(TOO_LARGE)
                            : HttpResponse.BodySubscribers.ofByteArray());
            try {
                response = future.get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
            } catch (TimeoutException late) {
                future.cancel(true);
                throw timedOut(ask, late);
            } catch (InterruptedException interrupted) {
                future.cancel(true);
                Thread.currentThread().interrupt();
                throw new InterruptedIOException("Interrupted while asking the akv-sidecar at "
                        + settings.url() + " for " + ask.what() + ".");
            } catch (ExecutionException failed) {
                Throwable cause = failed.getCause();
                // A kept-alive connection the sidecar closed (limits.idle_timeout) just as it was
                // reused fails at once: one more try on a new connection, within the same deadline.
                // Safe to repeat: the sidecar answers the same scope with the same credential.
                boolean stale = cause instanceof IOException && !(cause instanceof HttpTimeoutException)
                        && !(cause instanceof ConnectException);
                if (!stale || attempt > 1 || System.nanoTime() >= deadline) {
                    throw unreachable(ask, cause);
                }
            }
        }
        if (response.body() == TOO_LARGE) {
            throw fail(ask, response.statusCode(), null, "answered with a body over " + MAX_BODY
                    + " bytes, which no akv-sidecar sends: check that " + settings.url()
                    + " is the akv-sidecar.");
        }
        // One line per call (what was asked, never what was answered): how often a JVM asks.
        LOG.debug("akv-sidecar: asked {} for {}: HTTP {}", settings.url() + path, ask.what(),
                response.statusCode());
        String body = new String(response.body(), StandardCharsets.UTF_8);
        if (response.statusCode() == 200) {
            try {
                return Json.parseObject(body);
            } catch (IOException malformed) {
                throw fail(ask, 200, null, "answered with a body that is not a JSON object ("
                        + malformed.getMessage() + "): check that " + settings.url()
                        + " is the akv-sidecar.");
            }
        }
        throw refused(ask, response.statusCode(), body, bearer);
    }

    private SidecarException refused(Ask ask, int status, String body, String bearer) {
        String code = null;
        String message = null;
        try {
            if (Json.parseObject(body).get("error") instanceof Map<?, ?> error) {
                code = error.get("code") instanceof String text ? clean(text, bearer, 64) : null;
                message = error.get("message") instanceof String text ? clean(text, bearer, 300) : null;
                if (message != null && message.endsWith(".")) {
                    message = message.substring(0, message.length() - 1); // the advice adds one
                }
            }
        } catch (IOException notJson) {
            // Not the sidecar's error shape (a proxy's page?): its body is not quoted.
        }
        if (status == 401 || status == 403) {
            // The token may have been rotated within one timestamp tick: read it again next time.
            token.invalidate();
        }
        StringBuilder text = new StringBuilder("refused it: HTTP ").append(status);
        if (code != null) {
            text.append(' ').append(code);
        }
        text.append(message != null ? ": " + message : code != null ? "" : " (no akv-sidecar error body)");
        text.append(advice(status, code, ask));
        return fail(ask, status, code, text.toString());
    }

    private String advice(int status, String code, Ask ask) {
        String file = " the caller token file " + settings.tokenFile() + " (" + SidecarSettings.TOKEN_FILE
                + " or " + SidecarSettings.ENV_TOKEN_FILE + ")";
        if (status == 401) {
            return ". Check" + file + ": it must hold a caller token of the sidecar's auth.tokens.";
        }
        if (status == 403) {
            return ". Check that" + file + " holds the intended caller's token and that the caller's"
                    + " allow patterns (and allow_permissions) in the sidecar's configuration cover '"
                    + ask.allow() + "'.";
        }
        if (status == 404 && (code == null || code.equals("NotFound"))) {
            return ". Check that " + settings.url() + " is an akv-sidecar that serves this route.";
        }
        if (status >= 500) {
            return ". The sidecar's log and its /v1/status say more; retry later.";
        }
        return ".";
    }

    private SidecarException timedOut(Ask ask, Throwable cause) {
        return new SidecarException("The akv-sidecar at " + settings.url() + " did not answer " + ask.what()
                + " within " + seconds(settings.timeout()) + " (" + SidecarSettings.TIMEOUT
                + "): check that it runs and is not overloaded.", 0, null, cause);
    }

    private SidecarException unreachable(Ask ask, Throwable cause) {
        if (cause instanceof HttpTimeoutException) { // connect or request timeout, both ours
            return timedOut(ask, cause);
        }
        String why = cause instanceof ConnectException ? "connection refused or unreachable"
                : cause.getClass().getSimpleName() + (cause.getMessage() == null ? "" : ": " + cause.getMessage());
        return new SidecarException("Could not reach the akv-sidecar at " + settings.url() + " for "
                + ask.what() + " (" + why + "): check that it runs and that " + SidecarSettings.URL + " or "
                + SidecarSettings.ENV_URL + " points at it.", 0, null, cause);
    }

    private SidecarException fail(Ask ask, int status, String code, String what) {
        return new SidecarException("The akv-sidecar at " + settings.url() + ", asked for " + ask.what()
                + ", " + what, status, code, null);
    }

    /**
     * A field of the sidecar's text, on one line and clipped; the caller token, should it ever
     * appear, is cut out.
     */
    private static String clean(String text, String bearer, int limit) {
        String line = text.replace(bearer, "<redacted>").replaceAll("[\\p{Cntrl}]", " ");
        return line.length() <= limit ? line : line.substring(0, limit) + "...";
    }

    /** A required string member of an answer; its absence is the sidecar's fault, said so. */
    String string(Map<String, Object> answer, String member, Ask ask) throws IOException {
        if (answer.get(member) instanceof String text && !text.isEmpty()) {
            return text;
        }
        throw fail(ask, 200, null, "answered without the string '" + member
                + "': check that the sidecar's version matches this library's (" + Version.VERSION + ").");
    }

    /** A required ISO 8601 time member of an answer ({@code 2026-12-01T23:00:00Z}). */
    Instant time(Map<String, Object> answer, String member, Ask ask) throws IOException {
        String text = string(answer, member, ask);
        try {
            return OffsetDateTime.parse(text).toInstant();
        } catch (DateTimeParseException bad) {
            throw fail(ask, 200, null, "answered a '" + member + "' that is not an ISO 8601 time.");
        }
    }

    /** A failure of the answer itself (an expired credential, a narrower grant), for the providers. */
    SidecarException badAnswer(Ask ask, String what) {
        return fail(ask, 200, null, what);
    }

    private static String seconds(Duration duration) {
        return duration.toMillis() % 1000 == 0 ? duration.toSeconds() + " s" : duration.toMillis() + " ms";
    }
}
