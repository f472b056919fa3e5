/* test_rating.c: rating.h against a temporary SQLite app (and PostgreSQL when
 * TINHSO_TEST_PG_URL is set) with agency, procedure, user, dossier and step
 * rows inserted directly. Covers the nine criteria and three levels, the
 * validation naming each bad field, who may rate (applicant only; 404 for
 * those who cannot see the dossier, 403 for officials who can), the status
 * rule (9 or 10), once per dossier (also with two at once), the official the
 * rating is attributed to (last issue_result/return_result actor), the audit
 * entry, reading back, and the summaries: sums, averages, levels, the
 * satisfied share, per agency and per official, scope and periods. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "audit/audit.h"
#include "base/buf.h"
#include "base/config.h"
#include "base/json.h"
#include "base/time.h"
#include "crypto/crypto.h"
#include "dossier/dossier.h"
#include "identity/identity.h"
#include "rating/rating.h"
#include "store/store.h"
#include "support/testapp.h"

#define ROOT  "000.00.00.H23"
#define DEPT  "000.00.10.H23"
#define SUB   "000.01.10.H23"
#define OTHER "000.00.20.H23"
#define PROC  "1.001193"
#define CCCD1 "030095001234"
#define CCCD2 "001203004567"

struct fx {
	struct testapp t;
	struct principal citizen, citizen2, official, official2, sub_official, other, leader, admin;
};

/* ---- fixture ---- */

static int64_t add_user(struct fx *f, const char *username, const char *role, const char *agency, const char *id_number,
			const char *full_name)
{
	struct testapp_user u = {.username = username, .role = role, .agency = agency, .full_name = full_name,
				 .title = "Chuyên viên", .id_number = id_number};
	return testapp_add_user(&f->t, &u);
}

/* A dossier of the citizen at status, held by agency (both receiving and current). */
static void add_dossier(struct fx *f, const char *code, int status, const char *agency, int64_t applicant)
{
	int64_t now = time_now_us();
	testapp_exec(&f->t,
		     "INSERT INTO dossiers (code, procedure_code, agency_code, current_agency, channel, status, step, "
		     "applicant_user_id, applicant_name, applicant_name_fold, applicant_id_number, form, submitted_at, "
		     "created_at, updated_at) VALUES ($1, $2, $3, $3, 'online', $4, 0, $5, 'Nguyễn Văn An', "
		     "'nguyen van an', $6, '{}', $7, $7, $7)",
		     ARGS(SA_TEXT(code), SA_TEXT(PROC), SA_TEXT(agency), SA_INT(status), SA_INT(applicant), SA_TEXT(CCCD1),
			  SA_INT(now)));
	testapp_exec(&f->t, "INSERT INTO dossier_agencies (dossier_code, agency_code) VALUES ($1, $2)",
		     ARGS(SA_TEXT(code), SA_TEXT(agency)));
}

static void add_step(struct fx *f, const char *code, const char *action, const struct principal *actor, int to)
{
	testapp_exec(&f->t,
		     "INSERT INTO dossier_steps (dossier_code, action, title, title_en, actor_user_id, actor_name, "
		     "agency_code, at, status_to) VALUES ($1, $2, $2, $2, $3, $4, $5, $6, $7)",
		     ARGS(SA_TEXT(code), SA_TEXT(action), SA_INT(actor->user_id), SA_TEXT(actor->full_name),
			  SA_TEXT(actor->agency_code), SA_INT(time_now_us()), SA_INT(to)));
}

static bool on_pg;

