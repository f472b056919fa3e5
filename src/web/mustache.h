/* mustache.h: a Mustache template engine (spec v1.x: comments, set delimiters,
 * interpolation, sections, inverted sections, partials; no lambdas) for the
 * HTML pages. A template is compiled once into an immutable struct
 * mustache_tpl and rendered many times, from any number of threads at once,
 * against a jansson tree. Partials are found at render time through a
 * resolver, usually a struct mustache_set loaded once from web/templates.
 *
 * Data model (jansson):
 *   - {{name}} looks name up through the context stack, innermost first; a
 *     dotted name a.b.c finds a that way and then b, c only inside it; {{.}}
 *     is the current context.
 *   - Falsey for sections: a missing name, null, false and the empty array.
 *     Everything else is truthy, including "", 0 and {}: handlers that want a
 *     condition pass a bool.
 *   - Interpolation: strings as they are, integers in decimal, reals in the
 *     shortest form that reads back to the same double (1.21), true/false as
 *     "true"/"false"; null, missing, objects and arrays give "".
 *   - {{x}} escapes exactly what the spec escapes: & " < > (as &amp; &quot;
 *     &lt; &gt;). The apostrophe is NOT escaped, so templates must quote HTML
 *     attributes with double quotes. {{{x}}} and {{& x}} do not escape.
 *     Bytes (UTF-8 included) otherwise pass through unchanged. */
#ifndef TINHSO_MUSTACHE_H
#define TINHSO_MUSTACHE_H

#include <jansson.h>
#include <stddef.h>

#include "base/arena.h"
#include "base/buf.h"
#include "base/err.h"

enum {
	MUSTACHE_MAX_SIZE = 1024 * 1024,	    /* template source bytes */
	MUSTACHE_MAX_DEPTH = 64,		    /* nested sections within one template */
	MUSTACHE_MAX_NAME = 256,		    /* bytes in a tag name */
	MUSTACHE_MAX_DELIM = 16,		    /* bytes in a delimiter set by {{=a b=}} */
	MUSTACHE_MAX_PARTIAL_DEPTH = 64,	    /* partials within partials at render time */
	MUSTACHE_MAX_STACK = 512,		    /* sections + partials open at once at render time */
	MUSTACHE_MAX_OUTPUT = 32 * 1024 * 1024,	    /* bytes one render may append */
	MUSTACHE_SET_MAX = 1024,		    /* templates in one set */
};

/* A compiled template: opaque and immutable once mustache_compile returns. */
struct mustache_tpl;

/* Compiles src[0..len) (need not be NUL-terminated). name is only used in
 * error messages and may be NULL. The template and everything it refers to
 * (including a copy of src) is allocated from a, so it lives until
 * arena_free(a); nothing is allocated from a on failure.
 * Errors: ERR_TOO_LARGE when len > MUSTACHE_MAX_SIZE; ERR_BAD_REQUEST for a
 * syntax error (unclosed tag, unclosed or mismatched section, close without
 * open, empty or malformed name, bad delimiters, sections nested deeper than
 * MUSTACHE_MAX_DEPTH), with a message naming the template and the line. */
int mustache_compile(struct arena *a, const char *name, const char *src, size_t len, struct mustache_tpl **out,
		     struct err *e);

/* The name given to mustache_compile ("" if NULL). */
const char *mustache_tpl_name(const struct mustache_tpl *t);

/* How partials are found at render time. find returns the compiled partial
 * called name[0..len) (not NUL-terminated), or NULL, which renders as the
 * empty string as the spec says. find is called from concurrent renders, so
 * it must be thread-safe (a lookup in a structure nobody modifies is). */
struct mustache_partials {
	const struct mustache_tpl *(*find)(void *ctx, const char *name, size_t len);
	void *ctx;
};

/* Renders t with data as the root context, appending to out. partials may be
 * NULL (every partial is then empty). Does not modify t, data or partials, so
 * any number of threads may render the same template and data concurrently,
 * each into its own out.
 * Errors (out is then restored to its length on entry): ERR_INTERNAL when
 * partials nest deeper than MUSTACHE_MAX_PARTIAL_DEPTH (runaway recursion),
 * when more than MUSTACHE_MAX_STACK sections and partials are open at once,
 * or when the output would exceed MUSTACHE_MAX_OUTPUT bytes. */
int mustache_render(const struct mustache_tpl *t, const json_t *data, const struct mustache_partials *partials,
		    struct buf *out, struct err *e);

/* ---- a set of named templates, each usable as a partial of the others ---- */

struct mustache_set;

/* Creates an empty set allocated from a (it and its templates live until
 * arena_free(a)). */
struct mustache_set *mustache_set_new(struct arena *a);

/* Compiles src[0..len) and adds it under name (a non-empty string of at most
 * MUSTACHE_MAX_NAME bytes without whitespace or NUL). Errors: those of
 * mustache_compile; ERR_CONFLICT if name is already in the set; ERR_TOO_LARGE
 * if the set holds MUSTACHE_SET_MAX templates; ERR_BAD_REQUEST for a bad name.
 * Not thread-safe: fill the set before rendering from it. */
int mustache_set_add(struct mustache_set *s, const char *name, const char *src, size_t len, struct err *e);

/* Adds every regular file dir/NAME.mustache (not in subdirectories, not
 * starting with '.') under NAME, in name order. Errors: ERR_CONFIG when dir
 * cannot be read, a file cannot be read, is larger than MUSTACHE_MAX_SIZE or
 * does not compile (the message names the file and line); ERR_CONFLICT and
 * ERR_TOO_LARGE as mustache_set_add. Templates added before a failure stay. */
int mustache_set_load_dir(struct mustache_set *s, const char *dir, struct err *e);

/* The template called name[0..len), or NULL. Thread-safe once the set is filled. */
const struct mustache_tpl *mustache_set_find(const struct mustache_set *s, const char *name, size_t len);

/* Number of templates in the set. */
size_t mustache_set_count(const struct mustache_set *s);

/* A resolver that finds partials in s (valid as long as s). */
struct mustache_partials mustache_set_partials(const struct mustache_set *s);

/* Renders the template called name, with the set's templates as partials.
 * Errors: ERR_NOT_FOUND when name is not in the set; those of mustache_render. */
int mustache_set_render(const struct mustache_set *s, const char *name, const json_t *data, struct buf *out,
			struct err *e);

#endif
