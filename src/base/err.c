/* err.c: the error record and the single code -> (HTTP status, name, exit) table. */
#include "base/err.h"

#include <stdio.h>
#include <string.h>

struct err_row {
	int code;
	int http;
	const char *name;
	int exit; /* sysexits.h values */
};

/* EX_USAGE 64, EX_DATAERR 65, EX_NOINPUT 66, EX_UNAVAILABLE 69, EX_SOFTWARE 70,
 * EX_TEMPFAIL 75, EX_NOPERM 77, EX_CONFIG 78 */
static const struct err_row err_table[] = {
	{ERR_OK, 200, "ok", 0},
	{ERR_BAD_REQUEST, 400, "bad_request", 65},
	{ERR_UNAUTHENTICATED, 401, "unauthenticated", 77},
	{ERR_FORBIDDEN, 403, "forbidden", 77},
	{ERR_NOT_FOUND, 404, "not_found", 65},
	{ERR_METHOD, 405, "method_not_allowed", 64},
	{ERR_CONFLICT, 409, "conflict", 65},
	{ERR_INVALID_TRANSITION, 409, "invalid_transition", 65},
	{ERR_TOO_LARGE, 413, "too_large", 65},
	{ERR_UNSUPPORTED_MEDIA, 415, "unsupported_media_type", 65},
	{ERR_INVALID, 422, "invalid", 65},
	{ERR_RATE_LIMITED, 429, "rate_limited", 75},
	{ERR_HEADERS_TOO_LARGE, 431, "headers_too_large", 65},
	{ERR_INTERNAL, 500, "internal", 70},
	{ERR_BAD_GATEWAY, 502, "bad_gateway", 69},
	{ERR_UNAVAILABLE, 503, "unavailable", 69},
	{ERR_GATEWAY_TIMEOUT, 504, "gateway_timeout", 75},
	{ERR_CONFIG, 500, "config", 78},
	{ERR_USAGE, 400, "usage", 64},
};

static const struct err_row *err_row(int code)
{
	for (size_t i = 0; i < sizeof err_table / sizeof err_table[0]; i++)
		if (err_table[i].code == code)
			return &err_table[i];
	static const struct err_row internal = {ERR_INTERNAL, 500, "internal", 70};
	return &internal;
}

int err_http_status(int code) { return err_row(code)->http; }
const char *err_name(int code) { return err_row(code)->name; }
int err_exit_code(int code) { return err_row(code)->exit; }

int err_set_at(struct err *e, const char *file, int line, int code, const char *fmt, ...)
{
	if (!e)
		return code;
	va_list ap;
	e->code = code;
	e->file = file;
	e->line = line;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof e->msg, fmt, ap);
	va_end(ap);
	return code;
}

void err_field(struct err *e, const char *field, const char *fmt, ...)
{
	if (!e || e->nfields >= ERR_MAX_FIELDS)
		return;
	for (int i = 0; i < e->nfields; i++)
		if (strcmp(e->fields[i].name, field) == 0)
			return; /* the first problem of a field is the one to fix */
	struct err_field *f = &e->fields[e->nfields++];
	snprintf(f->name, sizeof f->name, "%s", field);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(f->msg, sizeof f->msg, fmt, ap);
	va_end(ap);
}

int err_fields_done_at(struct err *e, const char *file, int line)
{
	if (!e || e->nfields == 0)
		return 0;
	if (e->nfields == 1)
		return err_set_at(e, file, line, ERR_INVALID, "field '%s': %s", e->fields[0].name, e->fields[0].msg);
	return err_set_at(e, file, line, ERR_INVALID, "field '%s': %s (and %d more)", e->fields[0].name,
			  e->fields[0].msg, e->nfields - 1);
}

void err_clear(struct err *e)
{
	memset(e, 0, sizeof *e);
}