static struct principal person(int64_t id, const char *username, enum role role, const char *agency, const char *path,
			       const char *name)
{
	return (struct principal){.user_id = id,
				  .username = username,
				  .role = role,
				  .agency_code = agency,
				  .agency_path = path,
				  .full_name = name,
				  .id_number = role == ROLE_CITIZEN ? username : NULL};
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	assert_non_null(f);
	testapp_init(&f->t, "rating", on_pg);
	testapp_open(&f->t);
	testapp_add_agency(&f->t, ROOT, "Ủy ban nhân dân tỉnh Hải Dương", NULL, "province", "department");
	testapp_add_agency(&f->t, DEPT, "Sở Tư pháp", ROOT, "province", "department");
	testapp_add_agency(&f->t, SUB, "Phòng Hộ tịch", DEPT, "province", "department");
	testapp_add_agency(&f->t, OTHER, "Sở Xây dựng", ROOT, "province", "department");
	testapp_add_procedure(&f->t, PROC, "Đăng ký khai sinh", ",province,", "department:" DEPT, 5);
	const char *dp = "/" ROOT "/" DEPT "/", *sp = "/" ROOT "/" DEPT "/" SUB "/", *op = "/" ROOT "/" OTHER "/";
	f->citizen = person(add_user(f, CCCD1, "citizen", NULL, CCCD1, "Nguyễn Văn An"), CCCD1, ROLE_CITIZEN, NULL, NULL,
			    "Nguyễn Văn An");
	f->citizen2 = person(add_user(f, CCCD2, "citizen", NULL, CCCD2, "Trần Thị Bình"), CCCD2, ROLE_CITIZEN, NULL,
			     NULL, "Trần Thị Bình");
	f->official = person(add_user(f, "canbo.tp", "official", DEPT, NULL, "Lê Văn Cường"), "canbo.tp", ROLE_OFFICIAL,
			     DEPT, dp, "Lê Văn Cường");
	f->official2 = person(add_user(f, "canbo.tp2", "official", DEPT, NULL, "Vũ Thị Lan"), "canbo.tp2",
			      ROLE_OFFICIAL, DEPT, dp, "Vũ Thị Lan");
	f->sub_official = person(add_user(f, "canbo.ht", "official", SUB, NULL, "Đỗ Thị Hằng"), "canbo.ht",
				 ROLE_OFFICIAL, SUB, sp, "Đỗ Thị Hằng");
	f->other = person(add_user(f, "canbo.xd", "official", OTHER, NULL, "Phạm Thị Dung"), "canbo.xd", ROLE_OFFICIAL,
			  OTHER, op, "Phạm Thị Dung");
	f->leader = person(add_user(f, "lanhdao.tp", "leader", DEPT, NULL, "Hoàng Văn Quyết"), "lanhdao.tp",
			   ROLE_LEADER, DEPT, dp, "Hoàng Văn Quyết");
	f->admin = person(add_user(f, "quantri", "admin", NULL, NULL, "Quản trị"), "quantri", ROLE_ADMIN, NULL, NULL,
			  "Quản trị");
	*state = f;
	return 0;
}

static struct ctx ctx_as(struct fx *f, const struct principal *p)
{
	struct ctx c = {0};
	c.app = &f->t.app;
	c.a = &f->t.a;
	c.who = p;
	c.actor = p ? arena_printf(&f->t.a, "user:%lld:%s", (long long)p->user_id, p->username) : "anonymous";
	return c;
}

static bool has_field(const struct err *e, const char *name)
{
	for (int i = 0; i < e->nfields; i++)
		if (strcmp(e->fields[i].name, name) == 0)
			return true;
	return false;
}

static struct rating_new good(int s, const char *overall)
{
	struct rating_new in = {.overall = overall};
	for (int i = 0; i < RATING_NCRITERIA; i++)
		in.scores[i] = s;
	return in;
}

static int64_t count_ratings(struct fx *f)
{
	return testapp_int(&f->t, "SELECT count(*) FROM ratings", NOARGS);
}

/* ---- the criteria ---- */

