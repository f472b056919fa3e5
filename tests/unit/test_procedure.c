/* test_procedure.c: the procedure catalogue and the calendar store against a
 * temporary SQLite database opened the way the server opens it (app_open),
 * with the demo agencies loaded. Covers: every demo procedure parses; each
 * document rule is caught and named by its path; create, replace, get, lists,
 * search and the fields view, with authority checks and audit entries;
 * import/export round trip and all-or-nothing import; the demo catalogue in
 * the three-level and the two-level (2025) configurations; the calendar
 * store: demo holidays, reload, admin changes, and due dates over Tết 2025
 * and 2026 from the database's data. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agency/agency.h"
#include "app/app.h"
#include "base/config.h"
#include "base/embed.h"
#include "base/json.h"
#include "base/time.h"
#include "calendar/calendar_store.h"
#include "crypto/crypto.h"
#include "identity/identity.h"
#include "procedure/procedure.h"
#include "store/store.h"
#include "support/testapp.h"

struct fx {
	struct testapp t;
	struct ctx c;
	json_t *demo; /* data/demo/procedures.json */
};

static const struct principal official = {.user_id = 7, .username = "canbo", .role = ROLE_OFFICIAL};
static const struct principal admin_user = {.user_id = 1, .username = "admin", .role = ROLE_ADMIN};

static int open_fx(void **state, const char *levels)
{
	struct fx *f = calloc(1, sizeof *f);
	assert_non_null(f);
	testapp_init(&f->t, "procedure", false);
	if (levels)
		testapp_set(&f->t, "levels", levels);
	testapp_open(&f->t);
	struct err e = {0};
	f->c.app = &f->t.app;
	f->c.a = &f->t.a;
	f->c.who = &principal_cli;
	f->c.actor = "cli:test";
	if (agency_load_demo(&f->c, &e) <= 0)
		fail_msg("agency_load_demo: %s", e.msg);
	const struct embedded_file *demo = embed_find(embedded_demo, "procedures.json");
	assert_non_null(demo);
	assert_int_equal(json_parse(demo->data, demo->len, &f->demo, &e), 0);
	assert_true(json_is_array(f->demo));
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return open_fx(state, NULL);
}
static int setup_two_levels(void **state)
{
	return open_fx(state, "province,commune");
}

static int teardown(void **state)
{
	struct fx *f = *state;
	json_decref(f->demo);
	calendar_store_release(&f->t.app);
	testapp_close(&f->t);
	free(f);
	return 0;
}

/* ---- helpers ---- */

struct sql_int {
	const char *sql;
	const char *arg;
	int64_t value;
};

static int sql_int_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct sql_int *s = arg;
	int rc = store_get_int(tx, s->sql, ARGS(SA_TEXT(s->arg)), &s->value, e);
	return rc < 0 ? rc : 0;
}

/* A count with one text parameter $1. */
static int64_t count(struct fx *f, const char *sql, const char *arg)
{
	struct sql_int s = {sql, arg, -1};
	struct err e = {0};
	if (store_read(f->t.app.db, sql_int_fn, &s, &e) < 0)
		fail_msg("%s: %s", sql, e.msg);
	return s.value;
}

static int64_t audits(struct fx *f, const char *action)
{
	return count(f, "SELECT count(*) FROM audit_log WHERE action = $1", action);
}

static bool has_field(const struct err *e, const char *name)
{
	for (int i = 0; i < e->nfields; i++)
		if (strcmp(e->fields[i].name, name) == 0)
			return true;
	return false;
}

static void print_fields(const struct err *e)
{
	for (int i = 0; i < e->nfields; i++)
		print_message("  %s: %s\n", e->fields[i].name, e->fields[i].msg);
}

/* A copy of the demo procedure with that code. */
static json_t *demo_doc(struct fx *f, const char *code)
{
	for (size_t i = 0; i < json_array_size(f->demo); i++) {
		json_t *it = json_array_get(f->demo, i);
		if (strcmp(json_string_value(json_object_get(it, "code")), code) == 0)
			return json_deep_copy(it);
	}
	fail_msg("no demo procedure %s", code);
	return NULL;
}

/* The node at a dotted path ("workflow.2.share"): parent and last key. */
static json_t *walk(json_t *root, const char *path, char *last, size_t cap)
{
	char buf[128];
	snprintf(buf, sizeof buf, "%s", path);
	json_t *cur = root;
	char *seg = buf;
	for (;;) {
		char *dot = strchr(seg, '.');
		if (!dot) {
			snprintf(last, cap, "%s", seg);
			return cur;
		}
		*dot = 0;
		cur = json_is_array(cur) ? json_array_get(cur, (size_t)atoi(seg)) : json_object_get(cur, seg);
		assert_non_null(cur);
		seg = dot + 1;
	}
}

