package org.akvsidecar.hadoop;

import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

import org.apache.hadoop.fs.azurebfs.extensions.SASTokenProvider;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The SAS permissions ABFS needs for each operation it names, in the sidecar's letters and order.
 *
 * <p>Few scopes on purpose: each distinct set is one more SAS to request and renew, so operations
 * share a set when one fits them. Every read-only operation gets {@link #READ} ({@code rl}), never
 * more. Operations that change data get {@link #WRITE} ({@code racwdl}, the container SAS that
 * hadoop-azure's own SAS tests use for every operation). Changing an owner or ACL needs a letter
 * that only a hierarchical-namespace account has, asked for alone.
 */
final class SasPermissions {
    /** Read and list. */
    static final String READ = "rl";
    /** Read, add, create, write, delete, list. */
    static final String WRITE = "racwdl";
    /** Ownership (HNS only). */
    static final String OWNER = "o";
    /** POSIX permissions and ACLs (HNS only). */
    static final String ACL = "p";

    private static final Logger LOG = LoggerFactory.getLogger(SasPermissions.class);
    private static final Set<String> WARNED = ConcurrentHashMap.newKeySet();

    private SasPermissions() {
    }

    /** The permissions for {@code operation}, one of {@code SASTokenProvider}'s constants. */
    static String forOperation(String operation) {
        switch (operation == null ? "" : operation) {
            case SASTokenProvider.READ_OPERATION:
            case SASTokenProvider.GET_STATUS_OPERATION:
            case SASTokenProvider.GET_PROPERTIES_OPERATION:
            case SASTokenProvider.LIST_OPERATION:
            case SASTokenProvider.LIST_OPERATION_BLOB:
            case SASTokenProvider.GET_ACL_OPERATION:
            case SASTokenProvider.CHECK_ACCESS_OPERATION:
            case SASTokenProvider.COPY_BLOB_SRC_OPERATION: // the source of a copy is only read
                return READ;
            case SASTokenProvider.WRITE_OPERATION:
            case SASTokenProvider.CREATE_FILE_OPERATION:
            case SASTokenProvider.CREATE_DIRECTORY_OPERATION:
            case SASTokenProvider.DELETE_OPERATION:
            case SASTokenProvider.DELETE_RECURSIVE_OPERATION:
            case SASTokenProvider.RENAME_SOURCE_OPERATION:
            case SASTokenProvider.RENAME_DESTINATION_OPERATION:
            case SASTokenProvider.SET_PROPERTIES_OPERATION:
            case SASTokenProvider.LEASE_BLOB_OPERATION:
            case SASTokenProvider.COPY_BLOB_DST_OPERATION:
                return WRITE;
            case SASTokenProvider.SET_OWNER_OPERATION:
                return OWNER;
            case SASTokenProvider.SET_ACL_OPERATION:
            case SASTokenProvider.SET_PERMISSION_OPERATION:
                return ACL;
            default:
                // An operation newer than this table: it may change data, so ask for the write
                // set. The sidecar still caps it at the caller's allow_permissions, so a read-only
                // caller gets a refusal, never more than it was given.
                if (WARNED.add(String.valueOf(operation))) {
                    LOG.warn("akv-sidecar: unknown ABFS operation '{}', asking for a '{}' SAS",
                            SidecarSettings.clip(String.valueOf(operation)), WRITE);
                }
                return WRITE;
        }
    }
}