static void test_criteria(void **state)
{
	(void)state;
	for (int i = 0; i < RATING_NCRITERIA; i++) {
		const struct rating_criterion *c = &rating_criteria[i];
		assert_int_equal(rating_criterion_index(c->key), i);
		assert_true(utf8_valid(c->vi, strlen(c->vi)) && strlen(c->en) > 10);
		for (int j = 0; j < i; j++)
			assert_string_not_equal(rating_criteria[j].key, c->key);
	}
	assert_int_equal(rating_criterion_index("speed"), -1);
	assert_int_equal(rating_criterion_index(NULL), -1);
	/* the wording of the circular, diacritics included */
	assert_string_equal(rating_criteria[0].vi,
			    "Tổng thời gian giải quyết thủ tục hành chính so với quy định của pháp luật");
	assert_string_equal(rating_criteria[5].vi, "Công khai các thủ tục hành chính");
	assert_string_equal(rating_criteria[8].vi,
			    "Tiến độ và chất lượng cung cấp dịch vụ công trực tuyến của cơ quan có thẩm quyền");
	assert_int_equal(RATING_MAX_TOTAL, 18);
	assert_int_equal(rating_level_parse("very_satisfied"), RL_VERY_SATISFIED);
	assert_int_equal(rating_level_parse("not_satisfied"), RL_NOT_SATISFIED);
	assert_int_equal(rating_level_parse("Hài lòng"), -1);
	assert_int_equal(rating_level_parse(NULL), -1);
	assert_string_equal(rating_level_vi(RL_VERY_SATISFIED), "Rất hài lòng");
	assert_string_equal(rating_level_vi(RL_SATISFIED), "Hài lòng");
	assert_string_equal(rating_level_vi(RL_NOT_SATISFIED), "Không hài lòng");

	struct buf b = BUF_INIT;
	struct jw w;
	jw_init(&w, &b);
	rating_criteria_json(&w);
	json_t *j;
	struct err e = {0};
	assert_int_equal(json_parse(b.ptr, b.len, &j, &e), 0);
	assert_int_equal(json_array_size(json_object_get(j, "criteria")), 9);
	assert_int_equal(json_array_size(json_object_get(j, "levels")), 3);
	json_t *c7 = json_array_get(json_object_get(j, "criteria"), 6);
	assert_string_equal(json_string_value(json_object_get(c7, "key")), "staff_attitude");
	assert_int_equal(json_integer_value(json_object_get(c7, "number")), 7);
	json_decref(j);
	buf_free(&b);
}

static void test_validate(void **state)
{
	(void)state;
	struct err e = {0};
	struct rating_new in = good(2, "very_satisfied");
	assert_int_equal(rating_validate(&in, &e), 0);
	in.comment = "Tốt.\nCảm ơn cán bộ.";
	assert_int_equal(rating_validate(&in, &e), 0);

	in.scores[0] = 3;
	in.scores[4] = RATING_BAD;
	in.scores[8] = RATING_UNSET;
	in.overall = "happy";
	in.comment = "bad\x01";
	err_clear(&e);
	assert_int_equal(rating_validate(&in, &e), ERR_INVALID);
	assert_int_equal(e.nfields, 5);
	assert_true(has_field(&e, "scores.total_time"));
	assert_true(has_field(&e, "scores.one_stop"));
	assert_true(has_field(&e, "scores.online_service"));
	assert_true(has_field(&e, "overall"));
	assert_true(has_field(&e, "comment"));

	/* nothing given: one problem each, not nine */
	struct rating_new none = good(RATING_UNSET, NULL);
	err_clear(&e);
	assert_int_equal(rating_validate(&none, &e), ERR_INVALID);
	assert_int_equal(e.nfields, 2);
	assert_true(has_field(&e, "scores") && has_field(&e, "overall"));
	/* ... and not twice when the caller named them already */
	err_clear(&e);
	err_field(&e, "scores", "must be an object");
	assert_int_equal(rating_validate(&none, &e), ERR_INVALID);
	assert_int_equal(e.nfields, 2);

	char big[RATING_COMMENT_MAX + 2];
	memset(big, 'a', sizeof big - 1);
	big[sizeof big - 1] = 0;
	struct rating_new longc = good(1, "satisfied");
	longc.comment = big;
	err_clear(&e);
	assert_int_equal(rating_validate(&longc, &e), ERR_INVALID);
	assert_true(has_field(&e, "comment"));
	big[RATING_COMMENT_MAX] = 0;
	err_clear(&e);
	assert_int_equal(rating_validate(&longc, &e), 0);
}

