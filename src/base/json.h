/* json.h: JSON out through a streaming writer into a buf (canonical bytes,
 * no tree), and JSON in through jansson with the edge checks of DESIGN.md:
 * duplicate keys refused, nesting depth bounded, UTF-8 validated, and a
 * declarative field decoder that names every wrong, missing or unknown field. */
#ifndef TINHSO_JSON_H
#define TINHSO_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/buf.h"
#include "base/err.h"

/* ---- writer ---- */

enum { JW_MAX_DEPTH = 32 };

struct jw {
	struct buf *b;
	int depth;
	bool need_comma[JW_MAX_DEPTH + 1];
	bool after_key;
};

void jw_init(struct jw *w, struct buf *b);
void jw_obj(struct jw *w);
void jw_obj_end(struct jw *w);
void jw_arr(struct jw *w);
void jw_arr_end(struct jw *w);
void jw_key(struct jw *w, const char *k);
void jw_str(struct jw *w, const char *s); /* NULL writes null */
void jw_strn(struct jw *w, const char *s, size_t n);
void jw_int(struct jw *w, int64_t v);
void jw_double(struct jw *w, double v);
void jw_bool(struct jw *w, bool v);
void jw_null(struct jw *w);
void jw_raw(struct jw *w, const char *json, size_t n); /* already-valid JSON value */
void jw_time(struct jw *w, int64_t unix_us);	/* RFC 3339, +07:00; 0 writes null */
/* key + value shorthands */
void jw_kstr(struct jw *w, const char *k, const char *s);
void jw_kint(struct jw *w, const char *k, int64_t v);
void jw_kbool(struct jw *w, const char *k, bool v);
void jw_ktime(struct jw *w, const char *k, int64_t unix_us);
/* Escapes s as a JSON string (with quotes) onto b. */
void json_escape(struct buf *b, const char *s, size_t n);

/* ---- reader ---- */

enum { JSON_MAX_DEPTH = 32 };

/* Parses p[0..n) as one JSON value. Refuses invalid UTF-8, duplicate keys,
 * nesting deeper than JSON_MAX_DEPTH, and trailing data, with ERR_BAD_REQUEST
 * naming line and column. The caller json_decref()s *out. */
int json_parse(const char *p, size_t n, json_t **out, struct err *e);

enum jf_type { JF_STR, JF_INT, JF_BOOL, JF_OBJ, JF_ARR, JF_ANY };

struct jfield {
	const char *name;
	enum jf_type type;
	bool required;
	size_t max_len; /* JF_STR: max bytes (0 = 1024); JF_ARR: max items (0 = 1000) */
	void *out;	/* JF_STR: const char ** (arena copy); JF_INT: int64_t *; JF_BOOL: bool *;
			   JF_OBJ/JF_ARR/JF_ANY: json_t ** (borrowed from the parsed tree) */
	bool *present;	/* optional: set true when the field was given (null counts as absent) */
};

/* Decodes the object obj against fields. Every problem (not an object, a
 * missing required field, a wrong type, a string too long or with a NUL, an
 * unknown key) is recorded with err_field; returns ERR_INVALID if any, else 0.
 * Strings are copied into a. */
int json_decode(json_t *obj, const struct jfield *fields, size_t nfields, struct arena *a, struct err *e);

#endif
