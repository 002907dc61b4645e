// What `--version` says of genbox itself. The commit is written at build time into one small
// generated source (cmake/write_version.cmake), so a new commit recompiles that file alone.
#pragma once

namespace genbox {

// The project version, from CMakeLists.txt's project(VERSION).
const char* genbox_version();
// The git commit the build's source tree was at, or "unknown" for a build outside git.
const char* genbox_git_commit();

}  // namespace genbox
