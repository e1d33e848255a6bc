package org.akvsidecar.hadoop;

import java.io.IOException;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.FileTime;
import java.util.Objects;

/**
 * The caller token, read from its file and read again when the file changes.
 *
 * <p>Kubernetes rotates a mounted secret by swapping a symlink, and an operator may rewrite the
 * file in place; both change the file's modification time, size or identity, which are compared
 * before each use (one {@code stat}, only when a credential is fetched). A 401 or 403 from the
 * sidecar also drops the token, so a rewrite within one timestamp tick is still picked up.
 */
final class CallerToken {
    private final Path file;
    private volatile Snapshot last;

    /** What was read, and the file's attributes when it was: the token never leaves this class but by {@link #get}. */
    private record Snapshot(FileTime modified, long size, Object fileKey, String token) {
        @Override
        public String toString() {
            return "Snapshot[modified=" + modified + ", size=" + size + "]";
        }
    }

    CallerToken(Path file) {
        this.file = Objects.requireNonNull(file, "file");
    }

    Path file() {
        return file;
    }

    /** The current token: the file's content without surrounding white space. */
    String get() throws IOException {
        BasicFileAttributes attributes;
        try {
            attributes = Files.readAttributes(file, BasicFileAttributes.class);
        } catch (NoSuchFileException missing) {
            throw new IOException("The akv-sidecar caller token file " + file + " does not exist: check "
                    + SidecarSettings.TOKEN_FILE + " (or " + SidecarSettings.ENV_TOKEN_FILE
                    + ") and that the secret is mounted.");
        }
        Snapshot seen = last;
        if (seen != null && seen.modified.equals(attributes.lastModifiedTime())
                && seen.size == attributes.size() && Objects.equals(seen.fileKey, attributes.fileKey())) {
            return seen.token;
        }
        String token;
        try {
            token = Files.readString(file, StandardCharsets.UTF_8).strip();
        } catch (CharacterCodingException notText) {
            throw invalid();
        } catch (IOException unreadable) {
            throw new IOException("The akv-sidecar caller token file " + file + " cannot be read ("
                    + unreadable.getClass().getSimpleName() + "): check its permissions.");
        }
        // What the sidecar accepts in an Authorization header; checked here so that a wrong file
        // fails with its name rather than as an odd 401.
        if (token.isEmpty() || !token.chars().allMatch(c -> c > 0x20 && c < 0x7f)) {
            throw invalid();
        }
        last = new Snapshot(attributes.lastModifiedTime(), attributes.size(), attributes.fileKey(), token);
        return token;
    }

    /** Forgets the token, so the next {@link #get} reads the file whatever its attributes. */
    void invalidate() {
        last = null;
    }

    private IOException invalid() {
        // The content is not quoted: a wrong file may well hold some other secret.
        return new IOException("The akv-sidecar caller token file " + file + " holds no token: it must"
                + " hold one line of printable ASCII without spaces (the caller token the sidecar's"
                + " auth.tokens lists).");
    }

    @Override
    public String toString() {
        return "CallerToken[file=" + file + "]";
    }
}
