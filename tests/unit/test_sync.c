/* test_sync.c: the national-portal sync (sync.h) and the national adapters
 * (national.h) against tinhso-sim's simulations, compiled in from
 * src/sim/sim_dvcqg.c and src/sim/sim_national.c and served in-process, on a
 * temporary SQLite database opened as the server opens it (app_open), then
 * again on PostgreSQL when TINHSO_TEST_PG_URL names a throwaway database.
 *
 * Covers: the portal's time format; what a step queues (the portal's fields,
 * isUpdating for the first row only, the dossier_sync counters), once per step
 * and nothing on rollback; pushing in order per dossier while another dossier
 * goes ahead, retries with backoff through a failing portal, giving up, the
 * requeue, a lost record pushed again as a duplicate the portal keeps once,
 * nothing without a portal configured; the adapters' answers and errors
 * (found, not found, bad key, the system's 503, refused connection, timeout,
 * not configured) and the consistency of the sample population. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "app/app.h"
#include "base/config.h"
#include "base/json.h"
#include "base/log.h"
#include "base/time.h"
#include "crypto/crypto.h"
#include "http/http.h"
#include "identity/identity.h"
#include "national/national.h"
#include "store/store.h"
#include "support/testapp.h"
#include "sync/sync.h"

/* the simulated portal and national databases, served in-process */
#include "../../src/sim/sim_dvcqg.c"
#include "../../src/sim/sim_national.c"

#define AGENCY "000.08.31.H23"
#define AGENCY_NAME "Ủy ban nhân dân phường Trần Hưng Đạo"
#define PROC "1.001193"
#define PROC_NAME "Thủ tục đăng ký khai sinh"
#define US INT64_C(1000000)

struct fx {
	struct testapp t;
	struct http_server *sim;
	int port;
};

static bool use_pg;

/* ---- helpers ---- */

/* Forgets what the in-process portal holds. */
static void dv_reset(void)
{
	pthread_mutex_lock(&dv_mu);
	for (size_t i = 0; i < dv_nsyncs; i++) {
		free(dv_syncs[i].sync_id);
		free(dv_syncs[i].service);
		free(dv_syncs[i].dossier);
	}
	for (size_t i = 0; i < dv_ndossiers; i++) {
		free(dv_dossiers[i].code);
		json_decref(dv_dossiers[i].hoso);
		json_decref(dv_dossiers[i].steps);
	}
	free(dv_syncs);
	free(dv_dossiers);
	dv_syncs = NULL;
	dv_dossiers = NULL;
	dv_nsyncs = dv_capsyncs = dv_ndossiers = dv_capdossiers = 0;
	dv_fail_next = 0;
	pthread_mutex_unlock(&dv_mu);
	pthread_mutex_lock(&nat_mu);
	memset(nat_fail, 0, sizeof nat_fail);
	pthread_mutex_unlock(&nat_mu);
}

static struct http_server *sim_start(int *port)
{
	dv_reset();
	static struct route routes[64];
	size_t n = 0;
	for (size_t i = 0; i < sim_dvcqg_nroutes; i++)
		routes[n++] = sim_dvcqg_routes[i];
	for (size_t i = 0; i < sim_national_nroutes; i++)
		routes[n++] = sim_national_routes[i];
	struct http_options o = {0};
	o.host = "127.0.0.1";
	o.threads = 2;
	o.workers = 2;
	o.max_body = 1 << 20;
	o.max_upload = 1 << 20;
	o.max_connections = 64;
	o.max_per_ip = 64;
	o.conn_timeout = 10;
	struct http_server *srv;
	struct err e = {0};
	if (http_start(&srv, &o, routes, n, NULL, &e) != 0)
		fail_msg("http_start: %s", e.msg);
	*port = http_port(srv);
	return srv;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	assert_non_null(f);
	testapp_init(&f->t, "sync", use_pg);
	testapp_set(&f->t, "national_timeout_ms", "2000");
	/* the adapters themselves; the LGSP path is tests/e2e/test_national.py's */
	testapp_set(&f->t, "national_via", "direct");
	testapp_open(&f->t);
	testapp_add_agency(&f->t, AGENCY, AGENCY_NAME, NULL, "commune", "people_committee");
	testapp_add_procedure(&f->t, PROC, PROC_NAME, ",commune,", "commune_ubnd", 1);
	f->sim = sim_start(&f->port);
	char su[128];
	snprintf(su, sizeof su, "http://127.0.0.1:%d/", f->port); /* a trailing '/' is harmless */
	testapp_set(&f->t, "sim_url", su);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	sync_stop(&f->t.app);
	http_stop(f->sim, 1000);
	dv_reset();
	testapp_close(&f->t);
	free(f);
	return 0;
}

