/* test_mustache.c: the Mustache engine against every case of the official spec
 * files (read from the shared directory, never copied here), plus parse error
 * reporting, concurrent rendering of one compiled template, the partial depth
 * bound, HTML escaping of Vietnamese text and loading a template directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/arena.h"
#include "base/buf.h"
#include "base/err.h"
#include "base/json.h"
#include "web/mustache.h"

static const char *const spec_files[] = {
	"comments.json", "delimiters.json", "interpolation.json", "inverted.json", "partials.json", "sections.json",
};

static void spec_dir(struct buf *b)
{
	const char *root = getenv("TINHSO_SOURCE_DIR");
	if (root && *root)
		buf_printf(b, "%s/../shared/mustache-spec", root);
	else
		buf_puts(b, "/work/shared/mustache-spec");
}

static bool slurp(const char *path, struct buf *b)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return false;
	char tmp[8192];
	size_t n;
	while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
		buf_append(b, tmp, n);
	bool ok = !ferror(f);
	fclose(f);
	return ok;
}

/* Runs one spec case; returns true if it passes, printing it otherwise. */
static bool spec_case(const char *file, json_t *tc)
{
	const char *name = json_string_value(json_object_get(tc, "name"));
	const char *tpl = json_string_value(json_object_get(tc, "template"));
	const char *expected = json_string_value(json_object_get(tc, "expected"));
	json_t *data = json_object_get(tc, "data");
	json_t *partials = json_object_get(tc, "partials");
	if (!name || !tpl || !expected) {
		printf("FAIL %s: malformed case %s\n", file, name ? name : "(no name)");
		return false;
	}
	struct arena a = ARENA_INIT;
	struct err e = {0};
	struct buf out = BUF_INIT;
	bool ok = false;
	struct mustache_set *set = mustache_set_new(&a);
	const char *pname;
	json_t *pv;
	json_object_foreach(partials, pname, pv)
	{
		if (mustache_set_add(set, pname, json_string_value(pv), json_string_length(pv), &e) < 0) {
			printf("FAIL %s / %s: partial '%s' does not compile: %s\n", file, name, pname, e.msg);
			goto done;
		}
	}
	struct mustache_tpl *t;
	if (mustache_compile(&a, name, tpl, strlen(tpl), &t, &e) < 0) {
		printf("FAIL %s / %s: does not compile: %s\n", file, name, e.msg);
		goto done;
	}
	struct mustache_partials p = mustache_set_partials(set);
	if (mustache_render(t, data, &p, &out, &e) < 0) {
		printf("FAIL %s / %s: render error: %s\n", file, name, e.msg);
		goto done;
	}
	ok = out.len == strlen(expected) && memcmp(buf_cstr(&out), expected, out.len) == 0;
	if (!ok) {
		struct buf x = BUF_INIT, y = BUF_INIT;
		json_escape(&x, expected, strlen(expected));
		json_escape(&y, buf_cstr(&out), out.len);
		printf("FAIL %s / %s\n  expected: %s\n  actual:   %s\n", file, name, buf_cstr(&x), buf_cstr(&y));
		buf_free(&x);
		buf_free(&y);
	}
done:
	buf_free(&out);
	arena_free(&a);
	return ok;
}

static void test_spec(void **state)
{
	(void)state;
	struct buf dir = BUF_INIT;
	spec_dir(&dir);
	int total = 0, passed = 0, missing = 0;
	for (size_t i = 0; i < sizeof spec_files / sizeof spec_files[0]; i++) {
		struct buf path = BUF_INIT, body = BUF_INIT;
		buf_printf(&path, "%s/%s", buf_cstr(&dir), spec_files[i]);
		json_t *root = NULL;
		struct err e = {0};
		if (!slurp(buf_cstr(&path), &body) || json_parse(body.ptr, body.len, &root, &e) < 0) {
			printf("FAIL spec file %s is missing or unreadable %s\n", buf_cstr(&path), e.msg);
			missing++;
		} else {
			json_t *tests = json_object_get(root, "tests");
			size_t k;
			json_t *tc;
			if (json_array_size(tests) == 0) {
				printf("FAIL spec file %s has no tests\n", buf_cstr(&path));
				missing++;
			}
			json_array_foreach(tests, k, tc)
			{
				total++;
				passed += spec_case(spec_files[i], tc);
			}
		}
		json_decref(root);
		buf_free(&path);
		buf_free(&body);
	}
	printf("mustache spec (%s): %d of %d cases pass\n", buf_cstr(&dir), passed, total);
	buf_free(&dir);
	fflush(stdout); /* the failures above come before cmocka's verdict */
	assert_int_equal(missing, 0);
	assert_true(total > 100);
	assert_int_equal(passed, total);
}

