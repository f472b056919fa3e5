/* json.c: streaming writer and the strict jansson-based reader. */
#include "base/json.h"

#include <assert.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/time.h"

void jw_init(struct jw *w, struct buf *b)
{
	memset(w, 0, sizeof *w);
	w->b = b;
}

static void jw_sep(struct jw *w)
{
	if (w->after_key) {
		w->after_key = false;
		return;
	}
	if (w->need_comma[w->depth])
		buf_putc(w->b, ',');
	w->need_comma[w->depth] = true;
}

static void jw_open(struct jw *w, char c)
{
	jw_sep(w);
	buf_putc(w->b, c);
	assert(w->depth < JW_MAX_DEPTH);
	w->need_comma[++w->depth] = false;
}

static void jw_close(struct jw *w, char c)
{
	assert(w->depth > 0);
	w->depth--;
	buf_putc(w->b, c);
}

void jw_obj(struct jw *w) { jw_open(w, '{'); }
void jw_obj_end(struct jw *w) { jw_close(w, '}'); }
void jw_arr(struct jw *w) { jw_open(w, '['); }
void jw_arr_end(struct jw *w) { jw_close(w, ']'); }

void json_escape(struct buf *b, const char *s, size_t n)
{
	static const char hx[] = "0123456789abcdef";
	buf_grow(b, n + 2);
	buf_putc(b, '"');
	size_t run = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		buf_append(b, s + run, i - run);
		run = i + 1;
		switch (c) {
		case '"': buf_append(b, "\\\"", 2); break;
		case '\\': buf_append(b, "\\\\", 2); break;
		case '\n': buf_append(b, "\\n", 2); break;
		case '\r': buf_append(b, "\\r", 2); break;
		case '\t': buf_append(b, "\\t", 2); break;
		default: {
			char u[6] = {'\\', 'u', '0', '0', hx[c >> 4], hx[c & 15]};
			buf_append(b, u, 6);
		}
		}
	}
	buf_append(b, s + run, n - run);
	buf_putc(b, '"');
}

void jw_key(struct jw *w, const char *k)
{
	jw_sep(w);
	json_escape(w->b, k, strlen(k));
	buf_putc(w->b, ':');
	w->after_key = true;
}

void jw_strn(struct jw *w, const char *s, size_t n)
{
	jw_sep(w);
	json_escape(w->b, s, n);
}

void jw_str(struct jw *w, const char *s)
{
	if (!s) {
		jw_null(w);
		return;
	}
	jw_strn(w, s, strlen(s));
}

void jw_int(struct jw *w, int64_t v)
{
	jw_sep(w);
	buf_put_int(w->b, v);
}

void jw_double(struct jw *w, double v)
{
	jw_sep(w);
	if (!isfinite(v))
		buf_puts(w->b, "null");
	else
		buf_printf(w->b, "%.17g", v);
}

void jw_bool(struct jw *w, bool v)
{
	jw_sep(w);
	buf_puts(w->b, v ? "true" : "false");
}

void jw_null(struct jw *w)
{
	jw_sep(w);
	buf_puts(w->b, "null");
}

void jw_raw(struct jw *w, const char *json, size_t n)
{
	jw_sep(w);
	buf_append(w->b, json, n);
}

void jw_time(struct jw *w, int64_t unix_us)
{
	if (!unix_us) {
		jw_null(w);
		return;
	}
	char t[48];
	time_fmt_rfc3339(unix_us, t, sizeof t);
	jw_str(w, t);
}

void jw_kstr(struct jw *w, const char *k, const char *s) { jw_key(w, k); jw_str(w, s); }
void jw_kint(struct jw *w, const char *k, int64_t v) { jw_key(w, k); jw_int(w, v); }
void jw_kbool(struct jw *w, const char *k, bool v) { jw_key(w, k); jw_bool(w, v); }
void jw_ktime(struct jw *w, const char *k, int64_t us) { jw_key(w, k); jw_time(w, us); }

/* ---- reader ---- */