/* 14/03/2025 09:30:00 in Vietnam */
static int64_t t0(void)
{
	return ((int64_t)days_from_civil(2025, 3, 14) * 86400 + 9 * 3600 + 30 * 60 - TIME_OFFSET_S) * US;
}

static void add_dossier(struct fx *f, const char *code, const char *channel)
{
	testapp_exec(&f->t,
		     "INSERT INTO dossiers (code, procedure_code, agency_code, current_agency, channel, status, "
		     "applicant_name, applicant_name_fold, applicant_id_number, applicant_phone, form, submitted_at, "
		     "created_at, updated_at) VALUES ($1, $2, $3, $3, $4, 1, 'Nguyễn Văn An', 'nguyen van an', "
		     "'030095001234', '0912345678', '{}', $5, $5, $5)",
		     ARGS(SA_TEXT(code), SA_TEXT(PROC), SA_TEXT(AGENCY), SA_TEXT(channel), SA_INT(t0())));
}

/* Records a step and moves the dossier to status to, as dossier.c does; returns the step id. */
static int64_t add_step(struct fx *f, const char *code, const char *action, const char *title, const char *actor,
			const char *note, int from, int to, int64_t at)
{
	testapp_exec(&f->t, "UPDATE dossiers SET status = $2, received_at = CASE WHEN $2 = 2 THEN $3 ELSE received_at END, "
			"due_at = CASE WHEN $2 = 2 THEN $4 ELSE due_at END WHERE code = $1",
		     ARGS(SA_TEXT(code), SA_INT(to), SA_INT(at), SA_INT(at + 86400 * US)));
	testapp_exec(&f->t,
		     "INSERT INTO dossier_steps (dossier_code, action, title, title_en, actor_name, actor_title, "
		     "agency_code, at, note, status_from, status_to, step_started_at, step_due_at) VALUES "
		     "($1, $2, $3, $3, $4, $5, $6, $7, $8, $9, $10, $7, $11)",
		     ARGS(SA_TEXT(code), SA_TEXT(action), SA_TEXT(title), SA_TEXT(actor),
			  SA_TEXT(strcmp(action, "submit") ? "Công chức Tư pháp - Hộ tịch" : NULL),
			  SA_TEXT(strcmp(action, "submit") ? AGENCY : NULL), SA_INT(at), SA_TEXT(note),
			  from ? SA_INT(from) : SA_NULL, SA_INT(to), SA_INT(at + 3600 * US)));
	return testapp_int(&f->t, "SELECT max(id) FROM dossier_steps WHERE dossier_code = $1", ARGS(SA_TEXT(code)));
}

struct q_job {
	struct app *app;
	const char *code;
	int64_t step_id;
	bool fail_after;
};

static int q_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct q_job *j = arg;
	struct arena a = ARENA_INIT;
	struct ctx c = {.app = j->app, .a = &a, .actor = "system"};
	int rc = sync_dossier_tx(tx, &c, j->code, j->step_id, e);
	arena_free(&a);
	if (rc < 0)
		return rc;
	return j->fail_after ? err_set(e, ERR_CONFLICT, "the caller's change failed") : 0;
}

static int queue(struct fx *f, const char *code, int64_t step_id, bool fail_after)
{
	struct q_job j = {&f->t.app, code, step_id, fail_after};
	struct err e = {0};
	return store_write(f->t.app.db, q_fn, &j, &e);
}

/* A step recorded and queued: its id. */
static int64_t step(struct fx *f, const char *code, const char *action, const char *title, const char *note, int from,
		    int to, int64_t at)
{
	int64_t id = add_step(f, code, action, title, strcmp(action, "submit") ? "Đỗ Thị Hằng" : "Nguyễn Văn An", note,
			      from, to, at);
	assert_int_equal(queue(f, code, id, false), 0);
	return id;
}

static json_t *payload(struct fx *f, const char *code, int64_t step_id)
{
	char key[128];
	snprintf(key, sizeof key, "%s:%lld", code, (long long)step_id);
	char *p = testapp_text(&f->t, "SELECT payload FROM outbox WHERE dedupe = $1 AND kind = 'sync'", ARGS(SA_TEXT(key)));
	assert_non_null(p);
	json_t *j = json_loads(p, 0, NULL);
	assert_non_null(j);
	return j;
}

static const char *js(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));
	if (!s)
		fail_msg("no string '%s'", k);
	return s;
}