/* Sets (value JSON text) or, with value NULL, deletes the node at path. */
static void patch(json_t *root, const char *path, const char *value)
{
	char last[64];
	json_t *parent = walk(root, path, last, sizeof last);
	if (!value) {
		if (json_is_array(parent))
			assert_int_equal(json_array_remove(parent, (size_t)atoi(last)), 0);
		else
			assert_int_equal(json_object_del(parent, last), 0);
		return;
	}
	json_error_t je;
	json_t *v = json_loads(value, JSON_DECODE_ANY, &je);
	if (!v)
		fail_msg("bad test value %s: %s", value, je.text);
	if (json_is_array(parent))
		assert_int_equal(json_array_set_new(parent, (size_t)atoi(last), v), 0);
	else
		assert_int_equal(json_object_set_new(parent, last, v), 0);
}

/* ---- parsing ---- */

static void test_parse_demo(void **state)
{
	struct fx *f = *state;
	size_t i;
	json_t *it;
	int districts = 0, departments = 0;
	json_array_foreach(f->demo, i, it)
	{
		struct procedure p;
		struct err e = {0};
		int rc = procedure_parse(&f->c, it, &p, &e);
		if (rc != 0) {
			print_fields(&e);
			fail_msg("demo procedure #%zu: %s", i, e.msg);
		}
		/* the stored form is canonical: parsing it again gives the same bytes */
		json_t *again;
		assert_int_equal(json_parse(p.doc, strlen(p.doc), &again, &e), 0);
		assert_true(json_equal(again, it));
		struct procedure q;
		assert_int_equal(procedure_parse(&f->c, again, &q, &e), 0);
		assert_string_equal(q.doc, p.doc);
		json_decref(again);
		assert_true(p.nsteps >= 2 && p.nresults >= 1 && p.nlevels >= 1);
		int sum = 0;
		for (int k = 0; k < p.nsteps; k++)
			sum += p.steps[k].share;
		assert_int_equal(sum, 100);
		districts += strcmp(p.handled_by, "district_ubnd") == 0;
		departments += strncmp(p.handled_by, "department:", 11) == 0;
	}
	assert_int_equal(i, 36);
	assert_true(districts > 0 && departments > 0);

	/* the first one in detail: birth registration */
	struct procedure p;
	struct err e = {0};
	assert_int_equal(procedure_parse(&f->c, json_array_get(f->demo, 0), &p, &e), 0);
	assert_string_equal(p.code, "1.001193");
	assert_string_equal(p.name, "Thủ tục đăng ký khai sinh");
	assert_string_equal(p.field, "Hộ tịch");
	assert_int_equal(p.nlevels, 1);
	assert_string_equal(p.levels[0], "commune");
	assert_string_equal(p.handled_by, "commune_ubnd");
	assert_int_equal(p.online, PROC_ONLINE_FULL);
	assert_int_equal(p.processing_days, 1);
	assert_int_equal(p.ndocuments, 5);
	assert_true(p.documents[0].required);
	assert_false(p.documents[3].required);
	assert_int_equal(p.documents[0].types, PROC_T_PDF | PROC_T_JPG | PROC_T_PNG);
	assert_int_equal(p.documents[0].max_mb, 10);
	assert_int_equal(p.documents[0].copies, 1);
	assert_null(p.documents[0].ecopy_source);
	assert_string_equal(p.documents[2].ecopy_source, "population");
	assert_int_equal(p.nfields, 12);
	assert_string_equal(p.fields[2].name, "child_gender");
	assert_int_equal(p.fields[2].type, PF_SELECT);
	assert_int_equal(p.fields[2].noptions, 2);
	assert_string_equal(p.fields[2].options[1], "Nữ");
	assert_int_equal(p.fields[7].type, PF_CCCD);
	assert_int_equal(p.nresults, 2);
	assert_int_equal(p.nsteps, 4);
	assert_string_equal(p.steps[0].step, "receive");
	assert_int_equal(p.steps[0].role, ROLE_OFFICIAL);
	assert_int_equal(p.steps[2].role, ROLE_LEADER);
	assert_string_equal(p.steps[2].level, "commune");
	assert_int_equal(p.steps[0].actions, 1u << PA_RECEIVE | 1u << PA_REFUSE | 1u << PA_REQUEST_SUPPLEMENT);
	assert_int_equal(p.steps[3].actions, 1u << PA_ISSUE_RESULT | 1u << PA_RETURN_RESULT);
	assert_int_equal(procedure_fee_total(&p), 0);
	assert_non_null(p.legal_basis);
	assert_false(p.code_is_sample);
	assert_non_null(p.note);

	/* fees: the total of the cases, and their range */
	json_t *doc = demo_doc(f, "2.000815");
	assert_int_equal(procedure_parse(&f->c, doc, &p, &e), 0);
	assert_int_equal(procedure_fee_total(&p), 3000);
	assert_int_equal(p.fee_min, 1000);
	assert_int_equal(p.fee_max, 2000);
	json_decref(doc);

	/* the action names round-trip */
	for (int a = 0; a < PA_COUNT; a++)
		assert_int_equal(proc_action_parse(proc_action_name((enum proc_action)a)), a);
	assert_int_equal(proc_action_parse("fly"), -1);
}

struct rule {
	const char *code;  /* demo procedure to start from */
	const char *path;  /* what to change (dotted) */
	const char *value; /* JSON; NULL deletes */
	const char *field; /* the error's expected field */
};

