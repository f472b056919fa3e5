/* test_base.c: the base layer: buffers, UTF-8, JSON in and out, time, text
 * folding, the error table and the settings table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "base/arena.h"
#include "base/buf.h"
#include "base/config.h"
#include "base/err.h"
#include "base/json.h"
#include "base/text.h"
#include "base/time.h"

static void test_buf(void **state)
{
	struct buf b = BUF_INIT;
	assert_string_equal(buf_cstr(&b), "");
	for (int i = 0; i < 1000; i++)
		buf_printf(&b, "%d,", i);
	assert_true(b.len > 3000);
	assert_memory_equal(b.ptr, "0,1,2,", 6);
	buf_reset(&b);
	buf_hex(&b, (const unsigned char *)"\x00\xff\x10", 3);
	assert_string_equal(b.ptr, "00ff10");
	buf_reset(&b);
	const int64_t ints[] = {0, 7, -7, 1000000, INT64_MAX, INT64_MIN};
	for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
		buf_put_int(&b, ints[i]);
		buf_putc(&b, ' ');
	}
	assert_string_equal(b.ptr, "0 7 -7 1000000 9223372036854775807 -9223372036854775808 ");
	buf_free(&b);
	char small[4];
	assert_false(str_copy(small, sizeof small, "hello"));
	assert_string_equal(small, "hel");
	assert_true(str_copy(small, sizeof small, "hi"));
}

static void test_utf8(void **state)
{
	assert_true(utf8_valid("Hải Dương", strlen("Hải Dương")));
	assert_true(utf8_valid("", 0));
	assert_false(utf8_valid("\xff", 1));
	assert_false(utf8_valid("\xc0\xaf", 2));	      /* overlong '/' */
	assert_false(utf8_valid("\xed\xa0\x80", 3));	      /* surrogate */
	assert_false(utf8_valid("\xf4\x90\x80\x80", 4));      /* > U+10FFFF */
	assert_false(utf8_valid("\xe1\xba", 2));	      /* truncated */
	assert_true(utf8_valid("\xf0\x9f\x98\x80", 4));	      /* emoji */
}

static void test_arena(void **state)
{
	struct arena a = ARENA_INIT;
	char *s = arena_printf(&a, "%s-%d", "x", 42);
	assert_string_equal(s, "x-42");
	void *big = arena_alloc(&a, 100000);
	memset(big, 1, 100000);
	char *t = arena_strndup(&a, "abcdef", 3);
	assert_string_equal(t, "abc");
	assert_true(((uintptr_t)arena_alloc(&a, 3) & 15) == 0);
	arena_free(&a);
}

static void test_json_writer(void **state)
{
	struct buf b = BUF_INIT;
	struct jw w;
	jw_init(&w, &b);
	jw_obj(&w);
	jw_kstr(&w, "name", "Hải \"Dương\"\n\x01");
	jw_kint(&w, "n", -9007199254740993LL);
	jw_key(&w, "list");
	jw_arr(&w);
	jw_int(&w, 1);
	jw_bool(&w, true);
	jw_null(&w);
	jw_str(&w, NULL);
	jw_arr_end(&w);
	jw_key(&w, "empty");
	jw_obj(&w);
	jw_obj_end(&w);
	jw_obj_end(&w);
	assert_string_equal(b.ptr, "{\"name\":\"Hải \\\"Dương\\\"\\n\\u0001\",\"n\":-9007199254740993,"
				   "\"list\":[1,true,null,null],\"empty\":{}}");
	/* what the writer writes, the reader reads */
	json_t *j;
	struct err e = {0};
	assert_int_equal(json_parse(b.ptr, b.len, &j, &e), 0);
	assert_int_equal(json_integer_value(json_object_get(j, "n")), -9007199254740993LL);
	json_decref(j);
	buf_free(&b);
}