static int64_t ji(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);
	if (!json_is_integer(v))
		fail_msg("no integer '%s'", k);
	return json_integer_value(v);
}

static const char *sync_status(struct fx *f, const char *code)
{
	return testapp_text(&f->t, "SELECT status FROM dossier_sync WHERE dossier_code = $1", ARGS(SA_TEXT(code)));
}

static int64_t sync_int(struct fx *f, const char *col, const char *code)
{
	if (strcmp(col, "pushed") == 0)
		return testapp_int(&f->t, "SELECT pushed FROM dossier_sync WHERE dossier_code = $1", ARGS(SA_TEXT(code)));
	if (strcmp(col, "failed") == 0)
		return testapp_int(&f->t, "SELECT failed FROM dossier_sync WHERE dossier_code = $1", ARGS(SA_TEXT(code)));
	if (strcmp(col, "queued") == 0)
		return testapp_int(&f->t, "SELECT queued FROM dossier_sync WHERE dossier_code = $1", ARGS(SA_TEXT(code)));
	if (strcmp(col, "attempts") == 0)
		return testapp_int(&f->t, "SELECT attempts FROM dossier_sync WHERE dossier_code = $1", ARGS(SA_TEXT(code)));
	fail_msg("unknown column %s", col);
	return -1;
}

/* What the portal received for a dossier: "service:sync id:count" lines, in order. */
static char *portal_log(const char *code)
{
	struct buf b = BUF_INIT;
	pthread_mutex_lock(&dv_mu);
	for (size_t i = 0; i < dv_nsyncs; i++)
		if (strcmp(dv_syncs[i].dossier, code) == 0)
			buf_printf(&b, "%s:%s:%lld\n", dv_syncs[i].service, dv_syncs[i].sync_id,
				   (long long)dv_syncs[i].count);
	pthread_mutex_unlock(&dv_mu);
	char *s = strdup(buf_cstr(&b));
	buf_free(&b);
	return s;
}

static size_t portal_steps(const char *code)
{
	pthread_mutex_lock(&dv_mu);
	struct dv_dossier *d = dv_dossier_find(code);
	size_t n = d ? json_array_size(d->steps) : 0;
	pthread_mutex_unlock(&dv_mu);
	return n;
}

static int64_t portal_status(const char *code)
{
	pthread_mutex_lock(&dv_mu);
	struct dv_dossier *d = dv_dossier_find(code);
	int64_t s = d && d->hoso ? json_integer_value(json_object_get(d->hoso, "TrangThaiHoSo")) : 0;
	pthread_mutex_unlock(&dv_mu);
	return s;
}

/* ---- tests ---- */

static void test_time_format(void **state)
{
	(void)state;
	char t[24];
	sync_time(t0(), t, sizeof t);
	assert_string_equal(t, "20250314093000");
	sync_time(t0() + 123456, t, sizeof t); /* fractions are dropped */
	assert_string_equal(t, "20250314093000");
	/* 23:59:59 UTC is the next day in Vietnam */
	sync_time(((int64_t)days_from_civil(2024, 12, 31) * 86400 + 23 * 3600 + 59 * 60 + 59) * US, t, sizeof t);
	assert_string_equal(t, "20250101065959");
	sync_time(0, t, sizeof t);
	assert_string_equal(t, "");
}

static void test_sample_population_consistent(void **state)
{
	(void)state;
	for (size_t i = 0; i < NELEM(nat_citizens); i++) {
		const struct nat_citizen *p = &nat_citizens[i];
		assert_true(nat_cccd_valid(p->id));
		assert_memory_equal(p->id, "030", 3);
		int year = atoi(p->birth);
		bool woman = strcmp(p->gender, "Nữ") == 0;
		int digit = (year >= 2000 ? 2 : 0) + (woman ? 1 : 0);
		if (p->id[3] - '0' != digit || atoi((char[]){p->id[4], p->id[5], 0}) != year % 100)
			fail_msg("%s (%s, %s) does not match its birth and sex", p->id, p->birth, p->gender);
		assert_non_null(nat_commune(p->commune));
		int32_t days;
		assert_true(date_parse(p->birth, &days));
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(nat_citizens[j].id, p->id);
	}
	for (size_t i = 0; i < NELEM(nat_enterprises); i++) {
		assert_true(national_tax_code_valid(nat_enterprises[i].tax));
		assert_non_null(nat_citizen_find(nat_enterprises[i].rep_id));
	}
	for (size_t i = 0; i < NELEM(nat_books); i++)
		assert_non_null(nat_citizen_find(nat_books[i].id));
}

