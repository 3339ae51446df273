/* h_body.h — the request body checks the JSON routes share.
 * Each either lets the handler go on or answers the request itself (and the
 * handler returns at once): a refused body changes nothing. */
#ifndef OPTIRS_H_BODY_H
#define OPTIRS_H_BODY_H

#include <cjson/cJSON.h>

#include "http.h"

/* 1 when the body is application/json (or has no type); otherwise answers
 * 415 unsupported_media_type and returns 0. */
int h_body_want_json(req *r);

/* The whole body as one JSON value (the caller deletes it), or NULL after
 * answering: 415 for another type, the jsonwalk_check_text code for text that
 * is not clean UTF-8 JSON, 400 invalid_json for a syntax error or anything but
 * whitespace after the value. */
cJSON *h_body_json(req *r);

#endif