static const struct rule rules[] = {
    {"1.001193", "code", "\"1.00119\"", "code"},
    {"1.001193", "code", "\"A.001193\"", "code"},
    {"1.001193", "code", "1001193", "code"},
    {"1.001193", "name", NULL, "name"},
    {"1.001193", "name", "\"\"", "name"},
    {"1.001193", "name", "\"hai\\ndòng\"", "name"},
    {"1.001193", "name_en", "5", "name_en"},
    {"1.001193", "field", NULL, "field"},
    {"1.001193", "levels", "[]", "levels"},
    {"1.001193", "levels", "\"commune\"", "levels"},
    {"1.001193", "levels", "[\"region\"]", "levels[0]"},
    {"1.001193", "levels", "[\"commune\", \"commune\"]", "levels[1]"},
    {"1.001193", "handled_by", "\"village_ubnd\"", "handled_by"},
    {"1.001193", "handled_by", "\"district_ubnd\"", "handled_by"},
    {"1.001193", "handled_by", "\"ubnd\"", "handled_by"},
    {"1.001193", "handled_by", "\"department:xyz\"", "handled_by"},
    {"2.000505", "handled_by", "\"department:000.00.99.H23\"", "handled_by"},
    {"2.000505", "handled_by", "\"department:000.00.31.H23\"", "handled_by"}, /* a district's agency */
    {"1.001193", "online", "\"level4\"", "online"},
    {"1.001193", "processing_days", "0", "processing_days"},
    {"1.001193", "processing_days", "366", "processing_days"},
    {"1.001193", "processing_days", "\"5\"", "processing_days"},
    {"1.001193", "processing_days", "1.5", "processing_days"},
    {"1.001193", "fees", "{}", "fees"},
    {"1.001193", "fees.0.amount", "-1", "fees[0].amount"},
    {"1.001193", "fees.0.amount", "1.5", "fees[0].amount"},
    {"1.001193", "fees.0.name", NULL, "fees[0].name"},
    {"1.001193", "fees.0.colour", "\"red\"", "fees[0].colour"},
    {"1.001193", "fees.0", "7", "fees[0]"},
    {"1.001193", "documents.1.copies", "0", "documents[1].copies"},
    {"1.001193", "documents.1.types", "[\"pdf\", \"doc\"]", "documents[1].types[1]"},
    {"1.001193", "documents.1.types", "[]", "documents[1].types"},
    {"1.001193", "documents.1.types", "[\"pdf\", \"pdf\"]", "documents[1].types[1]"},
    {"1.001193", "documents.1.max_mb", "0", "documents[1].max_mb"},
    {"1.001193", "documents.1.max_mb", "101", "documents[1].max_mb"},
    {"1.001193", "documents.2.ecopy_source", "\"tax\"", "documents[2].ecopy_source"},
    {"1.001193", "documents.0.required", "\"yes\"", "documents[0].required"},
    {"1.001193", "documents.0.required", NULL, "documents[0].required"},
    {"1.001193", "form_fields.0.name", "\"ChildName\"", "form_fields[0].name"},
    {"1.001193", "form_fields.0.name", "\"1st\"", "form_fields[0].name"},
    {"1.001193", "form_fields.1.name", "\"child_full_name\"", "form_fields[1].name"},
    {"1.001193", "form_fields.0.type", "\"colour\"", "form_fields[0].type"},
    {"1.001193", "form_fields.0.label", "\"\"", "form_fields[0].label"},
    {"1.001193", "form_fields.2.options", "[]", "form_fields[2].options"},
    {"1.001193", "form_fields.2.options", NULL, "form_fields[2].options"},
    {"1.001193", "form_fields.2.options", "[\"Nam\", \"Nam\"]", "form_fields[2].options[1]"},
    {"1.001193", "form_fields.2.options", "[\"Nam\", 3]", "form_fields[2].options[1]"},
    {"1.001193", "form_fields.0.options", "[\"a\"]", "form_fields[0].options"},
    {"1.001193", "results", "[]", "results"},
    {"1.001193", "results.0.name", NULL, "results[0].name"},
    {"1.001193", "workflow", "[]", "workflow"},
    {"1.001193", "workflow.2.share", "0", "workflow[2].share"},
    {"1.001193", "workflow.2.share", "101", "workflow[2].share"},
    {"1.001193", "workflow.2.share", "31", "workflow"},
    {"1.001193", "workflow.1.role", "\"citizen\"", "workflow[1].role"},
    {"1.001193", "workflow.1.role", "\"admin\"", "workflow[1].role"},
    {"1.001193", "workflow.1.level", "\"province\"", "workflow[1].level"},
    {"1.001193", "workflow.1.step", "\"Process step\"", "workflow[1].step"},
    {"1.001193", "workflow.1.actions", "[\"fly\"]", "workflow[1].actions[0]"},
    {"1.001193", "workflow.1.actions", "[]", "workflow[1].actions"},
    {"1.001193", "workflow.1.actions", "[\"forward\", \"forward\"]", "workflow[1].actions[1]"},
    {"1.001193", "workflow.0.actions", "[\"refuse\"]", "workflow[0].actions"},
    {"1.001193", "workflow.3.actions", "[\"issue_result\"]", "workflow[3].actions"},
    {"1.001193", "workflow.2.actions", "[\"reject\"]", "workflow"},
    {"1.001193", "workflow.2.extra", "1", "workflow[2].extra"},
    {"1.001193", "legal_basis", NULL, "legal_basis"},
    {"1.001193", "code_is_sample", "\"yes\"", "code_is_sample"},
    {"1.001193", "colour", "\"red\"", "colour"},
};