/* ---- recording ---- */

#define D10 DEPT "-250314-0001"
#define D9  DEPT "-250314-0002"
#define D4  DEPT "-250314-0003"
#define DX  OTHER "-250314-0001"

static void test_create(void **state)
{
	struct fx *f = *state;
	add_dossier(f, D10, DS_RETURNED, DEPT, f->citizen.user_id);
	add_step(f, D10, "issue_result", &f->official, DS_RESOLVED);
	add_step(f, D10, "return_result", &f->official2, DS_RETURNED);
	add_dossier(f, D4, DS_PROCESSING, DEPT, f->citizen.user_id);
	struct rating out;
	struct err e = {0};
	struct rating_new in = good(2, "satisfied");
	in.scores[2] = 1;
	in.scores[7] = 0;
	in.comment = "Cán bộ hướng dẫn tận tình.";

	/* who cannot see it: as if it did not exist */
	struct ctx c = ctx_as(f, &f->citizen2);
	assert_int_equal(rating_create(&c, D10, &in, &out, &e), ERR_NOT_FOUND);
	c = ctx_as(f, &f->other);
	err_clear(&e);
	assert_int_equal(rating_create(&c, D10, &in, &out, &e), ERR_NOT_FOUND);
	c = ctx_as(f, &f->citizen);
	err_clear(&e);
	assert_int_equal(rating_create(&c, "000.00.10.H23-991231-9999", &in, &out, &e), ERR_NOT_FOUND);
	c = ctx_as(f, NULL);
	err_clear(&e);
	assert_int_equal(rating_create(&c, D10, &in, &out, &e), ERR_UNAUTHENTICATED);
	/* who sees it but is not the applicant */
	c = ctx_as(f, &f->official);
	err_clear(&e);
	assert_int_equal(rating_create(&c, D10, &in, &out, &e), ERR_FORBIDDEN);
	c = ctx_as(f, &f->admin);
	err_clear(&e);
	assert_int_equal(rating_create(&c, D10, &in, &out, &e), ERR_FORBIDDEN);
	/* before the result */
	c = ctx_as(f, &f->citizen);
	err_clear(&e);
	assert_int_equal(rating_create(&c, D4, &in, &out, &e), ERR_INVALID_TRANSITION);
	/* invalid input changes nothing */
	struct rating_new bad = in;
	bad.scores[3] = 5;
	err_clear(&e);
	assert_int_equal(rating_create(&c, D10, &bad, &out, &e), ERR_INVALID);
	assert_true(has_field(&e, "scores.agency_count"));
	assert_int_equal(count_ratings(f), 0);
	assert_int_equal(testapp_int(&f->t, "SELECT count(*) FROM audit_log WHERE action = 'rating.create'", NOARGS), 0);

	err_clear(&e);
	assert_int_equal(rating_create(&c, D10, &in, &out, &e), 0);
	assert_string_equal(out.dossier_code, D10);
	assert_string_equal(out.agency_code, DEPT);
	assert_string_equal(out.agency_name, "Sở Tư pháp");
	assert_int_equal(out.total, 15);
	assert_int_equal(out.scores[2], 1);
	assert_int_equal(out.scores[7], 0);
	assert_int_equal(out.overall, RL_SATISFIED);
	assert_string_equal(out.comment, in.comment);
	assert_int_equal(out.rated_by, f->citizen.user_id);
	/* the last issue_result/return_result step's actor */
	assert_int_equal(out.official_user_id, f->official2.user_id);
	assert_string_equal(out.official_name, "Vũ Thị Lan");
	assert_int_equal(testapp_int(&f->t, "SELECT c3 + 10 * c8 FROM ratings WHERE dossier_code = $1", ARGS(SA_TEXT(D10))), 1);

	/* once */
	err_clear(&e);
	assert_int_equal(rating_create(&c, D10, &in, &out, &e), ERR_INVALID_TRANSITION);
	assert_int_equal(count_ratings(f), 1);
	assert_int_equal(testapp_int(&f->t, "SELECT count(*) FROM audit_log WHERE action = 'rating.create' AND object = $1",
				     ARGS(SA_TEXT("dossier:" D10))),
			 1);
	struct audit_verify_result vr;
	err_clear(&e);
	assert_int_equal(audit_verify(&f->t.app, &vr, &e), 0);

	/* reading back: whoever sees the dossier */
	struct rating got;
	const struct principal *readers[] = {&f->citizen, &f->official, &f->leader, &f->admin};
	for (size_t i = 0; i < sizeof readers / sizeof readers[0]; i++) {
		c = ctx_as(f, readers[i]);
		err_clear(&e);
		assert_int_equal(rating_get(&c, D10, &got, &e), 0);
		assert_int_equal(got.total, 15);
		assert_int_equal(got.official_user_id, f->official2.user_id);
	}
	c = ctx_as(f, &f->other);
	err_clear(&e);
	assert_int_equal(rating_get(&c, D10, &got, &e), ERR_NOT_FOUND);
	c = ctx_as(f, &f->citizen);
	err_clear(&e);
	assert_int_equal(rating_get(&c, D4, &got, &e), ERR_NOT_FOUND);
	assert_non_null(strstr(e.msg, "not been rated"));

	/* status 9, only issued: the issuer; the JSON */
	add_dossier(f, D9, DS_RESOLVED, DEPT, f->citizen.user_id);
	add_step(f, D9, "issue_result", &f->official, DS_RESOLVED);
	struct rating_new low = good(0, "not_satisfied");
	err_clear(&e);
	assert_int_equal(rating_create(&c, D9, &low, &out, &e), 0);
	assert_int_equal(out.official_user_id, f->official.user_id);
	assert_int_equal(out.total, 0);
	assert_null(out.comment);
	struct buf b = BUF_INIT;
	struct jw w;
	jw_init(&w, &b);
	rating_json(&w, &out);
	json_t *j;
	assert_int_equal(json_parse(b.ptr, b.len, &j, &e), 0);
	assert_string_equal(json_string_value(json_object_get(j, "overall_vi")), "Không hài lòng");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "scores"), "online_service")), 0);
	assert_int_equal(json_object_size(json_object_get(j, "scores")), 9);
	assert_int_equal(json_integer_value(json_object_get(j, "max_total")), 18);
	assert_true(json_is_null(json_object_get(j, "comment")));
	json_decref(j);
	buf_free(&b);
}