/* Compiles src expecting failure with code, and a message containing want. */
static void expect_error(const char *src, int code, const char *want)
{
	struct arena a = ARENA_INIT;
	struct err e = {0};
	struct mustache_tpl *t = (struct mustache_tpl *)&e; /* must be reset to NULL */
	int rc = mustache_compile(&a, "page", src, strlen(src), &t, &e);
	if (rc != code || !strstr(e.msg, want))
		printf("source %s: rc %d, message '%s', wanted %d and '%s'\n", src, rc, e.msg, code, want);
	assert_int_equal(rc, code);
	assert_null(t);
	assert_non_null(strstr(e.msg, want));
	assert_int_equal(a.total, 0); /* nothing left in the arena on failure */
	arena_free(&a);
}

static void test_parse_errors(void **state)
{
	(void)state;
	expect_error("a\n{{#list}}\nb\n", ERR_BAD_REQUEST, "line 2: section 'list' is not closed");
	expect_error("a\n{{#a}}\n{{#b}}\n{{/a}}\n{{/b}}", ERR_BAD_REQUEST,
		     "line 4: closing tag 'a' does not match section 'b' opened at line 3");
	expect_error("x\n\n{{/a}}", ERR_BAD_REQUEST, "line 3: closing tag 'a' without an open section");
	expect_error("ok\n{{name", ERR_BAD_REQUEST, "line 2: unclosed tag");
	expect_error("{{{name}}", ERR_BAD_REQUEST, "line 1: unclosed tag");
	expect_error("{{=<% =}}", ERR_BAD_REQUEST, "line 1: bad delimiters");
	expect_error("\n{{=a= b=}}", ERR_BAD_REQUEST, "line 2: bad delimiters");
	expect_error("{{=a b c=}}", ERR_BAD_REQUEST, "bad delimiters");
	expect_error("{{==}}", ERR_BAD_REQUEST, "bad delimiters");
	expect_error("{{}}", ERR_BAD_REQUEST, "line 1: empty tag name");
	expect_error("{{#}}{{/}}", ERR_BAD_REQUEST, "empty tag name");
	expect_error("{{a b}}", ERR_BAD_REQUEST, "whitespace");
	expect_error("{{a..b}}", ERR_BAD_REQUEST, "malformed dotted name");
	expect_error("{{.a}}", ERR_BAD_REQUEST, "malformed dotted name");
	expect_error("{{=<% %>=}}\n\n<%#s%>{{/s}}", ERR_BAD_REQUEST, "line 3: section 's' is not closed");

	/* nesting bound */
	struct buf deep = BUF_INIT;
	for (int i = 0; i <= MUSTACHE_MAX_DEPTH; i++)
		buf_puts(&deep, "{{#a}}");
	for (int i = 0; i <= MUSTACHE_MAX_DEPTH; i++)
		buf_puts(&deep, "{{/a}}");
	expect_error(buf_cstr(&deep), ERR_BAD_REQUEST, "nested deeper than 64");
	buf_reset(&deep);
	for (int i = 0; i < MUSTACHE_MAX_DEPTH; i++)
		buf_puts(&deep, "{{#a}}");
	for (int i = 0; i < MUSTACHE_MAX_DEPTH; i++)
		buf_puts(&deep, "{{/a}}");
	struct arena a = ARENA_INIT;
	struct mustache_tpl *t;
	struct err e = {0};
	assert_int_equal(mustache_compile(&a, NULL, deep.ptr, deep.len, &t, &e), 0);
	assert_string_equal(mustache_tpl_name(t), "");

	/* size bound */
	char *big = calloc(MUSTACHE_MAX_SIZE + 1, 1);
	assert_non_null(big);
	memset(big, 'x', MUSTACHE_MAX_SIZE + 1);
	assert_int_equal(mustache_compile(&a, "big", big, MUSTACHE_MAX_SIZE + 1, &t, &e), ERR_TOO_LARGE);
	assert_int_equal(mustache_compile(&a, "big", big, MUSTACHE_MAX_SIZE, &t, &e), 0);
	free(big);
	arena_free(&a);
	buf_free(&deep);
}

static const char *render_one(struct arena *a, const char *src, const char *json, struct buf *out)
{
	struct err e = {0};
	struct mustache_tpl *t;
	json_t *data = NULL;
	assert_int_equal(mustache_compile(a, "t", src, strlen(src), &t, &e), 0);
	assert_int_equal(json_parse(json, strlen(json), &data, &e), 0);
	buf_reset(out);
	assert_int_equal(mustache_render(t, data, NULL, out, &e), 0);
	json_decref(data);
	return buf_cstr(out);
}