static void test_queue(void **state)
{
	struct fx *f = *state;
	const char *code = AGENCY "-250314-0001";
	add_dossier(f, code, "online");
	int64_t s1 = step(f, code, "submit", "Nộp hồ sơ trực tuyến", NULL, 0, 1, t0());
	int64_t s2 = step(f, code, "receive", "Tiếp nhận hồ sơ", "Hồ sơ đầy đủ", 1, 2, t0() + 3600 * US);
	assert_int_equal(testapp_int(&f->t, "SELECT count(*) FROM outbox WHERE kind = 'sync' AND channel = 'dvcqg'", NOARGS), 2);
	json_t *p = payload(f, code, s1);
	char sid[128];
	snprintf(sid, sizeof sid, "%s:%lld", code, (long long)s1);
	assert_string_equal(js(p, "sync_id"), sid);
	assert_false(json_is_true(json_object_get(p, "updating")));
	json_t *h = json_object_get(p, "hoso");
	assert_string_equal(js(h, "MaHoSo"), code);
	assert_string_equal(js(h, "MaTTHC"), PROC);
	assert_string_equal(js(h, "TenTTHC"), PROC_NAME);
	assert_string_equal(js(h, "MaDonVi"), AGENCY);
	assert_string_equal(js(h, "TenDonVi"), AGENCY_NAME);
	assert_string_equal(js(h, "ChuHoSo"), "Nguyễn Văn An");
	assert_string_equal(js(h, "MaDoiTuong"), "030095001234");
	assert_int_equal(ji(h, "TrangThaiHoSo"), 1);
	assert_int_equal(ji(h, "KenhThucHien"), 2);
	assert_string_equal(js(h, "NgayNopHoSo"), "20250314093000");
	assert_string_equal(js(h, "NgayTiepNhan"), "");
	assert_string_equal(js(h, "KetQuaXuLy"), "");
	json_t *t = json_object_get(p, "tiendo");
	assert_string_equal(js(t, "NguoiXuLy"), "Nguyễn Văn An");
	assert_string_equal(js(t, "PhongBanXuLy"), "");
	assert_string_equal(js(t, "NoiDungXuLy"), "Nộp hồ sơ trực tuyến");
	assert_int_equal(ji(t, "TrangThai"), 1);
	json_decref(p);
	p = payload(f, code, s2);
	assert_true(json_is_true(json_object_get(p, "updating")));
	h = json_object_get(p, "hoso");
	assert_int_equal(ji(h, "TrangThaiHoSo"), 2);
	assert_string_equal(js(h, "NgayTiepNhan"), "20250314103000");
	assert_string_equal(js(h, "NgayHenTra"), "20250315103000");
	t = json_object_get(p, "tiendo");
	assert_string_equal(js(t, "NguoiXuLy"), "Đỗ Thị Hằng");
	assert_string_equal(js(t, "ChucDanh"), "Công chức Tư pháp - Hộ tịch");
	assert_string_equal(js(t, "PhongBanXuLy"), AGENCY_NAME);
	assert_string_equal(js(t, "NoiDungXuLy"), "Tiếp nhận hồ sơ: Hồ sơ đầy đủ");
	assert_string_equal(js(t, "ThoiDiemXuLy"), "20250314103000");
	assert_string_equal(js(t, "NgayBatDau"), "20250314103000");
	assert_string_equal(js(t, "NgayKetThucTheoQuyDinh"), "20250314113000");
	json_decref(p);
	assert_string_equal(sync_status(f, code), "pending");
	assert_int_equal(sync_int(f, "queued", code), 2);
	assert_int_equal(testapp_int(&f->t, "SELECT queued_step_id FROM dossier_sync WHERE dossier_code = $1",
				     ARGS(SA_TEXT(code))),
			 s2);

	/* the same step again: nothing more, and no failure */
	assert_int_equal(queue(f, code, s2, false), 0);
	assert_int_equal(testapp_int(&f->t, "SELECT count(*) FROM outbox WHERE kind = 'sync'", NOARGS), 2);
	assert_int_equal(sync_int(f, "queued", code), 2);
	/* a rolled-back change queues nothing */
	int64_t s3 = add_step(f, code, "forward", "Chuyển xử lý", "Đỗ Thị Hằng", NULL, 2, 4, t0() + 7200 * US);
	assert_int_equal(queue(f, code, s3, true), ERR_CONFLICT);
	assert_int_equal(testapp_int(&f->t, "SELECT count(*) FROM outbox WHERE kind = 'sync'", NOARGS), 2);
	assert_int_equal(sync_int(f, "queued", code), 2);
	/* a step that does not exist is the caller's bug */
	assert_int_equal(queue(f, code, 999999, false), ERR_NOT_FOUND);
	assert_int_equal(queue(f, "NO-SUCH", s1, false), ERR_NOT_FOUND);
}