static void test_rules(void **state)
{
	struct fx *f = *state;
	for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++) {
		const struct rule *r = &rules[i];
		json_t *doc = demo_doc(f, r->code);
		patch(doc, r->path, r->value);
		struct procedure p;
		struct err e = {0};
		int rc = procedure_parse(&f->c, doc, &p, &e);
		json_decref(doc);
		if (rc != ERR_INVALID || !has_field(&e, r->field)) {
			print_fields(&e);
			fail_msg("rule #%zu (%s = %s): rc %d, expected field %s", i, r->path,
				 r->value ? r->value : "(deleted)", rc, r->field);
		}
	}
	/* not an object at all */
	json_t *arr = json_array();
	struct procedure p;
	struct err e = {0};
	assert_int_equal(procedure_parse(&f->c, arr, &p, &e), ERR_INVALID);
	assert_true(has_field(&e, "body"));
	json_decref(arr);
	/* every problem at once */
	json_t *doc = demo_doc(f, "1.001193");
	patch(doc, "code", "\"x\"");
	patch(doc, "online", "\"always\"");
	patch(doc, "workflow.2.share", "0");
	patch(doc, "documents.0.types", "[\"exe\"]");
	err_clear(&e);
	assert_int_equal(procedure_parse(&f->c, doc, &p, &e), ERR_INVALID);
	assert_true(has_field(&e, "code") && has_field(&e, "online") && has_field(&e, "workflow[2].share") &&
		    has_field(&e, "documents[0].types[0]"));
	json_decref(doc);
	/* optional parts may go */
	doc = demo_doc(f, "1.001193");
	patch(doc, "name_en", NULL);
	patch(doc, "note", NULL);
	patch(doc, "note_en", "null");
	patch(doc, "documents.0.ecopy_source", NULL);
	patch(doc, "fees", "[]");
	patch(doc, "created_at", "\"2025-01-01T00:00:00+07:00\"");
	err_clear(&e);
	assert_int_equal(procedure_parse(&f->c, doc, &p, &e), 0);
	assert_null(p.name_en);
	assert_null(strstr(p.doc, "created_at"));
	assert_int_equal(procedure_fee_total(&p), 0);
	json_decref(doc);
}

/* ---- storage and lists ---- */

