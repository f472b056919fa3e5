/* test_web.c: the pages' pure helpers: how a procedure's questions are split
 * into pages, how what was typed becomes the form the domain checks (dates
 * from three boxes, numbers with Vietnamese separators, phone numbers with
 * spaces, addresses), and that every template of web/templates compiles and
 * renders, and the two catalogs hold the same keys. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/arena.h"
#include "base/json.h"
#include "web/mustache.h"
#include "web/web_view.h"

static struct proc_field field(const char *name, enum proc_field_type t)
{
	struct proc_field f = {0};
	f.name = (char *)name;
	f.label = (char *)name;
	f.type = t;
	f.required = true;
	return f;
}

static void pages_of(struct proc_field *fields, int n, const int *want, int nwant)
{
	struct procedure p = {0};
	p.fields = fields;
	p.nfields = n;
	int starts[33];
	int got = form_pages(&p, starts, 32);
	assert_int_equal(got, nwant);
	for (int i = 0; i < nwant; i++)
		assert_int_equal(starts[i], want[i]);
	assert_int_equal(starts[got], n);
}

static void test_form_pages(void **state)
{
	(void)state;
	/* birth registration: the child's six answers, the parents with the phone, the address */
	struct proc_field birth[] = {
		field("child_full_name", PF_TEXT),   field("child_birth_date", PF_DATE), field("child_gender", PF_SELECT),
		field("child_birth_place", PF_TEXT), field("child_ethnicity", PF_TEXT),	 field("child_nationality", PF_SELECT),
		field("mother_full_name", PF_TEXT),  field("mother_id_number", PF_CCCD), field("father_full_name", PF_TEXT),
		field("father_id_number", PF_CCCD),  field("applicant_phone", PF_PHONE), field("residence_address", PF_ADDRESS),
	};
	pages_of(birth, 12, (const int[]){0, 6, 11}, 3);
	/* marriage: each party on its own page */
	struct proc_field marriage[] = {
		field("groom_full_name", PF_TEXT), field("groom_birth_date", PF_DATE), field("groom_id_number", PF_CCCD),
		field("bride_full_name", PF_TEXT), field("bride_birth_date", PF_DATE), field("bride_id_number", PF_CCCD),
		field("applicant_phone", PF_PHONE),
	};
	pages_of(marriage, 7, (const int[]){0, 3}, 2);
	/* a few unrelated questions: one page */
	struct proc_field few[] = {field("village", PF_TEXT), field("proposer_name", PF_TEXT), field("households", PF_NUMBER),
				   field("year", PF_NUMBER), field("applicant_phone", PF_PHONE)};
	pages_of(few, 5, (const int[]){0}, 1);
	/* a long run of one group is split */
	struct proc_field longrun[9];
	static const char *const names[] = {"a_1", "a_2", "a_3", "a_4", "a_5", "a_6", "a_7", "a_8", "a_9"};
	for (int i = 0; i < 9; i++)
		longrun[i] = field(names[i], PF_TEXT);
	pages_of(longrun, 9, (const int[]){0, 6}, 2);
	/* no questions: no pages */
	pages_of(NULL, 0, NULL, 0);
}

static void test_form_build(void **state)
{
	(void)state;
	struct proc_field f[] = {
		field("born", PF_DATE),	      field("bad_date", PF_DATE), field("capital", PF_NUMBER), field("area", PF_NUMBER),
		field("words", PF_NUMBER),    field("phone", PF_PHONE),	  field("id", PF_CCCD),	       field("home", PF_ADDRESS),
		field("nothing", PF_TEXT),    field("name", PF_TEXT),
	};
	struct procedure p = {0};
	p.fields = f;
	p.nfields = 10;
	json_t *answers = json_pack(
		"{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "f.born.day", "5",
		"f.born.month", "3", "f.born.year", "2025", "f.bad_date.day", "31", "f.bad_date.month", "x",
		"f.bad_date.year", "2025", "f.capital", "1.500.000", "f.area", "12,5", "f.words", "mười", "f.phone",
		"0912 345 678", "f.id", "030.095.001.234", "f.home.commune", "000.08.31.H23", "f.home.detail",
		"Số 5 phố Trần Hưng Đạo", "f.nothing", "", "f.name", "Nguyễn Văn An");
	json_t *form = form_build(&p, answers);
	assert_string_equal(json_string_value(json_object_get(form, "born")), "2025-03-05");
	assert_string_equal(json_string_value(json_object_get(form, "bad_date")), "31/x/2025"); /* the domain names it */
	assert_int_equal(json_integer_value(json_object_get(form, "capital")), 1500000);
	assert_true(json_is_real(json_object_get(form, "area")));
	assert_true(json_real_value(json_object_get(form, "area")) == 12.5);
	assert_string_equal(json_string_value(json_object_get(form, "words")), "mười");
	assert_string_equal(json_string_value(json_object_get(form, "phone")), "0912345678");
	assert_string_equal(json_string_value(json_object_get(form, "id")), "030095001234");
	json_t *home = json_object_get(form, "home");
	assert_string_equal(json_string_value(json_object_get(home, "commune")), "000.08.31.H23");
	assert_string_equal(json_string_value(json_object_get(home, "detail")), "Số 5 phố Trần Hưng Đạo");
	assert_null(json_object_get(form, "nothing"));
	assert_string_equal(json_string_value(json_object_get(form, "name")), "Nguyễn Văn An");
	json_decref(form);
	json_decref(answers);
}