static void test_push_in_order_with_retries(void **state)
{
	struct fx *f = *state;
	const char *a = AGENCY "-250314-0002", *b = AGENCY "-250314-0003";
	add_dossier(f, a, "online");
	add_dossier(f, b, "direct");
	int64_t a1 = step(f, a, "submit", "Nộp hồ sơ trực tuyến", NULL, 0, 1, t0());
	int64_t b1 = step(f, b, "receive", "Tiếp nhận hồ sơ trực tiếp tại Bộ phận Một cửa", NULL, 0, 2, t0());
	int64_t a2 = step(f, a, "receive", "Tiếp nhận hồ sơ", NULL, 1, 2, t0() + 60 * US);
	int64_t a3 = step(f, a, "forward", "Chuyển xử lý", NULL, 2, 4, t0() + 120 * US);
	(void)b1;
	/* the portal refuses the first call: a's first row backs off, b goes ahead, a's later rows wait */
	pthread_mutex_lock(&dv_mu);
	dv_fail_next = 1;
	pthread_mutex_unlock(&dv_mu);
	struct err e = {0};
	int64_t now = time_now_us();
	assert_int_equal(sync_push_batch(&f->t.app, now, &e), 2);
	char *log = portal_log(a);
	assert_string_equal(log, "");
	free(log);
	assert_int_equal(portal_steps(b), 1);
	assert_int_equal(portal_status(b), 2);
	assert_string_equal(sync_status(f, b), "ok");
	assert_string_equal(sync_status(f, a), "pending");
	char *err = testapp_text(&f->t, "SELECT last_error FROM dossier_sync WHERE dossier_code = $1", ARGS(SA_TEXT(a)));
	assert_non_null(strstr(err, "503"));
	assert_non_null(strstr(err, "DongBoHoSoMC"));
	int64_t next = testapp_int(&f->t, "SELECT next_at FROM outbox WHERE dedupe = $1",
				   ARGS(SA_TEXT(arena_printf(&f->t.a, "%s:%lld", a, (long long)a1))));
	assert_true(next >= now + 1600000 && next <= now + 2 * US);
	/* not due yet: a's first row waits, and so do the two behind it */
	assert_int_equal(sync_push_batch(&f->t.app, now + US, &e), 0);
	/* due: one row of a per pass, in order */
	assert_int_equal(sync_push_batch(&f->t.app, next, &e), 1);
	assert_int_equal(portal_steps(a), 1);
	assert_int_equal(sync_push_batch(&f->t.app, next, &e), 1);
	assert_int_equal(sync_push_batch(&f->t.app, next, &e), 1);
	assert_int_equal(sync_push_batch(&f->t.app, next, &e), 0);
	log = portal_log(a);
	char *want = arena_printf(&f->t.a,
				  "DongBoHoSoMC:%1$s:%2$lld:1\nCapNhatTienDoHoSoMC:%1$s:%2$lld:1\n"
				  "DongBoHoSoMC:%1$s:%3$lld:1\nCapNhatTienDoHoSoMC:%1$s:%3$lld:1\n"
				  "DongBoHoSoMC:%1$s:%4$lld:1\nCapNhatTienDoHoSoMC:%1$s:%4$lld:1\n",
				  a, (long long)a1, (long long)a2, (long long)a3);
	assert_string_equal(log, want);
	free(log);
	assert_int_equal(portal_status(a), 4);
	assert_int_equal(portal_steps(a), 3);
	assert_string_equal(sync_status(f, a), "ok");
	assert_int_equal(sync_int(f, "pushed", a), 3);
	assert_int_equal(sync_int(f, "attempts", a), 4);
	assert_int_equal(testapp_int(&f->t, "SELECT count(*) FROM dossier_sync WHERE last_error IS NOT NULL", NOARGS), 0);
	assert_int_equal(testapp_int(&f->t, "SELECT pushed_step_id FROM dossier_sync WHERE dossier_code = $1", ARGS(SA_TEXT(a))),
			 a3);

	/* a crash after the pushes and before their record: pushed again, kept once */
	testapp_exec(&f->t, "UPDATE outbox SET done_at = NULL, claimed_until = 0 WHERE kind = 'sync'", NOARGS);
	testapp_exec(&f->t, "UPDATE dossier_sync SET pushed = 0, status = 'pending'", NOARGS);
	for (int i = 0; i < 10 && sync_push_batch(&f->t.app, next, &e) > 0; i++)
		;
	assert_int_equal(testapp_int(&f->t, "SELECT count(*) FROM outbox WHERE kind = 'sync' AND done_at IS NULL", NOARGS), 0);
	assert_int_equal(portal_steps(a), 3);
	assert_int_equal(portal_steps(b), 1);
	log = portal_log(a);
	assert_non_null(strstr(log, arena_printf(&f->t.a, "CapNhatTienDoHoSoMC:%s:%lld:2\n", a, (long long)a3)));
	assert_null(strstr(log, ":1\n"));
	free(log);
	assert_string_equal(sync_status(f, a), "ok");
	assert_int_equal(sync_int(f, "pushed", a), 3);
}