struct race {
	struct fx *f;
	int rc;
	const char *overall;
};

static void *race_fn(void *arg)
{
	struct race *r = arg;
	/* each thread its own arena: f->t.a is not for sharing between threads */
	struct arena a = ARENA_INIT;
	struct ctx c = {.app = &r->f->t.app, .a = &a, .who = &r->f->citizen, .actor = "user:1:race"};
	struct rating_new in = good(1, r->overall);
	struct rating out;
	struct err e = {0};
	r->rc = rating_create(&c, D10, &in, &out, &e);
	arena_free(&a);
	return NULL;
}

static void test_concurrent(void **state)
{
	struct fx *f = *state;
	add_dossier(f, D10, DS_RETURNED, DEPT, f->citizen.user_id);
	add_step(f, D10, "return_result", &f->official, DS_RETURNED);
	enum { N = 4 };
	pthread_t t[N];
	struct race r[N];
	const char *lv[] = {"very_satisfied", "satisfied", "not_satisfied", "satisfied"};
	for (int i = 0; i < N; i++) {
		r[i] = (struct race){f, 1, lv[i]};
		assert_int_equal(pthread_create(&t[i], NULL, race_fn, &r[i]), 0);
	}
	int ok = 0, lost = 0;
	for (int i = 0; i < N; i++) {
		pthread_join(t[i], NULL);
		ok += r[i].rc == 0;
		lost += r[i].rc == ERR_INVALID_TRANSITION;
	}
	assert_int_equal(ok, 1);
	assert_int_equal(lost, N - 1);
	assert_int_equal(count_ratings(f), 1);
	assert_int_equal(testapp_int(&f->t, "SELECT count(*) FROM audit_log WHERE action = 'rating.create'", NOARGS), 1);
}

