package org.akvsidecar.hadoop;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.FileTime;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CallerTokenTest {
    @TempDir
    Path dir;

    @Test
    void readsTheTokenWithoutItsNewline() throws IOException {
        Path file = Files.writeString(dir.resolve("token"), "caller-token-0123456789\n");
        assertEquals("caller-token-0123456789", new CallerToken(file).get());
    }

    @Test
    void readsTheFileAgainWhenItChanges() throws IOException {
        Path file = Files.writeString(dir.resolve("token"), "first-token-0123456789");
        CallerToken token = new CallerToken(file);
        assertEquals("first-token-0123456789", token.get());

        // Same size, same mtime: not read again (one stat, no read).
        FileTime mtime = Files.getLastModifiedTime(file);
        Files.writeString(file, "other-token-0123456789");
        Files.setLastModifiedTime(file, mtime);
        assertEquals("first-token-0123456789", token.get());

        // A new mtime: read again.
        Files.setLastModifiedTime(file, FileTime.fromMillis(mtime.toMillis() + 2000));
        assertEquals("other-token-0123456789", token.get());

        // A new size, the mtime put back: read again.
        Files.writeString(file, "longer-token-0123456789");
        Files.setLastModifiedTime(file, mtime);
        assertEquals("longer-token-0123456789", token.get());
    }

    @Test
    void seesAKubernetesStyleSwap() throws IOException {
        Path file = Files.writeString(dir.resolve("token"), "first-token-0123456789");
        CallerToken token = new CallerToken(file);
        assertEquals("first-token-0123456789", token.get());
        Path next = Files.writeString(dir.resolve("token.next"), "swapd-token-0123456789");
        Files.setLastModifiedTime(next, Files.getLastModifiedTime(file));
        Files.move(next, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        assertEquals("swapd-token-0123456789", token.get()); // a new inode
    }

    @Test
    void invalidateForcesARead() throws IOException {
        Path file = Files.writeString(dir.resolve("token"), "first-token-0123456789");
        CallerToken token = new CallerToken(file);
        token.get();
        FileTime mtime = Files.getLastModifiedTime(file);
        Files.writeString(file, "other-token-0123456789");
        Files.setLastModifiedTime(file, mtime);
        token.invalidate();
        assertEquals("other-token-0123456789", token.get());
    }

    @Test
    void aMissingFileIsNamed() {
        Path file = dir.resolve("absent");
        IOException error = assertThrows(IOException.class, () -> new CallerToken(file).get());
        assertTrue(error.getMessage().contains(file.toString()), error.getMessage());
        assertTrue(error.getMessage().contains("fs.azure.akv-sidecar.token.file"), error.getMessage());
    }

    @Test
    void aFileThatHoldsNoTokenIsRefusedWithoutQuotingIt() throws IOException {
        for (String content : new String[] {"", "  \n", "two words-Secr3tValue", "bad\u0000Secr3tValue"}) {
            Path file = Files.writeString(dir.resolve("token"), content);
            IOException error = assertThrows(IOException.class, () -> new CallerToken(file).get());
            assertFalse(error.getMessage().contains("Secr3t"), error.getMessage());
            assertTrue(error.getMessage().contains(file.toString()), error.getMessage());
        }
        Path binary = Files.write(dir.resolve("binary"), new byte[] {(byte) 0xff, (byte) 0xfe, 'a'});
        assertThrows(IOException.class, () -> new CallerToken(binary).get());
    }

    @Test
    void toStringHasNoToken() throws IOException {
        Path file = Files.writeString(dir.resolve("token"), "caller-token-0123456789");
        CallerToken token = new CallerToken(file);
        token.get();
        assertFalse(token.toString().contains("caller-token"));
    }
}
