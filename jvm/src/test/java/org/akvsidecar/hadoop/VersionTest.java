package org.akvsidecar.hadoop;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.junit.jupiter.api.Test;

/**
 * The jar's version is the project's: the pom's {@code revision} must match pyproject.toml's
 * {@code [project] version}, so bumping one without the other fails the build.
 */
class VersionTest {
    @Test
    void theJarsVersionIsPyprojects() throws IOException {
        Path basedir = Path.of(System.getProperty("basedir", "."));
        String pyproject = Files.readString(basedir.resolve("../pyproject.toml"));
        Matcher project = Pattern.compile("(?ms)^\\[project\\]\\s*$(.*?)(?=^\\[)").matcher(pyproject);
        assertEquals(true, project.find(), "no [project] table in pyproject.toml");
        Matcher version = Pattern.compile("(?m)^version\\s*=\\s*\"([^\"]+)\"").matcher(project.group(1));
        assertEquals(true, version.find(), "no version in pyproject.toml's [project] table");
        assertEquals(version.group(1), Version.VERSION,
                "jvm/pom.xml's <revision> differs from pyproject.toml's version");
        assertEquals("akv-sidecar-hadoop/" + version.group(1), SidecarClient.USER_AGENT);
    }
}