static void test_give_up_and_requeue(void **state)
{
	struct fx *f = *state;
	testapp_set(&f->t, "outbox_max_attempts", "2");
	const char *code = AGENCY "-250314-0004";
	add_dossier(f, code, "postal");
	int64_t s1 = step(f, code, "receive", "Tiếp nhận hồ sơ qua dịch vụ bưu chính", NULL, 0, 2, t0());
	pthread_mutex_lock(&dv_mu);
	dv_fail_next = 2;
	pthread_mutex_unlock(&dv_mu);
	struct err e = {0};
	int64_t now = time_now_us();
	assert_int_equal(sync_push_batch(&f->t.app, now, &e), 1);
	assert_int_equal(sync_push_batch(&f->t.app, now + 10 * US, &e), 1);
	/* two attempts: given up */
	assert_string_equal(sync_status(f, code), "failed");
	assert_int_equal(sync_int(f, "failed", code), 1);
	assert_int_equal(testapp_int(&f->t, "SELECT count(*) FROM outbox WHERE kind = 'sync' AND done_at IS NOT NULL AND "
					"last_error IS NOT NULL",
				     NOARGS),
			 1);
	/* the next step is not held back by a given-up row, but the portal does not know the dossier */
	int64_t s2 = step(f, code, "forward", "Chuyển xử lý", NULL, 2, 4, t0() + 60 * US);
	assert_int_equal(sync_push_batch(&f->t.app, now + 20 * US, &e), 1);
	assert_int_equal(sync_int(f, "failed", code), 2);
	char *err = testapp_text(&f->t, "SELECT last_error FROM outbox WHERE dedupe = $1",
				 ARGS(SA_TEXT(arena_printf(&f->t.a, "%s:%lld", code, (long long)s2))));
	assert_non_null(strstr(err, "HTTP 400"));
	assert_non_null(strstr(err, "chưa được đồng bộ"));
	assert_int_equal(testapp_int(&f->t, "SELECT attempts FROM outbox WHERE dedupe = $1",
				     ARGS(SA_TEXT(arena_printf(&f->t.a, "%s:%lld", code, (long long)s2)))),
			 1); /* a refusal is not retried */

	/* the state, as officials see it (here the CLI's admin) */
	struct arena a = ARENA_INIT;
	struct ctx c = {.app = &f->t.app, .a = &a, .who = &principal_cli, .actor = "cli:test"};
	struct sync_state st;
	assert_int_equal(sync_state_get(&c, code, &st, &e), 0);
	assert_string_equal(st.status, "failed");
	assert_int_equal(st.nitems, 2);
	assert_int_equal(st.items[0].step_id, s1);
	assert_string_equal(st.items[0].state, "failed");
	assert_int_equal(st.items[0].attempts, 2);
	assert_string_equal(st.items[1].state, "failed");
	assert_true(st.portal_configured);
	assert_int_equal(sync_state_get(&c, "NO-SUCH", &st, &e), ERR_NOT_FOUND);
	struct principal citizen = {.user_id = 5, .username = "030095001234", .role = ROLE_CITIZEN};
	struct ctx cc = {.app = &f->t.app, .a = &a, .who = &citizen, .actor = "user:5"};
	assert_int_equal(sync_state_get(&cc, code, &st, &e), ERR_FORBIDDEN);
	assert_int_equal(sync_retry(&cc, code, &e), ERR_FORBIDDEN);

	/* requeued: in order, both go */
	assert_int_equal(sync_retry(&c, code, &e), 2);
	assert_string_equal(sync_status(f, code), "pending");
	assert_int_equal(sync_int(f, "failed", code), 0);
	assert_int_equal(testapp_int(&f->t, "SELECT count(*) FROM audit_log WHERE action = 'sync.retry'", NOARGS), 1);
	now = time_now_us();
	assert_int_equal(sync_push_batch(&f->t.app, now, &e), 1);
	assert_int_equal(sync_push_batch(&f->t.app, now, &e), 1);
	assert_string_equal(sync_status(f, code), "ok");
	assert_int_equal(portal_status(code), 4);
	assert_int_equal(sync_retry(&c, code, &e), 0);
	assert_int_equal(sync_state_get(&c, code, &st, &e), 0);
	assert_string_equal(st.items[1].state, "pushed");
	assert_true(st.items[1].pushed_at > 0);
	arena_free(&a);
}