static void test_create_update_list(void **state)
{
	struct fx *f = *state;
	struct err e = {0};
	assert_int_equal(procedure_load_demo(&f->c, &e), 36);
	assert_int_equal(procedure_load_demo(&f->c, &e), 0); /* idempotent */
	assert_int_equal(audits(f, "procedure.demo_load"), 1);

	json_t *doc = demo_doc(f, "1.001193");
	patch(doc, "code", "\"9.999001\"");
	patch(doc, "name", "\"Thủ tục thử nghiệm cấp giấy Đỏ\"");
	patch(doc, "name_en", "\"Test procedure\"");
	patch(doc, "field", "\"Thử nghiệm\"");
	struct procedure p;
	/* authority first */
	struct ctx anon = f->c, off = f->c;
	anon.who = NULL;
	off.who = &official;
	assert_int_equal(procedure_create(&anon, doc, &p, &e), ERR_UNAUTHENTICATED);
	err_clear(&e);
	assert_int_equal(procedure_create(&off, doc, &p, &e), ERR_FORBIDDEN);
	err_clear(&e);
	struct ctx adm = f->c;
	adm.who = &admin_user;
	adm.actor = "user:1:admin";
	assert_int_equal(procedure_create(&adm, doc, &p, &e), 0);
	assert_true(p.created_at > 0 && p.updated_at == p.created_at);
	assert_int_equal(procedure_create(&adm, doc, &p, &e), ERR_CONFLICT);
	err_clear(&e);
	assert_int_equal(count(f, "SELECT count(*) FROM audit_log WHERE object = $1", "procedure:9.999001"), 1);

	struct procedure g;
	assert_int_equal(procedure_get(&f->c, "9.999001", &g, &e), 0);
	assert_string_equal(g.name, "Thủ tục thử nghiệm cấp giấy Đỏ");
	assert_int_equal(g.nsteps, 4);
	assert_int_equal(procedure_get(&f->c, "9.999002", &g, &e), ERR_NOT_FOUND);
	err_clear(&e);
	assert_int_equal(procedure_get(&f->c, "../x", &g, &e), ERR_NOT_FOUND);
	err_clear(&e);

	/* the full JSON: timestamps and the document */
	struct buf b = BUF_INIT;
	struct jw w;
	jw_init(&w, &b);
	procedure_json(&w, &g);
	json_t *out;
	assert_int_equal(json_parse(b.ptr, b.len, &out, &e), 0);
	assert_string_equal(json_string_value(json_object_get(out, "code")), "9.999001");
	assert_non_null(json_object_get(out, "created_at"));
	assert_int_equal(json_array_size(json_object_get(out, "workflow")), 4);
	buf_free(&b);

	/* replace: what GET answered, changed, timestamps included */
	patch(out, "processing_days", "4");
	patch(out, "online", "\"partial\"");
	assert_int_equal(procedure_update(&adm, "9.999001", out, &p, &e), 0);
	assert_int_equal(p.processing_days, 4);
	assert_true(p.updated_at >= p.created_at);
	assert_int_equal(procedure_get(&f->c, "9.999001", &g, &e), 0);
	assert_int_equal(g.online, PROC_ONLINE_PARTIAL);
	assert_null(strstr(g.doc, "updated_at"));
	/* the code cannot change; without one, the URL's is taken */
	patch(out, "code", "\"9.999003\"");
	assert_int_equal(procedure_update(&adm, "9.999001", out, &p, &e), ERR_INVALID);
	assert_true(has_field(&e, "code"));
	err_clear(&e);
	patch(out, "code", NULL);
	assert_int_equal(procedure_update(&adm, "9.999001", out, &p, &e), 0);
	assert_int_equal(procedure_update(&adm, "9.999004", out, &p, &e), ERR_NOT_FOUND);
	err_clear(&e);
	assert_int_equal(procedure_update(&off, "9.999001", out, &p, &e), ERR_FORBIDDEN);
	err_clear(&e);
	json_decref(out);
	assert_int_equal(count(f, "SELECT count(*) FROM audit_log WHERE object = $1", "procedure:9.999001"), 3);
	assert_int_equal(audits(f, "procedure.update"), 2);

	/* lists */
	struct procedure *items;
	int n;
	int64_t total;
	struct procedure_filter flt = {.page = 1, .per_page = 200};
	assert_int_equal(procedure_list(&f->c, &flt, &items, &n, &total, &e), 0);
	assert_int_equal(total, 37);
	assert_int_equal(n, 37);
	for (int i = 1; i < n; i++)
		assert_true(strcmp(items[i - 1].code, items[i].code) < 0);
	flt.q = "khai sinh";
	assert_int_equal(procedure_list(&f->c, &flt, &items, &n, &total, &e), 0);
	bool found = false;
	for (int i = 0; i < n; i++)
		found = found || strcmp(items[i].name, "Thủ tục đăng ký khai sinh") == 0;
	assert_true(found);
	flt.q = "GIAY  do thu NGHIEM"; /* accents and case ignored, every word, anywhere */
	assert_int_equal(procedure_list(&f->c, &flt, &items, &n, &total, &e), 0);
	assert_int_equal(total, 1);
	assert_string_equal(items[0].code, "9.999001");
	assert_string_equal(items[0].levels[0], "commune");
	assert_int_equal(items[0].processing_days, 4);
	assert_null(items[0].doc);
	flt.q = "giay do"; /* "đỏ", "độ", "đo" ... */
	assert_int_equal(procedure_list(&f->c, &flt, &items, &n, &total, &e), 0);
	assert_true(total > 1);
	flt.q = "birth registration"; /* English names are searched too */
	assert_int_equal(procedure_list(&f->c, &flt, &items, &n, &total, &e), 0);
	assert_true(total >= 1);
	flt.q = "1.00119"; /* a code prefix */
	assert_int_equal(procedure_list(&f->c, &flt, &items, &n, &total, &e), 0);
	assert_int_equal(total, 1);
	assert_string_equal(items[0].code, "1.001193");
	flt.q = "%_\\";
	assert_int_equal(procedure_list(&f->c, &flt, &items, &n, &total, &e), 0);
	assert_int_equal(total, 0);
	flt.q = NULL;
	flt.field = "Hộ tịch";
	assert_int_equal(procedure_list(&f->c, &flt, &items, &n, &total, &e), 0);
	assert_true(total >= 5);
	for (int i = 0; i < n; i++)
		assert_string_equal(items[i].field, "Hộ tịch");
	flt.field = NULL;
	flt.level = "district";
	assert_int_equal(procedure_list(&f->c, &flt, &items, &n, &total, &e), 0);
	assert_int_equal(total, 10); /* 6 district only, 3 commune+district, 1 district+province */
	flt.online = "full";
	assert_int_equal(procedure_list(&f->c, &flt, &items, &n, &total, &e), 0);
	for (int i = 0; i < n; i++)
		assert_int_equal(items[i].online, PROC_ONLINE_FULL);
	flt.online = "always";
	assert_int_equal(procedure_list(&f->c, &flt, &items, &n, &total, &e), ERR_INVALID);
	assert_true(has_field(&e, "online"));
	err_clear(&e);
	flt.online = NULL;
	flt.level = "region";
	assert_int_equal(procedure_list(&f->c, &flt, &items, &n, &total, &e), ERR_INVALID);
	assert_true(has_field(&e, "level"));
	err_clear(&e);
	flt.level = NULL;
	flt.page = 2;
	flt.per_page = 10;
	assert_int_equal(procedure_list(&f->c, &flt, &items, &n, &total, &e), 0);
	assert_int_equal(n, 10);
	assert_int_equal(total, 37);

	/* fields, sorted by the folded name */
	struct procedure_field_count *fc;
	assert_int_equal(procedure_fields(&f->c, NULL, &fc, &n, &e), 0);
	int64_t sum = 0;
	for (int i = 0; i < n; i++) {
		sum += fc[i].count;
		if (strcmp(fc[i].field, "Hộ tịch") == 0)
			assert_true(fc[i].count >= 5);
	}
	assert_int_equal(sum, 37);
	assert_int_equal(procedure_fields(&f->c, "province", &fc, &n, &e), 0);
	sum = 0;
	for (int i = 0; i < n; i++)
		sum += fc[i].count;
	assert_int_equal(sum, 13);
	json_decref(doc);
}

