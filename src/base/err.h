/* err.h: error codes and the caller-owned error record.
 *
 * 0 is success; every failure is a negative code from enum err_code. The
 * detail (a message for people, the offending fields, a retry hint) goes into a
 * struct err owned by the caller. One table (err.c) maps each code to its HTTP
 * status, its JSON name and its sysexits exit code: nothing else may decide
 * those, so the API and the CLI can never disagree. */
#ifndef TINHSO_ERR_H
#define TINHSO_ERR_H

#include <stdarg.h>
#include <stddef.h>

enum err_code {
	ERR_OK = 0,
	ERR_BAD_REQUEST = -1,	    /* 400 bad_request: malformed syntax */
	ERR_UNAUTHENTICATED = -2,   /* 401 */
	ERR_FORBIDDEN = -3,	    /* 403 */
	ERR_NOT_FOUND = -4,	    /* 404 */
	ERR_METHOD = -5,	    /* 405 method_not_allowed */
	ERR_CONFLICT = -6,	    /* 409 conflict */
	ERR_INVALID_TRANSITION = -7, /* 409 invalid_transition */
	ERR_TOO_LARGE = -8,	    /* 413 too_large */
	ERR_UNSUPPORTED_MEDIA = -9, /* 415 unsupported_media_type */
	ERR_INVALID = -10,	    /* 422 invalid, with details.fields */
	ERR_RATE_LIMITED = -11,	    /* 429 rate_limited, with Retry-After */
	ERR_HEADERS_TOO_LARGE = -12, /* 431 headers_too_large */
	ERR_INTERNAL = -13,	    /* 500 internal: a bug or an I/O failure */
	ERR_BAD_GATEWAY = -14,	    /* 502 bad_gateway */
	ERR_UNAVAILABLE = -15,	    /* 503 unavailable */
	ERR_GATEWAY_TIMEOUT = -16,  /* 504 gateway_timeout */
	ERR_CONFIG = -17,	    /* configuration error (exit 78; 500 if ever seen by HTTP) */
	ERR_USAGE = -18,	    /* command-line usage error (exit 64) */
	ERR_CODE_MIN = -18,
};

#define ERR_MAX_FIELDS 16

struct err_field {
	char name[64];
	char msg[160];
};

struct err {
	int code;
	char msg[512];
	const char *file; /* where it was set: for logs, never shown to users */
	int line;
	int retry_after;  /* seconds, for ERR_RATE_LIMITED / ERR_UNAVAILABLE; 0 = none */
	int nfields;
	struct err_field fields[ERR_MAX_FIELDS];
};

/* Sets code and message; returns code so that callers can `return err_set(...)`. */
#define err_set(e, code, ...) err_set_at((e), __FILE__, __LINE__, (code), __VA_ARGS__)
int err_set_at(struct err *e, const char *file, int line, int code, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* Adds a field problem (for ERR_INVALID); keeps at most ERR_MAX_FIELDS. Does not change code. */
void err_field(struct err *e, const char *field, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Finishes a validation pass: if fields were added, sets ERR_INVALID with a message
 * naming the first field and returns it; otherwise returns 0. */
#define err_fields_done(e) err_fields_done_at((e), __FILE__, __LINE__)
int err_fields_done_at(struct err *e, const char *file, int line);

void err_clear(struct err *e);

/* The one table. Unknown codes map to ERR_INTERNAL's row. */
int err_http_status(int code);
const char *err_name(int code);	/* "not_found", ... */
int err_exit_code(int code);	/* sysexits: 64, 65, 69, 75, 78, 70 */

#endif
