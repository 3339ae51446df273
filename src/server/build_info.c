/* build_info.c — see build_info.h. */
#include "build_info.h"

#ifndef OPTIRS_VERSION
#define OPTIRS_VERSION "unknown"
#endif

const char *build_info_version(void) { return OPTIRS_VERSION[0] ? OPTIRS_VERSION : "unknown"; }