static void test_values(void **state)
{
	(void)state;
	struct arena a = ARENA_INIT;
	struct buf out = BUF_INIT;
	assert_string_equal(render_one(&a, "{{a}} {{b}} {{c}} {{d}} {{e}} {{f}} {{g}}",
				       "{\"a\":0.1,\"b\":-9007199254740993,\"c\":2.0,\"d\":false,\"e\":[1],\"f\":{},"
				       "\"g\":1e300}",
				       &out),
			    "0.1 -9007199254740993 2 false   1e+300");
	/* "" and 0 are truthy; null, false, [] and missing are falsey */
	assert_string_equal(render_one(&a, "{{#s}}S{{/s}}{{#z}}Z{{/z}}{{#n}}N{{/n}}{{#f}}F{{/f}}{{#l}}L{{/l}}{{#m}}M{{/m}}",
				       "{\"s\":\"\",\"z\":0,\"n\":null,\"f\":false,\"l\":[]}", &out),
			    "SZ");
	/* a string holding a NUL is written whole */
	struct mustache_tpl *t;
	struct err e = {0};
	assert_int_equal(mustache_compile(&a, "nul", "[{{{s}}}|{{s}}]", 15, &t, &e), 0);
	json_t *data = json_pack("{s:s#}", "s", "a\0<", (size_t)3);
	buf_reset(&out);
	assert_int_equal(mustache_render(t, data, NULL, &out, &e), 0);
	assert_int_equal(out.len, 12);
	assert_memory_equal(out.ptr, "[a\0<|a\0&lt;]", 12);
	json_decref(data);
	arena_free(&a);
	buf_free(&out);
}

static void test_vietnamese_escaping(void **state)
{
	(void)state;
	struct arena a = ARENA_INIT;
	struct buf out = BUF_INIT;
	const char *json = "{\"x\":\"Hồ sơ <Đăng ký kết hôn> & \\\"Thủ tục\\\" 'hành chính' Ưu tiên\"}";
	assert_string_equal(render_one(&a, "<p title=\"{{x}}\">{{x}}</p>", json, &out),
			    "<p title=\"Hồ sơ &lt;Đăng ký kết hôn&gt; &amp; &quot;Thủ tục&quot; 'hành chính' Ưu tiên\">"
			    "Hồ sơ &lt;Đăng ký kết hôn&gt; &amp; &quot;Thủ tục&quot; 'hành chính' Ưu tiên</p>");
	assert_true(utf8_valid(out.ptr, out.len));
	assert_string_equal(render_one(&a, "{{{x}}}|{{&x}}", json, &out),
			    "Hồ sơ <Đăng ký kết hôn> & \"Thủ tục\" 'hành chính' Ưu tiên|"
			    "Hồ sơ <Đăng ký kết hôn> & \"Thủ tục\" 'hành chính' Ưu tiên");
	/* UTF-8 in the template text and in key names passes through too */
	assert_string_equal(render_one(&a, "Xin chào {{tên}}!", "{\"tên\":\"Nguyễn Thị Ánh\"}", &out),
			    "Xin chào Nguyễn Thị Ánh!");
	arena_free(&a);
	buf_free(&out);
}