/* ---- import and export ---- */

static void test_import_export(void **state)
{
	struct fx *f = *state;
	struct err e = {0};
	assert_int_equal(procedure_import(&f->c, f->demo, &e), 36);
	assert_int_equal(audits(f, "procedure.import"), 36);
	struct buf out = BUF_INIT;
	assert_int_equal(procedure_export(&f->c, &out, &e), 0);
	json_t *exp;
	assert_int_equal(json_parse(out.ptr, out.len, &exp, &e), 0);
	buf_free(&out);
	assert_int_equal(json_array_size(exp), 36);
	/* the same documents (ordered by code) */
	size_t i;
	json_t *it;
	json_array_foreach(exp, i, it)
	{
		json_t *orig = demo_doc(f, json_string_value(json_object_get(it, "code")));
		assert_true(json_equal(orig, it));
		json_decref(orig);
	}
	/* importing the export changes nothing and audits nothing */
	assert_int_equal(procedure_import(&f->c, exp, &e), 36);
	assert_int_equal(audits(f, "procedure.import"), 36);
	/* one changed: one audit entry, with before and after */
	patch(exp, "3.name", "\"Tên mới\"");
	assert_int_equal(procedure_import(&f->c, exp, &e), 36);
	assert_int_equal(audits(f, "procedure.import"), 37);
	struct procedure g;
	const char *code3 = json_string_value(json_object_get(json_array_get(exp, 3), "code"));
	assert_int_equal(procedure_get(&f->c, code3, &g, &e), 0);
	assert_string_equal(g.name, "Tên mới");

	/* all or nothing: a good change and a bad document */
	patch(exp, "3.name", "\"Tên khác\"");
	patch(exp, "5.workflow.2.share", "0");
	assert_int_equal(procedure_import(&f->c, exp, &e), ERR_INVALID);
	assert_true(has_field(&e, "[5].workflow[2].share"));
	err_clear(&e);
	assert_int_equal(procedure_get(&f->c, code3, &g, &e), 0);
	assert_string_equal(g.name, "Tên mới");
	patch(exp, "5.workflow.2.share", "30");
	/* a department that does not exist is found in the transaction */
	json_t *bad = json_array();
	json_t *d = demo_doc(f, "2.000505");
	patch(d, "code", "\"9.000001\"");
	patch(d, "handled_by", "\"department:000.00.98.H23\"");
	json_array_append_new(bad, json_deep_copy(json_array_get(exp, 0)));
	json_array_append_new(bad, d);
	assert_int_equal(procedure_import(&f->c, bad, &e), ERR_INVALID);
	assert_true(has_field(&e, "[1].handled_by"));
	err_clear(&e);
	assert_int_equal(procedure_get(&f->c, "9.000001", &g, &e), ERR_NOT_FOUND);
	err_clear(&e);
	/* repeated codes, not an array, not objects */
	patch(bad, "1", "null");
	json_array_set_new(bad, 1, json_deep_copy(json_array_get(exp, 0)));
	assert_int_equal(procedure_import(&f->c, bad, &e), ERR_INVALID);
	assert_true(has_field(&e, "[1].code"));
	err_clear(&e);
	json_array_set_new(bad, 1, json_integer(3));
	assert_int_equal(procedure_import(&f->c, bad, &e), ERR_INVALID);
	assert_true(has_field(&e, "[1]"));
	err_clear(&e);
	json_t *obj = json_object();
	assert_int_equal(procedure_import(&f->c, obj, &e), ERR_INVALID);
	err_clear(&e);
	json_decref(obj);
	json_decref(bad);
	/* non-admins may not */
	struct ctx off = f->c;
	off.who = &official;
	assert_int_equal(procedure_import(&off, exp, &e), ERR_FORBIDDEN);
	err_clear(&e);
	json_decref(exp);
	/* procedure_get_tx reads what the dossier module needs */
	assert_int_equal(count(f, "SELECT count(*) FROM procedures WHERE code = $1", "1.001193"), 1);
}

/* ---- two levels (2025) ---- */

