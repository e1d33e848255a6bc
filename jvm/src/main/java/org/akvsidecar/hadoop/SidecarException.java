package org.akvsidecar.hadoop;

import java.io.IOException;
import java.util.Optional;

/**
 * The sidecar could not be reached, did not answer in time, or refused: an {@link IOException}
 * (what ABFS's provider interfaces throw) whose message names the storage account, what was
 * asked, the sidecar's URL and what to check, and never holds a token, a SAS or a key.
 *
 * <p>When the sidecar answered with an error, {@link #status()} is its HTTP status and
 * {@link #code()} its error code ({@code Forbidden}, {@code AccountNotConfigured}, ...).
 */
public class SidecarException extends IOException {
    private static final long serialVersionUID = 1L;

    private final int status;
    private final String code;

    SidecarException(String message, int status, String code, Throwable cause) {
        super(message, cause);
        this.status = status;
        this.code = code;
    }

    /**
     * The HTTP status the sidecar answered.
     *
     * @return the status, or 0 when it gave no answer
     */
    public int status() {
        return status;
    }

    /**
     * The sidecar's error code ({@code Forbidden}, {@code AccountNotConfigured}, ...).
     *
     * @return the code, or empty when the sidecar answered none
     */
    public Optional<String> code() {
        return Optional.ofNullable(code);
    }

    /** The same failure for another thread that waited on the same request. */
    SidecarException copy() {
        return new SidecarException(getMessage(), status, code, this);
    }
}
