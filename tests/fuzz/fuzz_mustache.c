/* fuzz_mustache.c: libFuzzer target for the template engine
 * (src/web/mustache.h). The input is split at NUL bytes into up to three
 * parts: a template "main", a template "p" (so partials, recursive ones
 * included, are exercised through a mustache_set), and optionally a JSON
 * document used as the context instead of the built-in one. Both templates
 * are compiled and, when they compile, rendered. Checks, besides "no crash,
 * leak or UB":
 *   - compile fails only with ERR_TOO_LARGE or ERR_BAD_REQUEST and a message;
 *   - render fails only with ERR_INTERNAL, and leaves the output buffer as it was;
 *   - a template without '{' (no tag can open with the default delimiters)
 *     compiles and renders to exactly its source;
 *   - rendering is deterministic (twice the same bytes), as concurrent pages rely on.
 *
 * Work bound: the renderer bounds output, stack and partial depth, but not work:
 * nested sections over lists multiply (10 nested {{#list}} over 6 items is 6^10
 * iterations that print nothing). Templates are trusted files, so the target
 * renders only inputs whose work is small: at most 6 section/inverted/partial
 * sigils with the built-in context (lists of at most 6 items), and with a
 * context from the input (at most 128 bytes) at most 3 sections and no partial.
 * Compilation is always fuzzed, whatever the input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "web/mustache.h"

#define CHECK(cond)                                                                                                    \
	do {                                                                                                           \
		if (!(cond))                                                                                           \
			__builtin_trap();                                                                              \
	} while (0)

static const char default_ctx[] =
    "{\"name\":\"H\xe1\xba\xa3i <D\xc6\xb0\xc6\xa1ng> & \\\"x\\\" 'y'\",\"n\":42,\"neg\":-7,\"r\":1.21,\"t\":true,"
    "\"f\":false,\"nil\":null,\"s\":\"\",\"zero\":0,\"empty\":[],\"eo\":{},"
    "\"list\":[{\"a\":1,\"b\":\"x\"},{\"a\":\"<b>\"},3,\"str\",[1,2],null],"
    "\"obj\":{\"a\":{\"b\":\"c\",\"list\":[1,2,3]},\"name\":\"inner\"},"
    "\"html\":\"<script>alert(1)</script>\",\"p\":\"partial-name\"}";

static json_t *ctx_default;

static size_t count_sigils(const char *p, size_t n, bool *partial)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		k += p[i] == '#' || p[i] == '^' || p[i] == '>';
		*partial |= p[i] == '>';
	}
	return k;
}

static void check_render(const struct mustache_set *set, const char *name, const json_t *ctx)
{
	struct buf out = BUF_INIT;
	buf_puts(&out, "prefix|");
	size_t before = out.len;
	struct err e = {0};
	int rc = mustache_set_render(set, name, ctx, &out, &e);
	if (rc < 0) {
		CHECK(rc == ERR_INTERNAL);
		CHECK(e.msg[0]);
		CHECK(out.len == before);
	} else {
		CHECK(rc == 0);
		/* deterministic */
		struct buf again = BUF_INIT;
		struct err e2 = {0};
		CHECK(mustache_set_render(set, name, ctx, &again, &e2) == 0);
		CHECK(again.len == out.len - before && memcmp(buf_cstr(&again), out.ptr + before, again.len) == 0);
		buf_free(&again);
	}
	buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!ctx_default) {
		json_error_t je;
		ctx_default = json_loads(default_ctx, 0, &je);
		if (!ctx_default)
			abort();
	}
	const char *p = (const char *)data;
	const char *end = p + size;
	const char *z1 = memchr(p, 0, size);
	const char *main_src = p;
	size_t main_len = z1 ? (size_t)(z1 - p) : size;
	const char *part_src = z1 ? z1 + 1 : end;
	const char *z2 = z1 ? memchr(part_src, 0, (size_t)(end - part_src)) : NULL;
	size_t part_len = z2 ? (size_t)(z2 - part_src) : (size_t)(end - part_src);
	const char *json_src = z2 ? z2 + 1 : NULL;

	bool partial = false;
	size_t sigils = count_sigils(main_src, main_len, &partial) + count_sigils(part_src, part_len, &partial);
	bool render = sigils <= 6;
	json_t *ctx = ctx_default, *parsed = NULL;
	if (json_src && json_src < end && end - json_src <= 128 && sigils <= 3 && !partial) {
		json_error_t je;
		parsed = json_loadb(json_src, (size_t)(end - json_src), JSON_DECODE_ANY, &je);
		if (parsed)
			ctx = parsed;
	}

	struct arena a = ARENA_INIT;
	struct mustache_set *set = mustache_set_new(&a);
	struct err e = {0};
	int rc_main = mustache_set_add(set, "main", main_src, main_len, &e);
	if (rc_main < 0) {
		CHECK(rc_main == ERR_TOO_LARGE || rc_main == ERR_BAD_REQUEST);
		CHECK(e.msg[0]);
	}
	struct err e2 = {0};
	int rc_part = mustache_set_add(set, "p", part_src, part_len, &e2);
	if (rc_part < 0)
		CHECK(rc_part == ERR_TOO_LARGE || rc_part == ERR_BAD_REQUEST);

	if (!memchr(main_src, '{', main_len)) {
		CHECK(rc_main == 0);
		struct buf out = BUF_INIT;
		struct err e3 = {0};
		CHECK(mustache_set_render(set, "main", ctx, &out, &e3) == 0);
		CHECK(out.len == main_len && memcmp(buf_cstr(&out), main_src, main_len) == 0);
		buf_free(&out);
	}
	if (rc_main == 0 && render)
		check_render(set, "main", ctx);
	if (rc_part == 0 && render)
		check_render(set, "p", ctx);

	/* a standalone compile (no set) of the main template, rendered without partials */
	struct mustache_tpl *t;
	struct err e4 = {0};
	if (mustache_compile(&a, NULL, main_src, main_len, &t, &e4) == 0 && render) {
		struct buf out = BUF_INIT;
		struct err e5 = {0};
		int rc = mustache_render(t, ctx, NULL, &out, &e5);
		CHECK(rc == 0 || (rc == ERR_INTERNAL && out.len == 0));
		buf_free(&out);
	}
	arena_free(&a);
	if (parsed)
		json_decref(parsed);
	return 0;
}