static void test_demo_two_levels(void **state)
{
	struct fx *f = *state;
	struct err e = {0};
	assert_int_equal(f->t.app.nlevels, 2);
	assert_int_equal(procedure_load_demo(&f->c, &e), 36);
	struct procedure g;
	assert_int_equal(procedure_get(&f->c, "1.001612", &g, &e), 0); /* business household: now the commune's */
	assert_int_equal(g.nlevels, 1);
	assert_string_equal(g.levels[0], "commune");
	assert_string_equal(g.handled_by, "commune_ubnd");
	for (int i = 0; i < g.nsteps; i++)
		assert_string_equal(g.steps[i].level, "commune");
	assert_int_equal(procedure_get(&f->c, "1.004227", &g, &e), 0);
	assert_int_equal(g.nlevels, 2);
	assert_string_equal(g.levels[0], "commune");
	assert_string_equal(g.levels[1], "province");
	/* a district is refused in this configuration */
	json_t *doc = demo_doc(f, "1.001612");
	struct procedure p;
	assert_int_equal(procedure_parse(&f->c, doc, &p, &e), ERR_INVALID);
	assert_true(has_field(&e, "levels[0]"));
	json_decref(doc);
}

/* ---- calendar store ---- */

static int64_t t(const char *s)
{
	int64_t us;
	if (!time_parse_rfc3339(s, &us))
		fail_msg("bad time %s", s);
	return us;
}

static int32_t day(const char *s)
{
	int32_t d;
	assert_true(date_parse(s, &d));
	return d;
}

static void assert_due(struct calendar *cal, const char *from, int days, const char *want)
{
	int64_t due;
	struct err e = {0};
	assert_int_equal(calendar_due(cal, t(from), days, &due, &e), 0);
	char got[40];
	time_fmt_rfc3339(due, got, sizeof got);
	assert_string_equal(got, want);
}

static void test_calendar_store(void **state)
{
	struct fx *f = *state;
	struct err e = {0};
	struct calendar *cal = malloc(sizeof *cal);
	assert_non_null(cal);
	/* nothing in the table yet: the default week, no holidays */
	calendar_current(&f->t.app, cal);
	assert_false(calendar_knows_year(cal, 2025, NULL));
	assert_true(calendar_is_working_day(cal, day("2025-01-28")));

	int added = calendar_load_demo(&f->c, &e);
	assert_int_equal(added, 58);
	assert_int_equal(count(f, "SELECT count(*) FROM calendar_days WHERE kind <> $1", "x"), 58);
	assert_int_equal(calendar_load_demo(&f->c, &e), 0);
	assert_int_equal(audits(f, "calendar.demo_load"), 1);

	/* the app's calendar was reloaded by the demo loader */
	calendar_current(&f->t.app, cal);
	bool announced = false;
	assert_true(calendar_knows_year(cal, 2025, &announced));
	assert_true(announced);
	assert_true(calendar_knows_year(cal, 2027, &announced));
	assert_false(announced);
	assert_false(calendar_is_working_day(cal, day("2025-01-28"))); /* Tết */
	assert_true(calendar_is_working_day(cal, day("2025-04-26")));  /* a Saturday worked */
	struct calendar_mark m;
	assert_true(calendar_lookup(cal, day("2025-01-29"), &m));
	assert_string_equal(m.name_vi, "Tết Nguyên Đán");

	/* Tết 2025 (27-31 January): Friday 15:00 + 2 working days = Tuesday 4 February 15:00 */
	assert_due(cal, "2025-01-24T15:00:00+07:00", 2, "2025-02-04T15:00:00+07:00");
	/* Tết 2026 (16-20 February): Friday 13 February 09:00 + 3 days = Wednesday 25 February 09:00 */
	assert_due(cal, "2026-02-13T09:00:00+07:00", 3, "2026-02-25T09:00:00+07:00");
	/* received during the holiday: counting starts at the first opening after it */
	assert_due(cal, "2026-02-18T10:00:00+07:00", 1, "2026-02-23T17:00:00+07:00");
	/* year end 2025 -> New Year 2026 (1-2 January off, Saturday 10 January worked) */
	assert_due(cal, "2025-12-31T16:00:00+07:00", 1, "2026-01-05T16:00:00+07:00");

	/* a fresh app loads from the table on first use */
	calendar_store_release(&f->t.app);
	assert_null(f->t.app.calendar);
	calendar_current(&f->t.app, cal);
	assert_true(calendar_knows_year(cal, 2026, NULL));
	assert_due(cal, "2026-02-13T09:00:00+07:00", 3, "2026-02-25T09:00:00+07:00");

	/* admin changes */
	struct ctx adm = f->c, off = f->c;
	adm.who = &admin_user;
	off.who = &official;
	struct calendar_day d;
	assert_int_equal(calendar_day_add(&off, "2025-06-02", "holiday", "Nghỉ", "Off", true, &d, &e), ERR_FORBIDDEN);
	err_clear(&e);
	assert_int_equal(calendar_day_add(&adm, "2025-13-02", "feast", "", NULL, true, &d, &e), ERR_INVALID);
	assert_true(has_field(&e, "date") && has_field(&e, "kind") && has_field(&e, "name_vi") &&
		    has_field(&e, "name_en"));
	err_clear(&e);
	assert_int_equal(calendar_day_add(&adm, "2025-06-02", "workday", "Làm bù", "Worked", true, &d, &e),
			 ERR_INVALID); /* a Monday */
	assert_true(has_field(&e, "date"));
	err_clear(&e);
	assert_int_equal(calendar_day_add(&adm, "2025-01-01", "holiday", "Tết", "New Year", true, &d, &e),
			 ERR_CONFLICT);
	err_clear(&e);
	assert_int_equal(calendar_day_add(&adm, "2025-06-02", "holiday", "Nghỉ bão", "Typhoon day", false, &d, &e), 0);
	assert_int_equal(d.day, day("2025-06-02"));
	calendar_current(&f->t.app, cal); /* reloaded at once on this node */
	assert_false(calendar_is_working_day(cal, day("2025-06-02")));
	assert_true(calendar_knows_year(cal, 2025, &announced));
	assert_false(announced); /* one of its days is not announced */
	assert_due(cal, "2025-05-30T09:00:00+07:00", 1, "2025-06-03T09:00:00+07:00");
	assert_int_equal(calendar_day_add(&adm, "2025-06-07", "workday", "Làm bù", "Worked Saturday", true, &d, &e), 0);
	calendar_current(&f->t.app, cal);
	assert_true(calendar_is_working_day(cal, day("2025-06-07")));
	assert_int_equal(calendar_day_delete(&adm, "2025-06-02", &e), 0);
	assert_int_equal(calendar_day_delete(&adm, "2025-06-02", &e), ERR_NOT_FOUND);
	err_clear(&e);
	assert_int_equal(calendar_day_delete(&adm, "June", &e), ERR_INVALID);
	err_clear(&e);
	assert_int_equal(calendar_day_delete(&off, "2025-06-07", &e), ERR_FORBIDDEN);
	err_clear(&e);
	calendar_current(&f->t.app, cal);
	assert_true(calendar_is_working_day(cal, day("2025-06-02")));
	assert_int_equal(audits(f, "calendar.day_add"), 2);
	assert_int_equal(audits(f, "calendar.day_delete"), 1);
	assert_int_equal(count(f, "SELECT count(*) FROM audit_log WHERE object = $1", "calendar:2025-06-02"), 2);

	/* the table cannot grow past what a calendar holds */
	int ok = 0, rc = 0;
	for (int i = 0; i < 300 && rc == 0; i++) {
		char date[16];
		date_fmt(day("2030-01-01") + i, date, sizeof date);
		rc = calendar_day_add(&adm, date, "holiday", "Nghỉ", "Off", true, &d, &e);
		ok += rc == 0;
	}
	assert_int_equal(rc, ERR_TOO_LARGE);
	assert_int_equal(ok, CALENDAR_MAX_MARKS - 59);
	err_clear(&e);
	calendar_current(&f->t.app, cal);
	assert_true(calendar_knows_year(cal, 2030, NULL));
	free(cal);
}