/* ---- summaries ---- */

static void rate_one(struct fx *f, const char *code, const char *agency, const struct principal *by, const int s[9],
		     const char *overall)
{
	add_dossier(f, code, DS_RETURNED, agency, f->citizen.user_id);
	add_step(f, code, "return_result", by, DS_RETURNED);
	struct rating_new in = {.overall = overall};
	memcpy(in.scores, s, sizeof in.scores);
	struct ctx c = ctx_as(f, &f->citizen);
	struct rating out;
	struct err e = {0};
	if (rating_create(&c, code, &in, &out, &e) != 0)
		fail_msg("rating_create %s: %s", code, e.msg);
}

static json_t *summary_json(struct fx *f, const struct principal *who, const char *agency, int64_t from, int64_t to,
			    int *rc)
{
	struct ctx c = ctx_as(f, who);
	struct rating_filter flt = {agency, from, to};
	struct rating_summary s;
	struct err e = {0};
	*rc = rating_summary(&c, &flt, &s, &e);
	if (*rc < 0)
		return NULL;
	struct buf b = BUF_INIT;
	struct jw w;
	jw_init(&w, &b);
	rating_summary_json(&w, &s, from, to);
	json_t *j;
	assert_int_equal(json_parse(b.ptr, b.len, &j, &e), 0);
	buf_free(&b);
	return j;
}

static double num(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);
	assert_true(json_is_number(v));
	return json_number_value(v);
}