static void test_partial_depth(void **state)
{
	(void)state;
	struct arena a = ARENA_INIT;
	struct err e = {0};
	struct buf out = BUF_INIT;
	struct mustache_set *s = mustache_set_new(&a);
	const char *loop = "x{{>loop}}";
	assert_int_equal(mustache_set_add(s, "loop", loop, strlen(loop), &e), 0);
	buf_puts(&out, "keep");
	assert_int_equal(mustache_set_render(s, "loop", NULL, &out, &e), ERR_INTERNAL);
	assert_non_null(strstr(e.msg, "partials nested deeper than 64"));
	assert_string_equal(buf_cstr(&out), "keep"); /* output restored on error */

	/* p0 -> p1 -> ... -> p65 (p66 is missing, so empty). From p1, 64 partials
	 * nest (p2 .. p65): the bound itself renders; from p0 it is one too many. */
	char name[16], src[64];
	for (int i = 0; i <= MUSTACHE_MAX_PARTIAL_DEPTH + 1; i++) {
		snprintf(name, sizeof name, "p%d", i);
		snprintf(src, sizeof src, "%d{{>p%d}}", i % 10, i + 1);
		assert_int_equal(mustache_set_add(s, name, src, strlen(src), &e), 0);
	}
	buf_reset(&out);
	assert_int_equal(mustache_set_render(s, "p1", NULL, &out, &e), 0);
	assert_int_equal(out.len, MUSTACHE_MAX_PARTIAL_DEPTH + 1);
	assert_int_equal(memcmp(out.ptr, "1234567890", 10), 0);
	buf_reset(&out);
	assert_int_equal(mustache_set_render(s, "p0", NULL, &out, &e), ERR_INTERNAL);
	assert_non_null(strstr(e.msg, "at 'p65' in template 'p64', line 1"));
	assert_int_equal(out.len, 0);

	/* Recursion that ends with the data is fine. A leaf needs "kids": [], or
	 * {{#kids}} finds its parent's kids up the context stack and recursion
	 * never ends: that is the bound's job to stop. */
	const char *tree = "{{name}}({{#kids}}{{>tree}}{{/kids}})";
	assert_int_equal(mustache_set_add(s, "tree", tree, strlen(tree), &e), 0);
	json_t *data = json_pack("{s:s,s:[{s:s,s:[{s:s,s:[]}]},{s:s,s:[]}]}", "name", "a", "kids", "name", "b", "kids",
				 "name", "c", "kids", "name", "d", "kids");
	assert_non_null(data);
	buf_reset(&out);
	assert_int_equal(mustache_set_render(s, "tree", data, &out, &e), 0);
	assert_string_equal(buf_cstr(&out), "a(b(c())d())");
	json_decref(data);
	data = json_pack("{s:s,s:[{s:s}]}", "name", "a", "kids", "name", "b");
	assert_int_equal(mustache_set_render(s, "tree", data, &out, &e), ERR_INTERNAL);
	assert_string_equal(buf_cstr(&out), "a(b(c())d())");
	json_decref(data);

	assert_int_equal(mustache_set_render(s, "nope", NULL, &out, &e), ERR_NOT_FOUND);
	assert_int_equal(mustache_set_add(s, "tree", "", 0, &e), ERR_CONFLICT);
	assert_int_equal(mustache_set_add(s, "a b", "", 0, &e), ERR_BAD_REQUEST);
	assert_int_equal(mustache_set_add(s, "", "", 0, &e), ERR_BAD_REQUEST);
	buf_free(&out);
	arena_free(&a);
}

static void test_partial_indentation(void **state)
{
	(void)state;
	struct arena a = ARENA_INIT;
	struct err e = {0};
	struct buf out = BUF_INIT;
	struct mustache_set *s = mustache_set_new(&a);
	const char *page = "<body>\n  {{>list}}\n</body>\n";
	const char *list = "<ul>\n{{#items}}\n  {{>item}}\n{{/items}}\n</ul>\n";
	const char *item = "<li>\n  {{.}}\n</li>\n";
	assert_int_equal(mustache_set_add(s, "page", page, strlen(page), &e), 0);
	assert_int_equal(mustache_set_add(s, "list", list, strlen(list), &e), 0);
	assert_int_equal(mustache_set_add(s, "item", item, strlen(item), &e), 0);
	json_t *data = json_pack("{s:[s,s]}", "items", "a\nb", "c");
	assert_int_equal(mustache_set_render(s, "page", data, &out, &e), 0);
	assert_string_equal(buf_cstr(&out), "<body>\n"
					    "  <ul>\n"
					    "    <li>\n"
					    "      a\nb\n" /* data is not indented */
					    "    </li>\n"
					    "    <li>\n"
					    "      c\n"
					    "    </li>\n"
					    "  </ul>\n"
					    "</body>\n");
	json_decref(data);
	buf_free(&out);
	arena_free(&a);
}

/* ---- concurrency ---- */

struct shared {
	const struct mustache_tpl *t;
	const json_t *data;
	const struct mustache_partials *partials;
	const char *want;
	int mismatches;
};

static void *render_many(void *arg)
{
	struct shared *sh = arg;
	struct buf out = BUF_INIT;
	int bad = 0;
	for (int i = 0; i < 300; i++) {
		buf_reset(&out);
		if (mustache_render(sh->t, sh->data, sh->partials, &out, NULL) != 0 || strcmp(out.ptr, sh->want) != 0)
			bad++;
	}
	buf_free(&out);
	__atomic_add_fetch(&sh->mismatches, bad, __ATOMIC_SEQ_CST);
	return NULL;
}