static void test_json_reader_rejects(void **state)
{
	json_t *j;
	struct err e = {0};
	assert_int_equal(json_parse("{\"a\":1,\"a\":2}", 13, &j, &e), ERR_BAD_REQUEST);
	err_clear(&e);
	assert_int_equal(json_parse("{\"a\":\"\xff\"}", 9, &j, &e), ERR_BAD_REQUEST);
	assert_non_null(strstr(e.msg, "UTF-8"));
	err_clear(&e);
	char deep[200];
	memset(deep, '[', 100);
	memset(deep + 100, ']', 100);
	assert_int_equal(json_parse(deep, 200, &j, &e), ERR_BAD_REQUEST);
	assert_non_null(strstr(e.msg, "deeper"));
	err_clear(&e);
	assert_int_equal(json_parse("{} x", 4, &j, &e), ERR_BAD_REQUEST);
	err_clear(&e);
	assert_int_equal(json_parse("", 0, &j, &e), ERR_BAD_REQUEST);
	/* brackets inside strings do not count towards depth */
	err_clear(&e);
	assert_int_equal(json_parse("{\"a\":\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"}", 48, &j, &e), 0);
	json_decref(j);
}

static void test_json_decode(void **state)
{
	struct arena a = ARENA_INIT;
	struct err e = {0};
	json_t *j;
	const char *doc = "{\"name\":\"Sở Y tế\",\"count\":\"7\",\"extra\":1,\"flag\":true}";
	assert_int_equal(json_parse(doc, strlen(doc), &j, &e), 0);
	const char *name = NULL, *code = NULL;
	int64_t count = 0;
	bool flag = false, flag_present = false;
	const struct jfield f[] = {
		{"name", JF_STR, true, 100, &name, NULL},   {"code", JF_STR, true, 13, &code, NULL},
		{"count", JF_INT, false, 0, &count, NULL},  {"flag", JF_BOOL, false, 0, &flag, &flag_present},
	};
	assert_int_equal(json_decode(j, f, 4, &a, &e), ERR_INVALID);
	assert_int_equal(e.nfields, 3); /* extra unknown, code missing, count wrong type */
	bool seen[3] = {false, false, false};
	for (int i = 0; i < e.nfields; i++) {
		if (!strcmp(e.fields[i].name, "extra"))
			seen[0] = true;
		if (!strcmp(e.fields[i].name, "code"))
			seen[1] = true;
		if (!strcmp(e.fields[i].name, "count"))
			seen[2] = true;
	}
	assert_true(seen[0] && seen[1] && seen[2]);
	assert_string_equal(name, "Sở Y tế");
	assert_true(flag && flag_present);
	json_decref(j);
	arena_free(&a);
}

static void test_time(void **state)
{
	char out[48];
	time_fmt_rfc3339(0, out, sizeof out);
	assert_string_equal(out, "1970-01-01T07:00:00+07:00");
	int64_t us;
	assert_true(time_parse_rfc3339("2025-03-14T09:30:00+07:00", &us));
	time_fmt_rfc3339(us, out, sizeof out);
	assert_string_equal(out, "2025-03-14T09:30:00+07:00");
	assert_true(time_parse_rfc3339("2025-03-14T02:30:00.5Z", &us));
	time_fmt_rfc3339(us, out, sizeof out);
	assert_string_equal(out, "2025-03-14T09:30:00.500000+07:00");
	assert_true(time_parse_rfc3339("2024-12-31T23:59:59+07:00", &us));
	time_fmt_rfc3339(us + 1000000, out, sizeof out);
	assert_string_equal(out, "2025-01-01T00:00:00+07:00");
	assert_false(time_parse_rfc3339("2025-02-29T00:00:00Z", &us));
	assert_false(time_parse_rfc3339("2025-03-14 09:30", &us));
	assert_false(time_parse_rfc3339("2025-03-14T09:30:00", &us));
	int32_t d;
	assert_true(date_parse("2024-02-29", &d));
	date_fmt(d + 1, out, sizeof out);
	assert_string_equal(out, "2024-03-01");
	assert_false(date_parse("2023-02-29", &d));
	assert_false(date_parse("2023-13-01", &d));
	assert_int_equal(days_from_civil(1970, 1, 1), 0);
	/* out-of-range instants are clamped, never overflow (found by fuzz_route) */
	time_fmt_rfc3339(INT64_MIN, out, sizeof out);
	assert_string_equal(out, "0001-01-01T07:00:00+07:00");
	time_fmt_rfc3339(INT64_MAX, out, sizeof out);
	assert_string_equal(out, "9999-12-31T23:59:59+07:00");
	/* zero padding of every field, fractions of a second, a short buffer */
	assert_true(time_parse_rfc3339("2007-06-05T04:03:02.000001+07:00", &us));
	time_fmt_rfc3339(us, out, sizeof out);
	assert_string_equal(out, "2007-06-05T04:03:02.000001+07:00");
	char shortbuf[11];
	time_fmt_rfc3339(0, shortbuf, sizeof shortbuf);
	assert_string_equal(shortbuf, "1970-01-01");
}

static void test_text_fold(void **state)
{
	struct buf b = BUF_INIT;
	text_fold("Ủy ban nhân dân  phường TRẦN HƯNG ĐẠO", &b);
	assert_string_equal(b.ptr, "uy ban nhan dan phuong tran hung dao");
	buf_reset(&b);
	text_fold("Sở Văn hóa, Thể thao và Du lịch", &b);
	assert_string_equal(b.ptr, "so van hoa, the thao va du lich");
	buf_free(&b);
	assert_true(text_valid("Hải Dương", 100));
	assert_false(text_valid("a\nb", 100));
	assert_false(text_valid("", 100));
	assert_false(text_valid("abcdef", 3));
	assert_true(text_digits("030095001234", 12));
	assert_false(text_digits("03009500123a", 12));
}

static void test_err_table(void **state)
{
	assert_int_equal(err_http_status(ERR_NOT_FOUND), 404);
	assert_int_equal(err_http_status(ERR_INVALID_TRANSITION), 409);
	assert_string_equal(err_name(ERR_INVALID_TRANSITION), "invalid_transition");
	assert_int_equal(err_http_status(ERR_INVALID), 422);
	assert_int_equal(err_http_status(ERR_RATE_LIMITED), 429);
	assert_int_equal(err_http_status(ERR_HEADERS_TOO_LARGE), 431);
	assert_int_equal(err_http_status(-999), 500);
	assert_int_equal(err_exit_code(ERR_CONFIG), 78);
	assert_int_equal(err_exit_code(ERR_USAGE), 64);
	assert_int_equal(err_exit_code(ERR_UNAVAILABLE), 69);
	for (int c = ERR_CODE_MIN; c <= 0; c++)
		assert_non_null(err_name(c));
	struct err e = {0};
	err_field(&e, "a", "bad %d", 1);
	assert_int_equal(err_fields_done(&e), ERR_INVALID);
	assert_non_null(strstr(e.msg, "'a'"));
}

static void test_config(void **state)
{
	struct config c;
	struct err e = {0};
	config_defaults(&c);
	assert_string_equal(c.listen, "127.0.0.1:8080");
	assert_int_equal(c.workers, 64);
	assert_int_equal(config_set(&c, "max-body", "4096", &e), 0);
	assert_int_equal(c.max_body, 4096);
	assert_int_equal(config_set(&c, "max_body", "1", &e), ERR_CONFIG);
	assert_non_null(strstr(e.msg, "max_body"));
	err_clear(&e);
	assert_int_equal(config_set(&c, "nope", "1", &e), ERR_USAGE);
	err_clear(&e);
	assert_int_equal(config_set(&c, "demo", "maybe", &e), ERR_CONFIG);
	err_clear(&e);
	setenv("TINHSO_LISTEN", "[::1]:9000", 1);
	assert_int_equal(config_load_env(&c, &e), 0);
	unsetenv("TINHSO_LISTEN");
	char host[64];
	int port;
	assert_true(config_parse_listen(c.listen, host, &port));
	assert_string_equal(host, "::1");
	assert_int_equal(port, 9000);
	assert_false(config_parse_listen("localhost", host, &port));
	assert_false(config_parse_listen("a:99999", host, &port));
	assert_int_equal(config_check(&c, &e), 0);
	config_set(&c, "levels", "province, commune", &e);
	char lv[8][32];
	assert_int_equal(config_levels(&c, lv, 8), 2);
	assert_string_equal(lv[1], "commune");
	config_set(&c, "levels", "province,Province2", &e);
	assert_int_equal(config_check(&c, &e), ERR_CONFIG);
	config_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buf),	    cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_arena),	    cmocka_unit_test(test_json_writer),
		cmocka_unit_test(test_json_reader_rejects), cmocka_unit_test(test_json_decode),
		cmocka_unit_test(test_time),	    cmocka_unit_test(test_text_fold),
		cmocka_unit_test(test_err_table),   cmocka_unit_test(test_config),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