static int64_t fake_mono_us;
static int64_t fake_mono(void)
{
	return fake_mono_us;
}

/* Two nodes on one database: a change made on one reaches the other's
 * calendar once its copy is older than CALENDAR_RELOAD_S. */
static void test_calendar_reload_between_nodes(void **state)
{
	struct fx *f = *state;
	struct err e = {0};
	struct app other;
	if (app_open(&other, &f->t.cfg, true, &e) != 0)
		fail_msg("app_open: %s", e.msg);
	fake_mono_us = 1000000;
	calendar_store_set_clock(&other, fake_mono);
	struct calendar *cal = malloc(sizeof *cal);
	assert_non_null(cal);
	calendar_current(&other, cal); /* first use: loads the (empty) table */
	assert_false(calendar_knows_year(cal, 2026, NULL));

	assert_int_equal(calendar_load_demo(&f->c, &e), 58);
	calendar_current(&f->t.app, cal); /* the node that changed it sees it at once */
	assert_false(calendar_is_working_day(cal, day("2026-02-17")));
	fake_mono_us += (int64_t)(CALENDAR_RELOAD_S - 1) * 1000000;
	calendar_current(&other, cal); /* the other one still uses its copy ... */
	assert_false(calendar_knows_year(cal, 2026, NULL));
	assert_true(calendar_is_working_day(cal, day("2026-02-17")));
	fake_mono_us += 2 * 1000000;
	calendar_current(&other, cal); /* ... until it is older than the reload age */
	assert_true(calendar_knows_year(cal, 2026, NULL));
	assert_false(calendar_is_working_day(cal, day("2026-02-17")));
	assert_due(cal, "2026-02-13T09:00:00+07:00", 3, "2026-02-25T09:00:00+07:00");
	free(cal);
	app_close(&other);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_parse_demo, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rules, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_create_update_list, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_import_export, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_demo_two_levels, setup_two_levels, teardown),
	    cmocka_unit_test_setup_teardown(test_calendar_store, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_calendar_reload_between_nodes, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