static void test_concurrent(void **state)
{
	(void)state;
	struct arena a = ARENA_INIT;
	struct err e = {0};
	struct mustache_set *s = mustache_set_new(&a);
	const char *row = "  <tr><td>{{id}}</td><td>{{name}}</td><td>{{#tags}}[{{.}}]{{/tags}}{{^tags}}-{{/tags}}</td></tr>\n";
	const char *page = "<h1>{{title}}</h1>\n<table>\n{{#rows}}\n{{>row}}\n{{/rows}}\n</table>\n{{=<% %>=}}<%total%>\n";
	assert_int_equal(mustache_set_add(s, "row", row, strlen(row), &e), 0);
	assert_int_equal(mustache_set_add(s, "page", page, strlen(page), &e), 0);

	json_t *rows = json_array();
	for (int i = 0; i < 200; i++) {
		json_t *tags = json_array();
		for (int k = 0; k < i % 4; k++)
			json_array_append_new(tags, json_sprintf("t%d", k));
		json_array_append_new(rows, json_pack("{s:i,s:s,s:o}", "id", i, "name", "Hồ sơ <số> & \"mẫu\"", "tags", tags));
	}
	json_t *data = json_pack("{s:s,s:o,s:f}", "title", "Danh sách hồ sơ", "rows", rows, "total", 12.5);

	struct buf want = BUF_INIT;
	struct mustache_partials p = mustache_set_partials(s);
	const struct mustache_tpl *t = mustache_set_find(s, "page", 4);
	assert_non_null(t);
	assert_int_equal(mustache_render(t, data, &p, &want, &e), 0);
	assert_non_null(strstr(want.ptr, "  <tr><td>3</td><td>Hồ sơ &lt;số&gt; &amp; &quot;mẫu&quot;</td><td>[t0][t1][t2]</td></tr>\n"));
	assert_non_null(strstr(want.ptr, "<td>-</td>"));
	assert_non_null(strstr(want.ptr, "</table>\n12.5\n"));

	struct shared sh = {t, data, &p, want.ptr, 0};
	pthread_t th[4];
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&th[i], NULL, render_many, &sh), 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	assert_int_equal(sh.mismatches, 0);
	json_decref(data);
	buf_free(&want);
	arena_free(&a);
}

/* ---- directory loading ---- */

static void write_file(const char *dir, const char *name, const char *body)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	fputs(body, f);
	fclose(f);
}

static void remove_dir(const char *dir, const char *const *names, size_t n)
{
	char path[512];
	for (size_t i = 0; i < n; i++) {
		snprintf(path, sizeof path, "%s/%s", dir, names[i]);
		unlink(path);
	}
	rmdir(dir);
}

static void test_load_dir(void **state)
{
	(void)state;
	char dir[] = "/tmp/tinhso-mustache-XXXXXX";
	assert_non_null(mkdtemp(dir));
	static const char *const files[] = {"header.mustache", "page.mustache", ".hidden.mustache", "notes.txt",
					    "broken.mustache"};
	write_file(dir, files[0], "<header>{{title}}</header>\n");
	write_file(dir, files[1], "{{>header}}\n<main>{{body}}</main>\n");
	write_file(dir, files[2], "{{#never");
	write_file(dir, files[3], "{{#never");

	struct arena a = ARENA_INIT;
	struct err e = {0};
	struct mustache_set *s = mustache_set_new(&a);
	assert_int_equal(mustache_set_load_dir(s, dir, &e), 0);
	assert_int_equal(mustache_set_count(s), 2);
	json_t *data = json_pack("{s:s,s:s}", "title", "Cổng dịch vụ công", "body", "<b>");
	struct buf out = BUF_INIT;
	assert_int_equal(mustache_set_render(s, "page", data, &out, &e), 0);
	assert_string_equal(buf_cstr(&out), "<header>Cổng dịch vụ công</header>\n<main>&lt;b&gt;</main>\n");
	json_decref(data);

	write_file(dir, files[4], "ok\n{{#a}}\n{{/b}}\n");
	struct mustache_set *s2 = mustache_set_new(&a);
	assert_int_equal(mustache_set_load_dir(s2, dir, &e), ERR_CONFIG);
	assert_non_null(strstr(e.msg, "broken.mustache, line 3: closing tag 'b' does not match section 'a'"));

	assert_int_equal(mustache_set_load_dir(s2, "/nonexistent/tinhso", &e), ERR_CONFIG);
	remove_dir(dir, files, sizeof files / sizeof files[0]);
	buf_free(&out);
	arena_free(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spec),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_vietnamese_escaping),
		cmocka_unit_test(test_partial_depth),
		cmocka_unit_test(test_partial_indentation),
		cmocka_unit_test(test_concurrent),
		cmocka_unit_test(test_load_dir),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