static void test_no_portal_configured(void **state)
{
	struct fx *f = *state;
	testapp_set(&f->t, "sim_url", "");
	const char *code = AGENCY "-250314-0005";
	add_dossier(f, code, "online");
	step(f, code, "submit", "Nộp hồ sơ trực tuyến", NULL, 0, 1, t0());
	struct err e = {0};
	assert_int_equal(sync_push_batch(&f->t.app, time_now_us(), &e), 0);
	assert_int_equal(testapp_int(&f->t, "SELECT attempts FROM outbox WHERE kind = 'sync'", NOARGS), 0);
	assert_string_equal(sync_status(f, code), "pending");
	/* configured later: the backlog goes */
	testapp_set(&f->t, "dvcqg_url", arena_printf(&f->t.a, "http://127.0.0.1:%d/dvcqg", f->port));
	assert_int_equal(sync_push_batch(&f->t.app, time_now_us(), &e), 1);
	assert_string_equal(sync_status(f, code), "ok");
}

static void test_worker_thread(void **state)
{
	struct fx *f = *state;
	const char *code = AGENCY "-250314-0006";
	add_dossier(f, code, "online");
	struct err e = {0};
	assert_int_equal(sync_start(&f->t.app, &e), 0);
	assert_int_equal(sync_start(&f->t.app, &e), ERR_INTERNAL);
	step(f, code, "submit", "Nộp hồ sơ trực tuyến", NULL, 0, 1, t0());
	step(f, code, "receive", "Tiếp nhận hồ sơ", NULL, 1, 2, t0() + US);
	for (int i = 0; i < 200 && strcmp(sync_status(f, code), "ok") != 0; i++)
		usleep(50000);
	assert_string_equal(sync_status(f, code), "ok");
	assert_int_equal(portal_steps(code), 2);
	sync_stop(&f->t.app);
	sync_stop(&f->t.app); /* twice is harmless */
	/* stopped: what is queued now waits for the next start */
	step(f, code, "forward", "Chuyển xử lý", NULL, 2, 4, t0() + 2 * US);
	usleep(300000);
	assert_int_equal(portal_steps(code), 2);
	assert_string_equal(sync_status(f, code), "pending");
}

/* ---- the adapters ---- */

