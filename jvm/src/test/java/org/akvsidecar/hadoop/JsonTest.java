package org.akvsidecar.hadoop;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.math.BigDecimal;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class JsonTest {
    @Test
    void readsTheSidecarsSasAnswer() throws IOException {
        Map<String, Object> answer = Json.parseObject("{\"account\":\"mystorage\",\"container\":\"bronze\","
                + "\"path\":null,\"permissions\":\"rl\",\"sas_token\":\"sv=2024&sig=a%2Bb\","
                + "\"expires_on\":\"2026-12-01T23:00:00Z\"}");
        assertEquals(List.of("account", "container", "path", "permissions", "sas_token", "expires_on"),
                List.copyOf(answer.keySet()));
        assertNull(answer.get("path"));
        assertEquals("sv=2024&sig=a%2Bb", answer.get("sas_token"));
    }

    @Test
    void readsASecretWithNestedTagsNumbersAndBooleans() throws IOException {
        Map<String, Object> secret = Json.parseObject(" {\n\t\"vault\": \"kv1\", \"value\": \"k==\","
                + " \"tags\": {\"env\": \"prod\", \"n\": []}, \"enabled\": true, \"stale\": false,"
                + " \"age_seconds\": 1.5e0, \"count\": -0, \"big\": 12345678901234567890 } ");
        assertEquals(Map.of("env", "prod", "n", List.of()), secret.get("tags"));
        assertEquals(Boolean.TRUE, secret.get("enabled"));
        assertEquals(Boolean.FALSE, secret.get("stale"));
        assertEquals(0, new BigDecimal("1.5").compareTo((BigDecimal) secret.get("age_seconds")));
        assertEquals(new BigDecimal("12345678901234567890"), secret.get("big"));
    }

    @Test
    void decodesEveryEscape() throws IOException {
        Map<String, Object> parsed = Json.parseObject(
                "{\"s\":\"q\\\" b\\\\ s\\/ \\b\\f\\n\\r\\t \\u00e9 \\ud83d\\ude00 \\u0041\"}");
        assertEquals("q\" b\\ s/ \b\f\n\r\t \u00e9 \ud83d\ude00 A", parsed.get("s"));
        assertEquals("é and 😀 raw", Json.parseObject("{\"s\":\"é and 😀 raw\"}").get("s"));
    }

    @ParameterizedTest
    @ValueSource(strings = {
        "", "[]", "\"s\"", "{", "{\"a\":1,}", "{\"a\" 1}", "{'a':1}", "{\"a\":01}", "{\"a\":1.}",
        "{\"a\":.5}", "{\"a\":-}", "{\"a\":1e}", "{\"a\":tru}", "{\"a\":nul}", "{\"a\":\"x}",
        "{\"a\":\"\\x\"}", "{\"a\":\"\\u12g4\"}", "{\"a\":\"\\u12\"}", "{\"a\":\"tab\there\"}",
        "{\"a\":1} x", "{\"a\":1}{}", "{\"a\":1,\"a\":2}", "{a:1}", "{\"a\":[1,]}", "{\"a\":NaN}",
        "{\"a\":+1}"
    })
    void refusesWhatIsNotStrictJson(String text) {
        assertThrows(IOException.class, () -> Json.parseObject(text));
    }

    @Test
    void refusesDeepNesting() {
        String deep = "{\"a\":".repeat(Json.MAX_DEPTH + 1) + "1" + "}".repeat(Json.MAX_DEPTH + 1);
        assertThrows(IOException.class, () -> Json.parseObject(deep));
        String ok = "{\"a\":".repeat(Json.MAX_DEPTH) + "1" + "}".repeat(Json.MAX_DEPTH);
        assertTrue(() -> {
            try {
                return Json.parseObject(ok).containsKey("a");
            } catch (IOException e) {
                return false;
            }
        });
    }

    @Test
    void aParseErrorNeverQuotesTheText() {
        String secret = "sv=2024&sig=TopSecretSignature";
        IOException error = assertThrows(IOException.class,
                () -> Json.parseObject("{\"sas_token\":\"" + secret + "\" oops}"));
        assertFalse(error.getMessage().contains("TopSecret"), error.getMessage());
        assertTrue(error.getMessage().contains("offset"), error.getMessage());
    }

    @Test
    void writesFlatObjectsThatReadBack() throws IOException {
        Map<String, Object> members = new LinkedHashMap<>();
        members.put("account", "mystorage");
        members.put("odd", "q\" \\ \n\r\t \u0001 é \ud83d\ude00");
        members.put("ttl", 3600L);
        members.put("path", null);
        members.put("flag", true);
        String text = Json.write(members);
        assertEquals("{\"account\":\"mystorage\",\"odd\":\"q\\\" \\\\ \\n\\r\\t \\u0001 é \\ud83d\\ude00\","
                + "\"ttl\":3600,\"path\":null,\"flag\":true}", text);
        Map<String, Object> back = Json.parseObject(text);
        assertEquals(members.get("odd"), back.get("odd"));
        assertEquals(new BigDecimal(3600), back.get("ttl"));
    }
}
