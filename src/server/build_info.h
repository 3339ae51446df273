/* build_info.h — what this binary is: the version `git describe` gave when it
 * was built ("unknown" outside a git checkout), set by the Makefile
 * (OPTIRS_VERSION, on build_info.o only, rebuilt when the version changes).
 * Shown by `optirsd --version` and /metrics (optirs_build_info).
 * Thread rules: constant; any thread. */
#ifndef OPTIRS_BUILD_INFO_H
#define OPTIRS_BUILD_INFO_H

/* The version string (never NULL, never empty). */
const char *build_info_version(void);

#endif