static void test_adapters(void **state)
{
	struct fx *f = *state;
	struct arena a = ARENA_INIT;
	struct ctx c = {.app = &f->t.app, .a = &a, .actor = "test"};
	struct err e = {0};
	struct national_citizen p;
	assert_int_equal(national_citizen_by_id(&c, "030095001234", "test", &p, &e), 0);
	assert_string_equal(p.full_name, "Nguyễn Văn An");
	assert_string_equal(p.birth_date, "1995-03-12");
	assert_string_equal(p.permanent.commune_code, AGENCY);
	assert_string_equal(p.current.commune, "phường Trần Hưng Đạo");
	assert_non_null(strstr(p.json, "\"id_card\""));
	assert_null(p.message_id);
	err_clear(&e);
	assert_int_equal(national_citizen_by_id(&c, "030299999999", "test", &p, &e), ERR_NOT_FOUND);
	assert_non_null(strstr(e.msg, "030299999999"));
	err_clear(&e);
	assert_int_equal(national_citizen_by_id(&c, "12345", "test", &p, &e), ERR_INVALID);
	assert_string_equal(e.fields[0].name, "id_number");
	err_clear(&e);
	pthread_mutex_lock(&nat_mu);
	nat_fail[NAT_POPULATION] = 1;
	pthread_mutex_unlock(&nat_mu);
	assert_int_equal(national_citizen_by_id(&c, "030095001234", "test", &p, &e), ERR_BAD_GATEWAY);
	assert_non_null(strstr(e.msg, "HTTP 503"));
	err_clear(&e);

	struct national_enterprise en;
	assert_int_equal(national_enterprise_by_tax_code(&c, "0800456789", "test", &en, &e), 0);
	assert_string_equal(en.representative, "Cao Minh Quân");
	assert_string_equal(en.head_office.commune_code, "000.01.34.H23");
	assert_int_equal(national_enterprise_by_tax_code(&c, "08004567", "test", &en, &e), ERR_INVALID);
	err_clear(&e);
	struct national_record r;
	assert_int_equal(national_land_parcel(&c, "000.05.31.H23", 8, 112, "test", &r, &e), 0);
	assert_string_equal(r.key, "000.05.31.H23/8/112");
	assert_non_null(strstr(r.summary, "Trần Văn Bảo, Lê Thị Thu"));
	assert_non_null(strstr(r.summary, "72.0 m²"));
	assert_int_equal(national_land_parcel(&c, "000.05.31.H23", 0, 112, "test", &r, &e), ERR_INVALID);
	err_clear(&e);
	assert_int_equal(national_insurance(&c, "3005208123", "test", &r, &e), 0);
	assert_non_null(strstr(r.summary, "Đang hưởng lương hưu"));
	assert_int_equal(national_judicial(&c, "030074025788", "test", &r, &e), 0);
	assert_non_null(strstr(r.summary, "Có án tích"));
	assert_int_equal(national_judicial(&c, "030095001234", "test", &r, &e), 0);
	assert_non_null(strstr(r.summary, "Không có án tích"));

	/* where each system lives */
	char *base = national_base(&f->t.cfg, NATIONAL_LAND, &a);
	assert_string_equal(base, arena_printf(&a, "http://127.0.0.1:%d/land", f->port));
	testapp_set(&f->t, "land_url", "https://land.example.gov.vn/api///");
	assert_string_equal(national_base(&f->t.cfg, NATIONAL_LAND, &a), "https://land.example.gov.vn/api");

	/* refused connection, no answer in time, nothing configured */
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof sa), 0);
	socklen_t len = sizeof sa;
	getsockname(s, (struct sockaddr *)&sa, &len);
	int closed_port = ntohs(sa.sin_port);
	close(s);
	testapp_set(&f->t, "population_url", arena_printf(&a, "http://127.0.0.1:%d/population", closed_port));
	assert_int_equal(national_citizen_by_id(&c, "030095001234", "test", &p, &e), ERR_BAD_GATEWAY);
	assert_non_null(strstr(e.msg, "cannot reach the population"));
	err_clear(&e);
	int hole = socket(AF_INET, SOCK_STREAM, 0);
	sa.sin_port = 0;
	assert_int_equal(bind(hole, (struct sockaddr *)&sa, sizeof sa), 0);
	assert_int_equal(listen(hole, 8), 0);
	len = sizeof sa;
	getsockname(hole, (struct sockaddr *)&sa, &len);
	testapp_set(&f->t, "national_timeout_ms", "300");
	testapp_set(&f->t, "population_url", arena_printf(&a, "http://127.0.0.1:%d/population", ntohs(sa.sin_port)));
	int64_t t = time_mono_us();
	assert_int_equal(national_citizen_by_id(&c, "030095001234", "test", &p, &e), ERR_GATEWAY_TIMEOUT);
	assert_true(time_mono_us() - t < 3 * US);
	assert_non_null(strstr(e.msg, "300 ms"));
	err_clear(&e);
	close(hole);
	testapp_set(&f->t, "population_url", "");
	testapp_set(&f->t, "sim_url", "");
	assert_int_equal(national_citizen_by_id(&c, "030095001234", "test", &p, &e), ERR_UNAVAILABLE);
	assert_non_null(strstr(e.msg, "population_url"));
	arena_free(&a);
}

int main(void)
{
	const struct CMUnitTest alone[] = {
		cmocka_unit_test(test_time_format),
		cmocka_unit_test(test_sample_population_consistent),
	};
	const struct CMUnitTest db[] = {
		cmocka_unit_test_setup_teardown(test_queue, setup, teardown),
		cmocka_unit_test_setup_teardown(test_push_in_order_with_retries, setup, teardown),
		cmocka_unit_test_setup_teardown(test_give_up_and_requeue, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_portal_configured, setup, teardown),
		cmocka_unit_test_setup_teardown(test_worker_thread, setup, teardown),
		cmocka_unit_test_setup_teardown(test_adapters, setup, teardown),
	};
	log_level = LOG_OFF;
	int failed = cmocka_run_group_tests_name("sync", alone, NULL, NULL);
	failed += cmocka_run_group_tests_name("sync on SQLite", db, NULL, NULL);
	if (testapp_pg_url()) {
		use_pg = true;
		failed += cmocka_run_group_tests_name("sync on PostgreSQL", db, NULL, NULL);
	} else {
		printf("TINHSO_TEST_PG_URL is not set: the PostgreSQL run is skipped\n");
	}
	return failed;
}