static void test_summary(void **state)
{
	struct fx *f = *state;
	const int all2[9] = {2, 2, 2, 2, 2, 2, 2, 2, 2};
	const int mixed[9] = {2, 1, 2, 1, 2, 1, 2, 1, 2};
	const int zeros[9] = {0};
	rate_one(f, DEPT "-250314-0011", DEPT, &f->official, all2, "very_satisfied");
	rate_one(f, DEPT "-250314-0012", DEPT, &f->official, mixed, "satisfied");
	rate_one(f, SUB "-250314-0013", SUB, &f->sub_official, zeros, "not_satisfied");
	rate_one(f, OTHER "-250314-0014", OTHER, &f->other, all2, "satisfied");
	/* an unrated returned dossier counts nowhere */
	add_dossier(f, DEPT "-250314-0015", DS_RETURNED, DEPT, f->citizen.user_id);

	int rc;
	/* the department: itself and its sub-unit */
	json_t *j = summary_json(f, &f->official, NULL, 0, 0, &rc);
	assert_int_equal(rc, 0);
	assert_string_equal(json_string_value(json_object_get(j, "agency")), DEPT);
	json_t *a = json_object_get(j, "all");
	assert_int_equal(json_integer_value(json_object_get(a, "count")), 3);
	assert_float_equal(num(a, "total_average"), (18 + 14 + 0) / 3.0, 0.01);
	assert_float_equal(num(json_object_get(a, "averages"), "total_time"), 4 / 3.0, 0.01);
	assert_float_equal(num(json_object_get(a, "averages"), "agency_time"), 1.0, 0.01);
	assert_float_equal(num(a, "satisfied_share"), 2 / 3.0, 0.0001);
	json_t *lv = json_object_get(a, "levels");
	assert_int_equal(json_integer_value(json_object_get(lv, "very_satisfied")), 1);
	assert_int_equal(json_integer_value(json_object_get(lv, "satisfied")), 1);
	assert_int_equal(json_integer_value(json_object_get(lv, "not_satisfied")), 1);
	json_t *ag = json_object_get(j, "agencies");
	assert_int_equal(json_array_size(ag), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(ag, 0), "code")), DEPT);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(ag, 0), "count")), 2);
	assert_float_equal(num(json_array_get(ag, 0), "satisfied_share"), 1.0, 0.0001);
	assert_string_equal(json_string_value(json_object_get(json_array_get(ag, 1), "code")), SUB);
	assert_float_equal(num(json_array_get(ag, 1), "satisfied_share"), 0.0, 0.0001);
	json_t *of = json_object_get(j, "officials");
	assert_int_equal(json_array_size(of), 2);
	json_t *o0 = json_array_get(of, 0);
	assert_int_equal(json_integer_value(json_object_get(o0, "user_id")), f->official.user_id);
	assert_string_equal(json_string_value(json_object_get(o0, "name")), "Lê Văn Cường");
	assert_int_equal(json_integer_value(json_object_get(o0, "count")), 2);
	assert_float_equal(num(o0, "total_average"), 16.0, 0.01);
	json_decref(j);

	/* the sub-unit sees only itself; the leader like the department */
	j = summary_json(f, &f->sub_official, NULL, 0, 0, &rc);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "all"), "count")), 1);
	json_decref(j);
	j = summary_json(f, &f->leader, SUB, 0, 0, &rc);
	assert_int_equal(rc, 0);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "all"), "count")), 1);
	json_decref(j);
	/* admins: everything */
	j = summary_json(f, &f->admin, NULL, 0, 0, &rc);
	assert_true(json_is_null(json_object_get(j, "agency")));
	assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "all"), "count")), 4);
	assert_int_equal(json_array_size(json_object_get(j, "agencies")), 3);
	assert_int_equal(json_array_size(json_object_get(j, "officials")), 3);
	json_decref(j);
	/* periods */
	int64_t now = time_now_us();
	j = summary_json(f, &f->admin, NULL, now + 1000000, 0, &rc);
	json_t *none = json_object_get(j, "all");
	assert_int_equal(json_integer_value(json_object_get(none, "count")), 0);
	assert_true(json_is_null(json_object_get(none, "total_average")));
	assert_true(json_is_null(json_object_get(none, "satisfied_share")));
	assert_true(json_is_null(json_object_get(json_object_get(none, "averages"), "publicity")));
	json_decref(j);
	j = summary_json(f, &f->admin, NULL, now - 3600LL * 1000000, now + 1000000, &rc);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "all"), "count")), 4);
	json_decref(j);
	assert_null(summary_json(f, &f->admin, NULL, now, now - 1, &rc));
	assert_int_equal(rc, ERR_INVALID);

	/* scope */
	assert_null(summary_json(f, &f->sub_official, DEPT, 0, 0, &rc));
	assert_int_equal(rc, ERR_FORBIDDEN);
	assert_null(summary_json(f, &f->other, DEPT, 0, 0, &rc));
	assert_int_equal(rc, ERR_FORBIDDEN);
	assert_null(summary_json(f, &f->citizen, NULL, 0, 0, &rc));
	assert_int_equal(rc, ERR_FORBIDDEN);
	assert_null(summary_json(f, NULL, NULL, 0, 0, &rc));
	assert_int_equal(rc, ERR_UNAUTHENTICATED);
	assert_null(summary_json(f, &f->admin, "000.99.99.H99", 0, 0, &rc));
	assert_int_equal(rc, ERR_INVALID);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_criteria),
	    cmocka_unit_test(test_validate),
	    cmocka_unit_test_setup_teardown(test_create, setup, testapp_teardown),
	    cmocka_unit_test_setup_teardown(test_concurrent, setup, testapp_teardown),
	    cmocka_unit_test_setup_teardown(test_summary, setup, testapp_teardown),
	};
	int rc = cmocka_run_group_tests_name("rating_sqlite", tests, NULL, NULL);
	if (testapp_pg_url()) {
		on_pg = true;
		const struct CMUnitTest pg[] = {
		    cmocka_unit_test_setup_teardown(test_create, setup, testapp_teardown),
		    cmocka_unit_test_setup_teardown(test_concurrent, setup, testapp_teardown),
		    cmocka_unit_test_setup_teardown(test_summary, setup, testapp_teardown),
		};
		rc += cmocka_run_group_tests_name("rating_postgres", pg, NULL, NULL);
	} else {
		print_message("TINHSO_TEST_PG_URL is not set: the PostgreSQL group is skipped\n");
	}
	return rc;
}