static void web_dir(struct buf *b, const char *sub)
{
	const char *root = getenv("TINHSO_SOURCE_DIR");
	buf_printf(b, "%s/web/%s", root && *root ? root : ".", sub);
}

static void test_templates_render(void **state)
{
	(void)state;
	struct arena a = ARENA_INIT;
	struct mustache_set *s = mustache_set_new(&a);
	struct buf dir = BUF_INIT;
	web_dir(&dir, "templates");
	struct err e = {0};
	assert_int_equal(mustache_set_load_dir(s, dir.ptr, &e), 0);
	assert_true(mustache_set_count(s) >= 30);
	assert_non_null(mustache_set_find(s, "layout", 6));
	/* every template renders with nothing in it (no runaway partials) */
	static const char *const names[] = {"layout", "home", "procedures", "procedure", "login", "register", "lookup",
					    "my_dossiers", "dossier", "apply_start", "apply_agency", "apply_questions",
					    "apply_documents", "apply_check", "apply_done", "office_worklist",
					    "office_dossier", "office_intake", "office_stats", "admin_procedure", "error"};
	json_t *empty = json_object();
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		struct buf out = BUF_INIT;
		assert_int_equal(mustache_set_render(s, names[i], empty, &out, &e), 0);
		buf_free(&out);
	}
	/* a field's text is escaped, Vietnamese kept */
	json_t *d = json_pack("{s:[{s:b, s:s, s:s, s:s, s:s, s:n, s:n}]}", "fields", "is_text", 1, "id", "f-x", "name",
			      "f.x", "label", "Họ và tên", "value", "<b>Ánh</b> & \"Em\"", "error", "hint");
	struct buf out = BUF_INIT;
	const struct mustache_tpl *t = NULL;
	assert_int_equal(mustache_compile(&a, "t", "{{#fields}}{{> field}}{{/fields}}", 33, (struct mustache_tpl **)&t, &e), 0);
	struct mustache_partials parts = mustache_set_partials(s);
	assert_int_equal(mustache_render(t, d, &parts, &out, &e), 0);
	assert_non_null(strstr(out.ptr, "value=\"&lt;b&gt;Ánh&lt;/b&gt; &amp; &quot;Em&quot;\""));
	assert_non_null(strstr(out.ptr, "<label class=\"label\" for=\"f-x\">Họ và tên"));
	assert_null(strstr(out.ptr, "error-message"));
	buf_free(&out);
	json_decref(d);
	json_decref(empty);
	buf_free(&dir);
	arena_free(&a);
}

static void keys(json_t *o, const char *prefix, json_t *out)
{
	const char *k;
	json_t *v;
	json_object_foreach(o, k, v)
	{
		char path[256];
		snprintf(path, sizeof path, "%s%s", prefix, k);
		if (json_is_object(v)) {
			char sub[260];
			snprintf(sub, sizeof sub, "%s.", path);
			keys(v, sub, out);
		} else {
			json_object_set_new(out, path, json_true());
		}
	}
}

static void test_catalogs(void **state)
{
	(void)state;
	json_t *k[2];
	const char *langs[2] = {"vi", "en"};
	for (int i = 0; i < 2; i++) {
		struct buf p = BUF_INIT;
		web_dir(&p, "i18n/");
		buf_printf(&p, "%s/web.json", langs[i]);
		json_error_t je;
		json_t *cat = json_load_file(p.ptr, JSON_REJECT_DUPLICATES, &je);
		assert_non_null(cat);
		k[i] = json_object();
		keys(cat, "", k[i]);
		json_decref(cat);
		buf_free(&p);
	}
	const char *key;
	json_t *v;
	json_object_foreach(k[0], key, v)
	{
		if (!json_object_get(k[1], key))
			fail_msg("en/web.json lacks %s", key);
	}
	json_object_foreach(k[1], key, v)
	{
		if (!json_object_get(k[0], key))
			fail_msg("vi/web.json lacks %s", key);
	}
	json_decref(k[0]);
	json_decref(k[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_form_pages),
		cmocka_unit_test(test_form_build),
		cmocka_unit_test(test_templates_render),
		cmocka_unit_test(test_catalogs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