/* jansson's own depth limit is a compile-time 2048; check ours before parsing. */
static int json_depth_ok(const char *p, size_t n, size_t *where)
{
	int depth = 0;
	bool in_str = false;
	for (size_t i = 0; i < n; i++) {
		char c = p[i];
		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = false;
			continue;
		}
		if (c == '"')
			in_str = true;
		else if (c == '{' || c == '[') {
			if (++depth > JSON_MAX_DEPTH) {
				*where = i;
				return 0;
			}
		} else if (c == '}' || c == ']')
			depth--;
	}
	return 1;
}

int json_parse(const char *p, size_t n, json_t **out, struct err *e)
{
	*out = NULL;
	size_t where;
	if (n == 0)
		return err_set(e, ERR_BAD_REQUEST, "the request body is empty; a JSON document is expected");
	if (!utf8_valid(p, n))
		return err_set(e, ERR_BAD_REQUEST, "the request body is not valid UTF-8");
	if (!json_depth_ok(p, n, &where))
		return err_set(e, ERR_BAD_REQUEST, "JSON nested deeper than %d levels (at byte %zu)", JSON_MAX_DEPTH,
			       where);
	json_error_t je;
	json_t *j = json_loadb(p, n, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
	if (!j)
		return err_set(e, ERR_BAD_REQUEST, "malformed JSON at line %d, column %d: %s", je.line, je.column,
			       je.text);
	*out = j;
	return 0;
}

static const char *jf_type_name(enum jf_type t)
{
	switch (t) {
	case JF_STR: return "a string";
	case JF_INT: return "an integer";
	case JF_BOOL: return "true or false";
	case JF_OBJ: return "an object";
	case JF_ARR: return "an array";
	default: return "a value";
	}
}

int json_decode(json_t *obj, const struct jfield *fields, size_t nfields, struct arena *a, struct err *e)
{
	if (!json_is_object(obj)) {
		err_field(e, "body", "must be a JSON object");
		return err_fields_done(e);
	}
	const char *key;
	json_t *v;
	json_object_foreach(obj, key, v)
	{
		size_t i;
		for (i = 0; i < nfields; i++)
			if (strcmp(fields[i].name, key) == 0)
				break;
		if (i == nfields)
			err_field(e, key, "unknown field");
	}
	for (size_t i = 0; i < nfields; i++) {
		const struct jfield *f = &fields[i];
		v = json_object_get(obj, f->name);
		if (f->present)
			*f->present = false;
		if (!v || json_is_null(v)) {
			if (f->required)
				err_field(e, f->name, "is required");
			continue;
		}
		bool ok;
		switch (f->type) {
		case JF_STR: ok = json_is_string(v); break;
		case JF_INT: ok = json_is_integer(v); break;
		case JF_BOOL: ok = json_is_boolean(v); break;
		case JF_OBJ: ok = json_is_object(v); break;
		case JF_ARR: ok = json_is_array(v); break;
		default: ok = true;
		}
		if (!ok) {
			err_field(e, f->name, "must be %s", jf_type_name(f->type));
			continue;
		}
		switch (f->type) {
		case JF_STR: {
			size_t n = json_string_length(v), max = f->max_len ? f->max_len : 1024;
			const char *s = json_string_value(v);
			if (n > max) {
				err_field(e, f->name, "is longer than %zu bytes", max);
				continue;
			}
			if (memchr(s, 0, n)) {
				err_field(e, f->name, "must not contain NUL characters");
				continue;
			}
			*(const char **)f->out = arena_strndup(a, s, n);
			break;
		}
		case JF_INT: *(int64_t *)f->out = json_integer_value(v); break;
		case JF_BOOL: *(bool *)f->out = json_is_true(v); break;
		case JF_ARR:
			if (json_array_size(v) > (f->max_len ? f->max_len : 1000)) {
				err_field(e, f->name, "has more than %zu items", f->max_len ? f->max_len : 1000);
				continue;
			}
			*(json_t **)f->out = v;
			break;
		default: *(json_t **)f->out = v;
		}
		if (f->present)
			*f->present = true;
	}
	return err_fields_done(e);
}
