/* test_notify.c: notify.h against a temporary SQLite database opened the way
 * the server opens it (app_open). Covers the rows an event queues (channels by
 * the contacts known and the settings, Vietnamese and English texts with their
 * diacritics, dates and amounts, optional sections), dedupe on a repeated
 * event, nothing left by a rolled-back transaction, the officials' events, the
 * shipped catalogs against the built-in copies; delivery: the file sink exactly
 * once across a simulated crash (and a torn line), SMS through the simulated
 * gateway of tinhso-sim (compiled in from src/sim/sim_sms.c and served
 * in-process) with backoff on failures, giving up after the maximum attempts
 * and at once on a refusal, e-mail through a tiny SMTP server (encoded subject,
 * Message-ID, base64 UTF-8 body); the deadline scanner on the default office
 * calendar (office time, not wall time; once per deadline); and the threads
 * started and stopped. The database tests run on SQLite, then again on
 * PostgreSQL when TINHSO_TEST_PG_URL names a throwaway database (each test
 * starts from an empty schema public: DROP SCHEMA public CASCADE). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app/app.h"
#include "base/config.h"
#include "base/json.h"
#include "base/log.h"
#include "base/time.h"
#include "calendar/calendar.h"
#include "crypto/crypto.h"
#include "http/http.h"
#include "notify/notify.h"
#include "store/store.h"
#include "support/testapp.h"

/* the simulated SMS gateway, served in-process */
#include "../../src/sim/sim_sms.c"

#define AGENCY "000.00.30.H23"
#define AGENCY_NAME "UBND xã Tân Hưng"
#define OTHER_AGENCY "000.00.31.H23"
#define EMPTY_AGENCY "000.00.32.H23"
#define PROC "1.001193"
#define PROC_NAME "Đăng ký khai sinh"
#define US INT64_C(1000000)

struct fx {
	struct testapp t;
	char web[1100];
};

/* ---- helpers ---- */

static void add_user(struct fx *f, const char *username, const char *role, const char *agency, const char *email,
		     const char *phone, int disabled)
{
	struct testapp_user u = {.username = username, .role = role, .agency = agency, .email = email, .phone = phone,
				 .disabled = disabled};
	testapp_add_user(&f->t, &u);
}

static bool use_pg;

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	assert_non_null(f);
	snprintf(f->web, sizeof f->web, "%s/web", testapp_source_dir());
	char probe[1200];
	snprintf(probe, sizeof probe, "%s/i18n/vi/notify.json", f->web);
	assert_int_equal(access(probe, R_OK), 0);
	testapp_init(&f->t, "notify", use_pg);
	testapp_set(&f->t, "web_dir", f->web);
	testapp_open(&f->t);
	testapp_add_agency(&f->t, AGENCY, AGENCY_NAME, NULL, "commune", "people_committee");
	testapp_add_agency(&f->t, OTHER_AGENCY, "UBND xã Khác", NULL, "commune", "people_committee");
	testapp_add_agency(&f->t, EMPTY_AGENCY, "UBND xã Vắng", NULL, "commune", "people_committee");
	testapp_add_procedure(&f->t, PROC, PROC_NAME, ",commune,", "commune_ubnd", 3);
	add_user(f, "canbo1", "official", AGENCY, "canbo1@tanhung.gov.vn", "0912000001", 0);
	add_user(f, "lanhdao", "leader", AGENCY, NULL, "0912000002", 0);
	add_user(f, "nghiviec", "official", AGENCY, "old@tanhung.gov.vn", "0912000003", 1);
	add_user(f, "congdan", "citizen", AGENCY, "dan@example.vn", "0912000004", 0);
	add_user(f, "canbokhac", "official", OTHER_AGENCY, "khac@example.vn", "0912000005", 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	notify_stop(&f->t.app);
	testapp_close(&f->t);
	free(f);
	return 0;
}

/* 14/03/2025 09:30 in Vietnam */
static int64_t due_example(void)
{
	return ((int64_t)days_from_civil(2025, 3, 14) * 86400 + 9 * 3600 + 30 * 60 - TIME_OFFSET_S) * US;
}

static struct notify_dossier dossier(const char *code)
{
	struct notify_dossier d = {
		.code = code,
		.procedure_name = PROC_NAME,
		.agency_code = AGENCY,
		.agency_name = AGENCY_NAME,
		.applicant_name = "Nguyễn Thị Hồng",
		.email = "hong@example.vn",
		.phone = "0987654321",
		.lang = "vi",
		.due_at = due_example(),
		.step_id = 7,
	};
	return d;
}

struct ev_job {
	struct app *app;
	enum notify_event ev;
	const struct notify_dossier *d;
	bool fail_after; /* return an error after queueing: the transaction rolls back */
};

static int ev_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct ev_job *j = arg;
	struct arena a = ARENA_INIT;
	struct ctx c = {.app = j->app, .a = &a, .actor = "system"};
	int rc = notify_dossier_event(tx, &c, j->ev, j->d, e);
	arena_free(&a);
	if (rc < 0)
		return rc;
	if (j->fail_after)
		return err_set(e, ERR_CONFLICT, "the caller's change failed");
	return 0;
}

static int queue(struct fx *f, enum notify_event ev, const struct notify_dossier *d, bool fail_after)
{
	struct ev_job j = {&f->t.app, ev, d, fail_after};
	struct err e = {0};
	return store_write(f->t.app.db, ev_fn, &j, &e);
}

static int64_t rows(struct fx *f)
{
	return testapp_int(&f->t, "SELECT COUNT(*) FROM outbox", NOARGS);
}

/* The payload of the row of that channel (and recipient, NULL: the applicant), parsed. */
static json_t *payload(struct fx *f, const char *channel, const char *recipient)
{
	char *p = testapp_text(&f->t,
			       "SELECT payload FROM outbox WHERE channel = $1 AND payload LIKE $2 ORDER BY id DESC LIMIT 1",
			       ARGS(SA_TEXT(channel), SA_TEXT(recipient ? recipient : "%\"recipient\":\"applicant\"%")));
	if (!p)
		return NULL;
	json_t *j = json_loads(p, 0, NULL);
	assert_non_null(j);
	return j;
}

static const char *js(json_t *j, const char *key)
{
	const char *s = json_string_value(json_object_get(j, key));
	if (!s)
		fail_msg("no string '%s' in the payload", key);
	return s;
}

/* ---- queueing ---- */

static void test_event_names(void **state)
{
	assert_string_equal(notify_event_name(NE_RECEIVED), "received");
	assert_string_equal(notify_event_name(NE_SUPPLEMENT_REQUESTED), "supplement_requested");
	assert_string_equal(notify_event_name(NE_OVERDUE), "overdue");
	assert_string_equal(notify_event_name(NE_COUNT), "unknown");
}

static void test_channels_and_text(void **state)
{
	struct fx *f = *state;
	testapp_set(&f->t, "smtp_url", "smtp://127.0.0.1:9");
	testapp_set(&f->t, "sim_url", "http://127.0.0.1:9/");
	struct notify_dossier d = dossier("000.00.30.H23-250310-0001");
	assert_int_equal(queue(f, NE_RECEIVED, &d, false), 0);
	assert_int_equal(rows(f), 3);
	assert_int_equal(testapp_int(&f->t, "SELECT COUNT(*) FROM outbox WHERE kind = 'notify' AND attempts = 0 AND "
					"done_at IS NULL AND next_at > 0",
				     NOARGS),
			 3);

	json_t *sms = payload(f, "sms", NULL);
	assert_string_equal(js(sms, "text"), "Hồ sơ 000.00.30.H23-250310-0001 (Đăng ký khai sinh) đã được tiếp nhận "
					     "tại UBND xã Tân Hưng. Hẹn trả kết quả: 14/03/2025 09:30.");
	assert_string_equal(js(sms, "to"), "0987654321");
	assert_string_equal(js(sms, "event"), "received");
	assert_string_equal(js(sms, "event_id"), "000.00.30.H23-250310-0001:received:7");
	assert_string_equal(js(sms, "dossier"), "000.00.30.H23-250310-0001");
	assert_string_equal(js(sms, "lang"), "vi");
	assert_null(json_object_get(sms, "subject"));
	json_decref(sms);
	char *dd = testapp_text(&f->t, "SELECT dedupe FROM outbox WHERE channel = 'sms'", NOARGS);
	assert_string_equal(dd, "000.00.30.H23-250310-0001:received:7:sms");

	json_t *mail = payload(f, "email", NULL);
	assert_string_equal(js(mail, "to"), "hong@example.vn");
	assert_string_equal(js(mail, "subject"), "Hồ sơ 000.00.30.H23-250310-0001 đã được tiếp nhận");
	assert_non_null(strstr(js(mail, "text"), "Kính gửi Ông/Bà Nguyễn Thị Hồng,\n\n"));
	assert_non_null(strstr(js(mail, "text"), "Thời gian hẹn trả kết quả: 14/03/2025 09:30."));
	json_decref(mail);

	json_t *file = payload(f, "file", NULL);
	assert_string_equal(js(file, "to"), "Nguyễn Thị Hồng");
	assert_string_equal(js(file, "recipient"), "applicant");
	assert_non_null(strstr(js(file, "text"), "Trân trọng,\nUBND xã Tân Hưng"));
	json_decref(file);

	/* no e-mail address, an unusable one, no phone: fewer channels */
	d = dossier("D2");
	d.email = NULL;
	assert_int_equal(queue(f, NE_RECEIVED, &d, false), 0);
	assert_int_equal(testapp_int(&f->t, "SELECT COUNT(*) FROM outbox WHERE dedupe LIKE 'D2:%'", NOARGS), 2);
	d = dossier("D3");
	d.email = "x@y.vn>\r\nRCPT TO:<evil@z.vn";
	d.phone = "";
	assert_int_equal(queue(f, NE_RECEIVED, &d, false), 0);
	assert_int_equal(testapp_int(&f->t, "SELECT COUNT(*) FROM outbox WHERE dedupe LIKE 'D3:%'", NOARGS), 1);
	assert_int_equal(testapp_int(&f->t, "SELECT COUNT(*) FROM outbox WHERE dedupe = 'D3:received:7:file'", NOARGS), 1);
	/* no SMTP server, no SMS gateway, no file sink: nothing */
	testapp_set(&f->t, "smtp_url", "");
	testapp_set(&f->t, "sim_url", "");
	testapp_set(&f->t, "notify_file", "");
	d = dossier("D4");
	assert_int_equal(queue(f, NE_RECEIVED, &d, false), 0);
	assert_int_equal(testapp_int(&f->t, "SELECT COUNT(*) FROM outbox WHERE dedupe LIKE 'D4:%'", NOARGS), 0);
	/* an explicit SMS gateway without the simulator */
	testapp_set(&f->t, "sms_url", "http://127.0.0.1:9/send");
	assert_int_equal(queue(f, NE_RECEIVED, &d, false), 0);
	assert_int_equal(testapp_int(&f->t, "SELECT COUNT(*) FROM outbox WHERE dedupe = 'D4:received:7:sms'", NOARGS), 1);
}

static void test_dedupe_and_rollback(void **state)
{
	struct fx *f = *state;
	testapp_set(&f->t, "smtp_url", "smtp://127.0.0.1:9");
	testapp_set(&f->t, "sim_url", "http://127.0.0.1:9");
	struct notify_dossier d = dossier("D1");
	assert_int_equal(queue(f, NE_RECEIVED, &d, false), 0);
	assert_int_equal(rows(f), 3);
	/* the same event again (a retried callback): one row per channel still, no error */
	assert_int_equal(queue(f, NE_RECEIVED, &d, false), 0);
	assert_int_equal(rows(f), 3);
	/* another step of the same kind is another event */
	d.step_id = 8;
	assert_int_equal(queue(f, NE_RECEIVED, &d, false), 0);
	assert_int_equal(rows(f), 6);
	/* a transaction that fails after queueing leaves nothing */
	d = dossier("D9");
	assert_int_equal(queue(f, NE_RECEIVED, &d, true), ERR_CONFLICT);
	assert_int_equal(testapp_int(&f->t, "SELECT COUNT(*) FROM outbox WHERE dedupe LIKE 'D9:%'", NOARGS), 0);
	assert_int_equal(rows(f), 6);
	/* bad calls are the caller's bugs */
	d.code = NULL;
	assert_int_equal(queue(f, NE_RECEIVED, &d, false), ERR_INTERNAL);
	d.code = "D9";
	assert_int_equal(queue(f, NE_COUNT, &d, false), ERR_INTERNAL);
	assert_int_equal(rows(f), 6);
}

static void test_languages_amounts_sections(void **state)
{
	struct fx *f = *state;
	testapp_set(&f->t, "sim_url", "http://127.0.0.1:9");
	struct notify_dossier d = dossier("P1");
	d.amount = 1250000;
	d.note = NULL;
	assert_int_equal(queue(f, NE_PAYMENT_REQUESTED, &d, false), 0);
	json_t *j = payload(f, "sms", "%P1:payment_requested%");
	assert_string_equal(js(j, "text"),
			    "Hồ sơ P1: đề nghị Ông/Bà nộp phí, lệ phí 1.250.000 đồng để UBND xã Tân Hưng tiếp tục giải quyết.");
	json_decref(j);
	j = payload(f, "file", "%P1:payment_requested%");
	assert_non_null(strstr(js(j, "text"), "thực hiện nghĩa vụ tài chính: 1.250.000 đồng."));
	assert_null(strstr(js(j, "text"), "Nội dung:")); /* the empty note's section is left out */
	json_decref(j);

	d = dossier("P2");
	d.lang = "en";
	d.amount = 1250000;
	d.procedure_name = "Birth registration";
	assert_int_equal(queue(f, NE_PAYMENT_REQUESTED, &d, false), 0);
	j = payload(f, "sms", "%P2:payment_requested%");
	assert_string_equal(js(j, "text"), "Dossier P2: please pay the fees of 1,250,000 VND so that UBND xã Tân Hưng "
					   "can continue processing it.");
	assert_string_equal(js(j, "lang"), "en");
	json_decref(j);

	/* a refusal with and without a reason; a newline in the reason stays out of the SMS */
	d = dossier("R1");
	d.note = "Thiếu bản sao giấy chứng sinh\nvà CCCD của người đi đăng ký";
	assert_int_equal(queue(f, NE_REFUSED, &d, false), 0);
	j = payload(f, "sms", "%R1:refused%");
	assert_string_equal(js(j, "text"), "Hồ sơ R1 (Đăng ký khai sinh) không được tiếp nhận tại UBND xã Tân Hưng. Lý "
					   "do: Thiếu bản sao giấy chứng sinh và CCCD của người đi đăng ký");
	json_decref(j);
	d = dossier("R2");
	assert_int_equal(queue(f, NE_REFUSED, &d, false), 0);
	j = payload(f, "sms", "%R2:refused%");
	assert_string_equal(js(j, "text"),
			    "Hồ sơ R2 (Đăng ký khai sinh) không được tiếp nhận tại UBND xã Tân Hưng.");
	json_decref(j);

	/* a long note: the SMS is cut at 320 characters, the e-mail/file text is not */
	char note[2001];
	for (int i = 0; i < 1000; i++)
		memcpy(note + 2 * i, "ư", 2); /* 1000 two-byte characters */
	note[2000] = 0;
	d = dossier("L1");
	d.note = note;
	assert_int_equal(queue(f, NE_STOPPED, &d, false), 0);
	j = payload(f, "sms", "%L1:stopped%");
	const char *t = js(j, "text");
	size_t chars = 0;
	for (const char *p = t; *p; p++)
		chars += ((unsigned char)*p & 0xc0) != 0x80;
	assert_int_equal(chars, 320);
	assert_non_null(strstr(t, "…"));
	assert_true(utf8_valid(t, strlen(t)));
	json_decref(j);
	j = payload(f, "file", "%L1:stopped%");
	assert_non_null(strstr(js(j, "text"), note));
	json_decref(j);
}

/* The shipped catalogs render exactly as the built-in copies. */
static void test_catalogs_match_builtin(void **state)
{
	struct fx *f = *state;
	testapp_set(&f->t, "smtp_url", "smtp://127.0.0.1:9");
	testapp_set(&f->t, "sim_url", "http://127.0.0.1:9");
	char missing[1100];
	snprintf(missing, sizeof missing, "%s/no-such-web", f->t.dir);
	for (int lang = 0; lang < 2; lang++) {
		for (int ev = 0; ev < NE_DUE_SOON; ev++) {
			char code[64];
			snprintf(code, sizeof code, "C-%d-%d", lang, ev);
			struct notify_dossier d = dossier(code);
			d.lang = lang ? "en" : "vi";
			d.amount = 30000;
			d.note = "ghi chú";
			d.step_id = 1;
			testapp_set(&f->t, "web_dir", f->web);
			assert_int_equal(queue(f, (enum notify_event)ev, &d, false), 0);
			d.step_id = 2;
			testapp_set(&f->t, "web_dir", missing);
			assert_int_equal(queue(f, (enum notify_event)ev, &d, false), 0);
			static const char *const ch[] = {"sms", "email", "file"};
			for (int c = 0; c < 3; c++) {
				char like_a[100], like_b[100];
				snprintf(like_a, sizeof like_a, "%%\"event_id\":\"%s:%s:1\"%%", code,
					 notify_event_name((enum notify_event)ev));
				snprintf(like_b, sizeof like_b, "%%\"event_id\":\"%s:%s:2\"%%", code,
					 notify_event_name((enum notify_event)ev));
				json_t *a = payload(f, ch[c], like_a), *b = payload(f, ch[c], like_b);
				assert_non_null(a);
				assert_non_null(b);
				assert_string_equal(js(a, "text"), js(b, "text"));
				if (c > 0)
					assert_string_equal(js(a, "subject"), js(b, "subject"));
				assert_null(strstr(js(a, "text"), "{"));
				assert_null(strstr(js(a, "text"), "[["));
				json_decref(a);
				json_decref(b);
			}
		}
	}
	testapp_set(&f->t, "web_dir", f->web);
}

/* An operator's catalog overrides what it names; the rest, and a broken
 * catalog, fall back to the built-in templates. */
static void test_catalog_override(void **state)
{
	struct fx *f = *state;
	testapp_set(&f->t, "sim_url", "http://127.0.0.1:9");
	char web[1100], path[1200];
	snprintf(web, sizeof web, "%s/web", f->t.dir);
	const char *dirs[] = {"", "/i18n", "/i18n/vi", "/i18n/en"};
	for (int i = 0; i < 4; i++) {
		snprintf(path, sizeof path, "%s%s", web, dirs[i]);
		assert_int_equal(mkdir(path, 0700), 0);
	}
	snprintf(path, sizeof path, "%s/i18n/vi/notify.json", web);
	FILE *fp = fopen(path, "wb");
	assert_non_null(fp);
	fputs("{\"_comment\": \"x\", \"received\": {\"sms\": \"Tùy chỉnh {code}: {due}{unknown}\", \"body\": 3},"
	      " \"no_such_event\": {}}",
	      fp);
	fclose(fp);
	snprintf(path, sizeof path, "%s/i18n/en/notify.json", web);
	fp = fopen(path, "wb");
	assert_non_null(fp);
	fputs("{\"received\": ", fp); /* broken */
	fclose(fp);
	testapp_set(&f->t, "web_dir", web);
	struct notify_dossier d = dossier("K1");
	assert_int_equal(queue(f, NE_RECEIVED, &d, false), 0);
	json_t *j = payload(f, "sms", "%K1:received%");
	assert_string_equal(js(j, "text"), "Tùy chỉnh K1: 14/03/2025 09:30{unknown}");
	json_decref(j);
	j = payload(f, "file", "%K1:received%");
	assert_non_null(strstr(js(j, "text"), "Thời gian hẹn trả kết quả: 14/03/2025 09:30."));
	json_decref(j);
	d = dossier("K2");
	d.lang = "en";
	assert_int_equal(queue(f, NE_RECEIVED, &d, false), 0);
	j = payload(f, "sms", "%K2:received%");
	assert_string_equal(js(j, "text"), "Dossier K2 (Đăng ký khai sinh) was received at UBND xã Tân Hưng. Result due: "
					   "14/03/2025 09:30.");
	json_decref(j);
}

static void test_official_events(void **state)
{
	struct fx *f = *state;
	testapp_set(&f->t, "smtp_url", "smtp://127.0.0.1:9");
	testapp_set(&f->t, "sim_url", "http://127.0.0.1:9");
	struct notify_dossier d = dossier("O1");
	d.email = "applicant-must-not-get-this@example.vn";
	d.step_id = 1700000000000000;
	assert_int_equal(queue(f, NE_DUE_SOON, &d, false), 0);
	/* canbo1: email, sms, file; lanhdao (no e-mail): sms, file; disabled, citizen, other agency: none */
	assert_int_equal(rows(f), 5);
	assert_int_equal(testapp_int(&f->t, "SELECT COUNT(*) FROM outbox WHERE payload LIKE '%applicant-must-not%'", NOARGS), 0);
	int64_t canbo1 = testapp_int(&f->t, "SELECT id FROM users WHERE username = 'canbo1'", NOARGS);
	char key[64], like[80];
	snprintf(key, sizeof key, "O1:due_soon:1700000000000000:email:user:%lld", (long long)canbo1);
	assert_int_equal(testapp_int(&f->t, "SELECT COUNT(*) FROM outbox WHERE dedupe = $1", ARGS(SA_TEXT(key))), 1);
	snprintf(like, sizeof like, "%%\"recipient\":\"user:%lld\"%%", (long long)canbo1);
	json_t *j = payload(f, "email", like);
	assert_string_equal(js(j, "to"), "canbo1@tanhung.gov.vn");
	assert_string_equal(js(j, "subject"), "Sắp đến hạn: hồ sơ O1");
	json_decref(j);
	j = payload(f, "sms", like);
	assert_string_equal(js(j, "text"), "Hồ sơ O1 (Đăng ký khai sinh) sắp đến hạn trả kết quả: 14/03/2025 09:30.");
	json_decref(j);
	assert_int_equal(queue(f, NE_DUE_SOON, &d, false), 0);
	assert_int_equal(rows(f), 5);

	/* an agency without officials: the file sink still records the event */
	d = dossier("O2");
	d.agency_code = EMPTY_AGENCY;
	d.agency_name = "UBND xã Vắng";
	assert_int_equal(queue(f, NE_OVERDUE, &d, false), 0);
	assert_int_equal(rows(f), 6);
	j = payload(f, "file", "%\"recipient\":\"agency:" EMPTY_AGENCY "\"%");
	assert_non_null(j);
	assert_string_equal(js(j, "subject"), "Quá hạn: hồ sơ O2");
	json_decref(j);
}

/* ---- delivery: file sink ---- */

/* Lines of the sink; *matching counts those with that event id. */
static int file_lines(struct fx *f, const char *event_id, int *matching, int *whole)
{
	char path[256];
	snprintf(path, sizeof path, "%s/notifications.jsonl", f->t.dir);
	FILE *fp = fopen(path, "rb");
	int n = 0;
	*matching = 0;
	*whole = 0;
	if (!fp)
		return 0;
	char line[65536];
	while (fgets(line, sizeof line, fp)) {
		n++;
		json_t *j = json_loads(line, 0, NULL);
		if (j) {
			(*whole)++;
			const char *ev = json_string_value(json_object_get(j, "event_id"));
			if (ev && strcmp(ev, event_id) == 0)
				(*matching)++;
		}
		json_decref(j);
	}
	fclose(fp);
	return n;
}

static void test_file_sink_once(void **state)
{
	struct fx *f = *state;
	struct notify_dossier d = dossier("F1");
	assert_int_equal(queue(f, NE_RECEIVED, &d, false), 0);
	assert_int_equal(rows(f), 1);
	struct err e = {0};
	int64_t now = time_now_us() + 10 * US;
	assert_int_equal(notify_deliver_batch(&f->t.app, now, &e), 1);
	int m, whole;
	assert_int_equal(file_lines(f, "F1:received:7", &m, &whole), 1);
	assert_int_equal(m, 1);
	assert_int_equal(testapp_int(&f->t, "SELECT COUNT(*) FROM outbox WHERE done_at IS NOT NULL AND attempts = 1 AND "
					"last_error IS NULL",
				     NOARGS),
			 1);
	assert_int_equal(notify_deliver_batch(&f->t.app, now, &e), 0);

	/* a crash after the line was written but before the row was marked:
	 * the row is due again once its claim expires; a restarted worker
	 * (fresh state, reading the file again) must not write it twice */
	notify_stop(&f->t.app);
	testapp_exec(&f->t, "UPDATE outbox SET done_at = NULL, claimed_until = 0, attempts = 0", NOARGS);
	assert_int_equal(notify_deliver_batch(&f->t.app, now, &e), 1);
	assert_int_equal(file_lines(f, "F1:received:7", &m, &whole), 1);
	assert_int_equal(m, 1);
	assert_int_equal(testapp_int(&f->t, "SELECT COUNT(*) FROM outbox WHERE done_at IS NOT NULL", NOARGS), 1);
	/* the same without a restart (the in-memory set) */
	testapp_exec(&f->t, "UPDATE outbox SET done_at = NULL, claimed_until = 0", NOARGS);
	assert_int_equal(notify_deliver_batch(&f->t.app, now, &e), 1);
	assert_int_equal(file_lines(f, "F1:received:7", &m, &whole), 1);

	/* a claimed row is not taken by another worker until the claim expires */
	d.step_id = 8;
	assert_int_equal(queue(f, NE_RECEIVED, &d, false), 0);
	testapp_exec(&f->t, "UPDATE outbox SET claimed_until = $1 WHERE done_at IS NULL", ARGS(SA_INT(now + 60 * US)));
	assert_int_equal(notify_deliver_batch(&f->t.app, now, &e), 0);
	assert_int_equal(notify_deliver_batch(&f->t.app, now + 61 * US, &e), 1);
	assert_int_equal(file_lines(f, "F1:received:8", &m, &whole), 2);
	assert_int_equal(m, 1);

	/* a torn write (crash in the middle of a line): the line goes again, whole */
	d.step_id = 9;
	assert_int_equal(queue(f, NE_RECEIVED, &d, false), 0);
	char path[256];
	snprintf(path, sizeof path, "%s/notifications.jsonl", f->t.dir);
	FILE *fp = fopen(path, "ab");
	assert_non_null(fp);
	fputs("{\"event\":\"received\",\"event_id\":\"F1:received:9\",\"chan", fp);
	fclose(fp);
	notify_stop(&f->t.app);
	assert_int_equal(notify_deliver_batch(&f->t.app, now, &e), 1);
	assert_int_equal(file_lines(f, "F1:received:9", &m, &whole), 4);
	assert_int_equal(m, 1);
	assert_int_equal(whole, 3);
	assert_int_equal(testapp_int(&f->t, "SELECT COUNT(*) FROM outbox WHERE done_at IS NULL", NOARGS), 0);
}

/* ---- delivery: SMS through the simulated gateway ---- */

struct http_res {
	long status;
	struct buf body;
};

static size_t collect(char *p, size_t size, size_t n, void *arg)
{
	buf_append(arg, p, size * n);
	return size * n;
}

static void http_do(int port, const char *method, const char *path, const char *body, struct http_res *r)
{
	buf_free(&r->body);
	r->status = 0;
	char url[512];
	snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
	CURL *h = curl_easy_init();
	assert_non_null(h);
	struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
	if (body)
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &r->body);
	assert_int_equal(curl_easy_perform(h), CURLE_OK);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
	curl_slist_free_all(hdr);
	curl_easy_cleanup(h);
}

/* Forgets what the in-process gateway holds (its state is sim_sms.c's statics). */
static void sim_reset(void)
{
	pthread_mutex_lock(&mu);
	for (size_t i = 0; i < ring_len; i++) {
		struct sms *m = &ring[(ring_start + i) % SMS_MAX];
		free(m->id);
		free(m->text);
	}
	ring_start = ring_len = 0;
	fail_next = 0;
	pthread_mutex_unlock(&mu);
}

static struct http_server *sim_start(int *port)
{
	sim_reset();
	struct http_options o = {0};
	o.host = "127.0.0.1";
	o.port = 0;
	o.threads = 2;
	o.workers = 2;
	o.max_body = 1 << 20;
	o.max_upload = 1 << 20;
	o.max_connections = 64;
	o.max_per_ip = 64;
	o.conn_timeout = 10;
	struct http_server *srv;
	struct err e = {0};
	if (http_start(&srv, &o, sim_sms_routes, sim_sms_nroutes, NULL, &e) != 0)
		fail_msg("http_start: %s", e.msg);
	*port = http_port(srv);
	return srv;
}

static int64_t sms_count(int port, const char *to)
{
	struct http_res r = {0};
	char path[128];
	snprintf(path, sizeof path, "/sms/messages?to=%s", to);
	http_do(port, "GET", path, NULL, &r);
	assert_int_equal(r.status, 200);
	json_t *j = json_loads(buf_cstr(&r.body), 0, NULL);
	assert_non_null(j);
	int64_t n = json_integer_value(json_object_get(j, "total"));
	assert_int_equal((int64_t)json_array_size(json_object_get(j, "items")), n);
	json_decref(j);
	buf_free(&r.body);
	return n;
}

static void test_sim_gateway(void **state)
{
	int port;
	struct http_server *srv = sim_start(&port);
	struct http_res r = {0};
	const char *ok = "{\"to\":\"+84911222333\",\"text\":\"Xin chào Hải Dương\",\"id\":\"k1\"}";
	http_do(port, "POST", "/sms/send", ok, &r);
	assert_int_equal(r.status, 202);
	json_t *j = json_loads(buf_cstr(&r.body), 0, NULL);
	char mid[64];
	snprintf(mid, sizeof mid, "%s", json_string_value(json_object_get(j, "message_id")));
	assert_true(strlen(mid) > 0);
	json_decref(j);
	/* the same id: 200, the same message id, nothing stored twice */
	http_do(port, "POST", "/sms/send", ok, &r);
	assert_int_equal(r.status, 200);
	j = json_loads(buf_cstr(&r.body), 0, NULL);
	assert_string_equal(json_string_value(json_object_get(j, "message_id")), mid);
	json_decref(j);
	assert_int_equal(sms_count(port, "0911222333"), 1);
	assert_int_equal(sms_count(port, "84911222333"), 1);
	/* validation: every bad field named */
	http_do(port, "POST", "/sms/send", "{\"to\":\"12345\",\"text\":\"\"}", &r);
	assert_int_equal(r.status, 422);
	j = json_loads(buf_cstr(&r.body), 0, NULL);
	json_t *fields = json_object_get(json_object_get(json_object_get(j, "error"), "details"), "fields");
	assert_non_null(json_object_get(fields, "to"));
	assert_non_null(json_object_get(fields, "text"));
	json_decref(j);
	struct buf big = BUF_INIT;
	buf_puts(&big, "{\"to\":\"0911222333\",\"text\":\"");
	for (int i = 0; i < 1001; i++)
		buf_puts(&big, "ệ");
	buf_puts(&big, "\"}");
	http_do(port, "POST", "/sms/send", buf_cstr(&big), &r);
	assert_int_equal(r.status, 422);
	buf_free(&big);
	http_do(port, "POST", "/sms/send", "{\"to\":\"0911222333\",\"text\":\"x\",\"extra\":1}", &r);
	assert_int_equal(r.status, 422);
	/* the failure switch */
	http_do(port, "POST", "/sms/fail", "{\"count\":2}", &r);
	assert_int_equal(r.status, 200);
	const char *other = "{\"to\":\"0911222333\",\"text\":\"thử lại\",\"id\":\"k2\"}";
	http_do(port, "POST", "/sms/send", other, &r);
	assert_int_equal(r.status, 503);
	http_do(port, "POST", "/sms/send", other, &r);
	assert_int_equal(r.status, 503);
	http_do(port, "POST", "/sms/send", other, &r);
	assert_int_equal(r.status, 202);
	assert_int_equal(sms_count(port, "0911222333"), 2);
	http_do(port, "GET", "/sms/messages?to=abc", NULL, &r);
	assert_int_equal(r.status, 422);
	buf_free(&r.body);
	http_stop(srv, 1000);
}

static void test_sms_retry_backoff(void **state)
{
	struct fx *f = *state;
	int port;
	struct http_server *srv = sim_start(&port);
	char url[128];
	snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
	testapp_set(&f->t, "sim_url", url);
	testapp_set(&f->t, "notify_file", "");
	struct notify_dossier d = dossier("S1");
	d.phone = "0977000111";
	assert_int_equal(queue(f, NE_RECEIVED, &d, false), 0);
	assert_int_equal(rows(f), 1);

	struct http_res r = {0};
	http_do(port, "POST", "/sms/fail", "{\"count\":2}", &r);
	assert_int_equal(r.status, 200);
	struct err e = {0};
	int64_t t = time_now_us() + 10 * US;
	assert_int_equal(notify_deliver_batch(&f->t.app, t, &e), 1);
	assert_int_equal(testapp_int(&f->t, "SELECT attempts FROM outbox", NOARGS), 1);
	int64_t next = testapp_int(&f->t, "SELECT next_at FROM outbox", NOARGS);
	assert_true(next >= t + 1600000 && next <= t + 2 * US); /* 2 s, up to 20% earlier */
	char *err = testapp_text(&f->t, "SELECT last_error FROM outbox", NOARGS);
	assert_non_null(strstr(err, "503"));
	assert_int_equal(testapp_int(&f->t, "SELECT COUNT(*) FROM outbox WHERE done_at IS NULL", NOARGS), 1);
	/* not due yet */
	assert_int_equal(notify_deliver_batch(&f->t.app, t + 1 * US, &e), 0);
	t = next;
	assert_int_equal(notify_deliver_batch(&f->t.app, t, &e), 1);
	assert_int_equal(testapp_int(&f->t, "SELECT attempts FROM outbox", NOARGS), 2);
	next = testapp_int(&f->t, "SELECT next_at FROM outbox", NOARGS);
	assert_true(next >= t + 3200000 && next <= t + 4 * US);
	assert_int_equal(sms_count(port, "0977000111"), 0);
	t = next;
	assert_int_equal(notify_deliver_batch(&f->t.app, t, &e), 1);
	assert_int_equal(testapp_int(&f->t, "SELECT COUNT(*) FROM outbox WHERE done_at IS NOT NULL AND attempts = 3 AND "
					"last_error IS NULL",
				     NOARGS),
			 1);
	assert_int_equal(sms_count(port, "0977000111"), 1);
	/* the gateway got the dedupe key as id and the Vietnamese text */
	http_do(port, "GET", "/sms/messages?to=0977000111", NULL, &r);
	json_t *j = json_loads(buf_cstr(&r.body), 0, NULL);
	json_t *item = json_array_get(json_object_get(j, "items"), 0);
	assert_string_equal(json_string_value(json_object_get(item, "id")), "S1:received:7:sms");
	assert_non_null(strstr(json_string_value(json_object_get(item, "text")), "đã được tiếp nhận"));
	json_decref(j);

	/* a crash before the row was marked: sent again, the gateway dedupes */
	testapp_exec(&f->t, "UPDATE outbox SET done_at = NULL, claimed_until = 0", NOARGS);
	assert_int_equal(notify_deliver_batch(&f->t.app, t, &e), 1);
	assert_int_equal(testapp_int(&f->t, "SELECT COUNT(*) FROM outbox WHERE done_at IS NOT NULL", NOARGS), 1);
	assert_int_equal(sms_count(port, "0977000111"), 1);

	/* backoff is capped at an hour */
	d = dossier("S2");
	d.phone = "0977000222";
	assert_int_equal(queue(f, NE_RECEIVED, &d, false), 0);
	testapp_exec(&f->t, "UPDATE outbox SET attempts = 20 WHERE dedupe LIKE 'S2:%'", NOARGS);
	testapp_set(&f->t, "outbox_max_attempts", "100");
	http_do(port, "POST", "/sms/fail", "{\"count\":1}", &r);
	assert_int_equal(notify_deliver_batch(&f->t.app, t, &e), 1);
	next = testapp_int(&f->t, "SELECT next_at FROM outbox WHERE dedupe LIKE 'S2:%'", NOARGS);
	assert_true(next >= t + 2880 * US && next <= t + 3600 * US);

	buf_free(&r.body);
	http_stop(srv, 1000);
}

static void test_sms_give_up(void **state)
{
	struct fx *f = *state;
	int port;
	struct http_server *srv = sim_start(&port);
	char url[128];
	snprintf(url, sizeof url, "http://127.0.0.1:%d/sms/send", port);
	testapp_set(&f->t, "sms_url", url);
	testapp_set(&f->t, "notify_file", "");
	testapp_set(&f->t, "outbox_max_attempts", "3");
	struct notify_dossier d = dossier("G1");
	d.phone = "0977000333";
	assert_int_equal(queue(f, NE_RESULT_READY, &d, false), 0);
	struct http_res r = {0};
	http_do(port, "POST", "/sms/fail", "{\"count\":100}", &r);
	struct err e = {0};
	int64_t t = time_now_us() + 10 * US;
	for (int i = 0; i < 3; i++) {
		assert_int_equal(notify_deliver_batch(&f->t.app, t, &e), 1);
		t += 3600 * US;
	}
	assert_int_equal(testapp_int(&f->t, "SELECT attempts FROM outbox", NOARGS), 3);
	assert_int_equal(testapp_int(&f->t, "SELECT COUNT(*) FROM outbox WHERE done_at IS NOT NULL AND last_error LIKE '%503%'",
				     NOARGS),
			 1);
	assert_int_equal(notify_deliver_batch(&f->t.app, t, &e), 0);
	http_do(port, "POST", "/sms/fail", "{\"count\":0}", &r);

	/* a refusal (422: not a mobile number) is final at once */
	d = dossier("G2");
	d.phone = "12345";
	assert_int_equal(queue(f, NE_RESULT_READY, &d, false), 0);
	assert_int_equal(notify_deliver_batch(&f->t.app, t, &e), 1);
	assert_int_equal(testapp_int(&f->t, "SELECT COUNT(*) FROM outbox WHERE dedupe LIKE 'G2:%' AND done_at IS NOT NULL AND "
					"attempts = 1 AND last_error LIKE '%422%'",
				     NOARGS),
			 1);
	/* an unreachable gateway is temporary */
	testapp_set(&f->t, "sms_url", "http://127.0.0.1:9/sms/send");
	d = dossier("G3");
	assert_int_equal(queue(f, NE_RESULT_READY, &d, false), 0);
	assert_int_equal(notify_deliver_batch(&f->t.app, t, &e), 1);
	assert_int_equal(testapp_int(&f->t, "SELECT COUNT(*) FROM outbox WHERE dedupe LIKE 'G3:%' AND done_at IS NULL AND "
					"attempts = 1 AND last_error IS NOT NULL",
				     NOARGS),
			 1);
	buf_free(&r.body);
	http_stop(srv, 1000);
}

/* ---- delivery: e-mail through a tiny SMTP server ---- */

struct smtp_srv {
	int fd, port;
	pthread_t th;
	bool reject_rcpt;
	int messages;
	struct buf from, rcpt, data;
};

static bool read_line(int fd, struct buf *line)
{
	buf_reset(line);
	char ch;
	while (read(fd, &ch, 1) == 1) {
		buf_putc(line, ch);
		if (ch == '\n')
			return true;
	}
	return false;
}

static void say(int fd, const char *s)
{
	if (write(fd, s, strlen(s)) < 0)
		return;
}

static void *smtp_main(void *arg)
{
	struct smtp_srv *s = arg;
	int c = accept(s->fd, NULL, NULL);
	if (c < 0)
		return NULL;
	struct buf line = BUF_INIT;
	say(c, "220 test ESMTP\r\n");
	while (read_line(c, &line)) {
		const char *l = buf_cstr(&line);
		if (strncasecmp(l, "EHLO", 4) == 0 || strncasecmp(l, "HELO", 4) == 0) {
			say(c, "250 test\r\n");
		} else if (strncasecmp(l, "MAIL FROM:", 10) == 0) {
			buf_puts(&s->from, l + 10);
			say(c, "250 OK\r\n");
		} else if (strncasecmp(l, "RCPT TO:", 8) == 0) {
			buf_puts(&s->rcpt, l + 8);
			say(c, s->reject_rcpt ? "550 no such user\r\n" : "250 OK\r\n");
		} else if (strncasecmp(l, "DATA", 4) == 0) {
			say(c, "354 go ahead\r\n");
			while (read_line(c, &line) && strcmp(buf_cstr(&line), ".\r\n") != 0)
				buf_append(&s->data, line.ptr, line.len);
			s->messages++;
			say(c, "250 queued\r\n");
		} else if (strncasecmp(l, "QUIT", 4) == 0) {
			say(c, "221 bye\r\n");
			break;
		} else if (strncasecmp(l, "RSET", 4) == 0 || strncasecmp(l, "NOOP", 4) == 0) {
			say(c, "250 OK\r\n");
		} else {
			say(c, "502 not implemented\r\n");
		}
	}
	buf_free(&line);
	close(c);
	return NULL;
}

static void smtp_start(struct smtp_srv *s)
{
	s->fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(s->fd >= 0);
	struct sockaddr_in a = {0};
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(s->fd, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(listen(s->fd, 4), 0);
	socklen_t len = sizeof a;
	assert_int_equal(getsockname(s->fd, (struct sockaddr *)&a, &len), 0);
	s->port = ntohs(a.sin_port);
	assert_int_equal(pthread_create(&s->th, NULL, smtp_main, s), 0);
}

static void smtp_finish(struct smtp_srv *s)
{
	pthread_join(s->th, NULL);
	close(s->fd);
}

/* The value of a header (unfolded), malloc'd; NULL when absent. */
static char *header(const char *msg, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = msg; p && *p;) {
		if (strncmp(p, name, n) == 0 && p[n] == ':') {
			struct buf v = BUF_INIT;
			const char *q = p + n + 1;
			while (*q == ' ')
				q++;
			for (;;) {
				const char *eol = strstr(q, "\r\n");
				buf_append(&v, q, (size_t)(eol - q));
				if (eol[2] != ' ' && eol[2] != '\t')
					break;
				q = eol + 3;
			}
			return v.ptr;
		}
		const char *eol = strstr(p, "\r\n");
		if (!eol || eol == p)
			break;
		p = eol + 2;
	}
	return NULL;
}

static char *b64_decode(const char *s, size_t n)
{
	size_t cap = n + 1, len = 0;
	char *out = calloc(1, cap);
	assert_int_equal(sodium_base642bin((unsigned char *)out, cap, s, n, "\r\n ", &len, NULL,
					   sodium_base64_VARIANT_ORIGINAL),
			 0);
	out[len] = 0;
	return out;
}

/* Decodes a header of =?UTF-8?B?...?= words. */
static char *decode_words(const char *v)
{
	struct buf out = BUF_INIT;
	const char *p = v;
	while ((p = strstr(p, "=?UTF-8?B?"))) {
		p += 10;
		const char *end = strstr(p, "?=");
		assert_non_null(end);
		assert_true(end - p + 12 <= 75);
		char *part = b64_decode(p, (size_t)(end - p));
		buf_puts(&out, part);
		free(part);
		p = end + 2;
	}
	return out.ptr;
}

static void test_email_smtp(void **state)
{
	struct fx *f = *state;
	struct smtp_srv s = {0};
	smtp_start(&s);
	char url[128];
	snprintf(url, sizeof url, "smtp://127.0.0.1:%d", s.port);
	testapp_set(&f->t, "smtp_url", url);
	testapp_set(&f->t, "smtp_from", "motcua@haiduong.gov.vn");
	testapp_set(&f->t, "notify_file", "");
	struct notify_dossier d = dossier("E1");
	d.phone = NULL;
	d.note = "Bổ sung bản sao Giấy chứng sinh.";
	assert_int_equal(queue(f, NE_SUPPLEMENT_REQUESTED, &d, false), 0);
	assert_int_equal(rows(f), 1);
	struct err e = {0};
	int64_t t = time_now_us() + 10 * US;
	assert_int_equal(notify_deliver_batch(&f->t.app, t, &e), 1);
	smtp_finish(&s);
	assert_int_equal(testapp_int(&f->t, "SELECT COUNT(*) FROM outbox WHERE done_at IS NOT NULL AND last_error IS NULL",
				     NOARGS),
			 1);
	assert_int_equal(s.messages, 1);
	assert_non_null(strstr(buf_cstr(&s.from), "<motcua@haiduong.gov.vn>"));
	assert_non_null(strstr(buf_cstr(&s.rcpt), "<hong@example.vn>"));
	const char *msg = buf_cstr(&s.data);
	char *subject = header(msg, "Subject");
	assert_non_null(subject);
	assert_non_null(strstr(subject, "=?UTF-8?B?"));
	char *plain = decode_words(subject);
	assert_string_equal(plain, "Yêu cầu bổ sung, hoàn thiện hồ sơ E1");
	free(plain);
	free(subject);
	char *ct = header(msg, "Content-Type");
	assert_string_equal(ct, "text/plain; charset=UTF-8");
	free(ct);
	char *mid = header(msg, "Message-ID");
	assert_non_null(mid);
	assert_true(mid[0] == '<' && strstr(mid, "@haiduong.gov.vn>"));
	char *date = header(msg, "Date");
	assert_non_null(strstr(date, "+0700"));
	free(date);
	const char *body = strstr(msg, "\r\n\r\n");
	assert_non_null(body);
	body += 4;
	char *text = b64_decode(body, strlen(body));
	assert_non_null(strstr(text, "Kính gửi Ông/Bà Nguyễn Thị Hồng,\r\n\r\n"));
	assert_non_null(strstr(text, "Nội dung cần bổ sung: Bổ sung bản sao Giấy chứng sinh."));
	free(text);

	/* a redelivery (crash before the row was marked) carries the same
	 * Message-ID, so that mail systems can drop the copy */
	struct smtp_srv s1b = {0};
	smtp_start(&s1b);
	snprintf(url, sizeof url, "smtp://127.0.0.1:%d", s1b.port);
	testapp_set(&f->t, "smtp_url", url);
	testapp_exec(&f->t, "UPDATE outbox SET done_at = NULL, claimed_until = 0", NOARGS);
	assert_int_equal(notify_deliver_batch(&f->t.app, t, &e), 1);
	smtp_finish(&s1b);
	assert_int_equal(s1b.messages, 1);
	char *mid2 = header(buf_cstr(&s1b.data), "Message-ID");
	assert_string_equal(mid, mid2);
	free(mid);
	free(mid2);
	buf_free(&s1b.from);
	buf_free(&s1b.rcpt);
	buf_free(&s1b.data);

	/* a 5xx refusal gives up at once */
	struct smtp_srv s2 = {0};
	s2.reject_rcpt = true;
	smtp_start(&s2);
	snprintf(url, sizeof url, "smtp://127.0.0.1:%d", s2.port);
	testapp_set(&f->t, "smtp_url", url);
	d = dossier("E2");
	d.phone = NULL;
	assert_int_equal(queue(f, NE_RETURNED, &d, false), 0);
	assert_int_equal(notify_deliver_batch(&f->t.app, t, &e), 1);
	smtp_finish(&s2);
	assert_int_equal(testapp_int(&f->t, "SELECT COUNT(*) FROM outbox WHERE dedupe LIKE 'E2:%' AND done_at IS NOT NULL AND "
					"attempts = 1 AND last_error LIKE '%550%'",
				     NOARGS),
			 1);
	buf_free(&s.from);
	buf_free(&s.rcpt);
	buf_free(&s.data);
	buf_free(&s2.from);
	buf_free(&s2.rcpt);
	buf_free(&s2.data);
}

/* ---- the deadline scanner ---- */

/* A Vietnam local time as unix microseconds. */
static int64_t vn(int y, unsigned m, unsigned d, int hh, int mm)
{
	return ((int64_t)days_from_civil(y, m, d) * 86400 + hh * 3600 + mm * 60 - TIME_OFFSET_S) * US;
}

static void add_dossier(struct fx *f, const char *code, int status, int64_t due_at, bool paused)
{
	testapp_exec(&f->t,
		     "INSERT INTO dossiers (code, procedure_code, agency_code, current_agency, channel, status, "
		     "applicant_name, applicant_name_fold, applicant_phone, form, submitted_at, received_at, due_at, "
		     "paused_at, created_at, updated_at) VALUES ($1, $2, $3, $3, 'online', $4, 'Trần Văn Bình', "
		     "'tran van binh', '0911000999', '{}', 0, 0, $5, $6, 0, 0)",
		     ARGS(SA_TEXT(code), SA_TEXT(PROC), SA_TEXT(AGENCY), SA_INT(status), SA_INT(due_at),
			  paused ? SA_INT(due_at - 86400 * US) : SA_NULL));
}

static int64_t event_rows(struct fx *f, const char *code, const char *event)
{
	char like[128];
	snprintf(like, sizeof like, "%s:%s:%%", code, event);
	return testapp_int(&f->t, "SELECT COUNT(*) FROM outbox WHERE dedupe LIKE $1", ARGS(SA_TEXT(like)));
}

static void test_deadline_scanner(void **state)
{
	struct fx *f = *state;
	testapp_set(&f->t, "sim_url", "http://127.0.0.1:9");
	struct calendar *cal = malloc(sizeof *cal);
	calendar_init_default(cal);
	/* Wednesday 12 March 2025, 10:00; due soon = 180 office minutes */
	int64_t now = vn(2025, 3, 12, 10, 0);
	add_dossier(f, "A", 4, vn(2025, 3, 12, 12, 0), false);	 /* 1.5 h of office time: due soon */
	add_dossier(f, "B", 2, vn(2025, 3, 12, 14, 0), false);	 /* 4 h away but 2.5 h of office time: due soon */
	add_dossier(f, "C", 4, vn(2025, 3, 12, 15, 0), false);	 /* 3.5 h of office time: not yet */
	add_dossier(f, "D", 4, vn(2025, 3, 11, 16, 0), false);	 /* overdue */
	add_dossier(f, "E", 5, vn(2025, 3, 11, 16, 0), true);	 /* paused for a supplement: nothing */
	add_dossier(f, "F", 9, vn(2025, 3, 11, 16, 0), false);	 /* resolved: nothing */
	add_dossier(f, "G", 4, vn(2025, 4, 30, 16, 0), false);	 /* weeks away */
	struct err e = {0};
	assert_int_equal(notify_scan_deadlines(&f->t.app, cal, now, &e), 3);
	/* two active officials of the agency, no SMTP server here: sms + file each */
	assert_int_equal(event_rows(f, "A", "due_soon"), 4);
	assert_int_equal(event_rows(f, "B", "due_soon"), 4);
	assert_int_equal(event_rows(f, "C", "due_soon"), 0);
	assert_int_equal(event_rows(f, "D", "overdue"), 4);
	assert_int_equal(event_rows(f, "D", "due_soon"), 0);
	assert_int_equal(testapp_int(&f->t, "SELECT COUNT(*) FROM outbox WHERE dedupe LIKE 'E:%' OR dedupe LIKE 'F:%' OR "
					"dedupe LIKE 'G:%'",
				     NOARGS),
			 0);
	assert_int_equal(testapp_int(&f->t, "SELECT due_soon_notified FROM dossiers WHERE code = 'A'", NOARGS), 1);
	assert_int_equal(testapp_int(&f->t, "SELECT overdue_notified FROM dossiers WHERE code = 'D'", NOARGS), 1);
	assert_int_equal(testapp_int(&f->t, "SELECT due_soon_notified + overdue_notified FROM dossiers WHERE code = 'C'", NOARGS),
			 0);
	json_t *j = payload(f, "sms", "%\"event_id\":\"D:overdue:%");
	assert_string_equal(js(j, "text"), "Hồ sơ D (Đăng ký khai sinh) đã quá hạn trả kết quả (hạn: 11/03/2025 16:00).");
	json_decref(j);
	int64_t before = rows(f);
	/* once per dossier and deadline */
	assert_int_equal(notify_scan_deadlines(&f->t.app, cal, now + 60 * US, &e), 0);
	assert_int_equal(rows(f), before);
	/* 12:30: C now has 2.5 h of office time left; A is overdue */
	now = vn(2025, 3, 12, 12, 30);
	assert_int_equal(notify_scan_deadlines(&f->t.app, cal, now, &e), 2);
	assert_int_equal(event_rows(f, "C", "due_soon"), 4);
	assert_int_equal(event_rows(f, "A", "overdue"), 4);
	/* the deadline of A moves (an extension) to 16:00: the dossier module
	 * resets the flags; exactly 3 h of office time left is due soon, and
	 * it is a new event (the old one stays) */
	testapp_exec(&f->t, "UPDATE dossiers SET due_at = $1, due_soon_notified = 0, overdue_notified = 0 WHERE code = 'A'",
		     ARGS(SA_INT(vn(2025, 3, 12, 16, 0))));
	assert_int_equal(notify_scan_deadlines(&f->t.app, cal, now, &e), 1);
	assert_int_equal(event_rows(f, "A", "due_soon"), 8);
	/* the weekend does not count: on Friday at 13:00 a dossier due on Monday
	 * at 08:30 has 5 h of office time left (not due soon) while B, C and A
	 * are now overdue; at 16:00 it has 2 h left */
	add_dossier(f, "H", 4, vn(2025, 3, 17, 8, 30), false);
	assert_int_equal(notify_scan_deadlines(&f->t.app, cal, vn(2025, 3, 14, 13, 0), &e), 3);
	assert_int_equal(event_rows(f, "B", "overdue"), 4);
	assert_int_equal(event_rows(f, "H", "due_soon"), 0);
	assert_int_equal(notify_scan_deadlines(&f->t.app, cal, vn(2025, 3, 14, 16, 0), &e), 1);
	assert_int_equal(event_rows(f, "H", "due_soon"), 4);
	free(cal);
}

/* ---- threads ---- */

static void test_threads(void **state)
{
	struct fx *f = *state;
	testapp_set(&f->t, "notify_workers", "2");
	struct err e = {0};
	assert_int_equal(notify_start(&f->t.app, &e), 0);
	assert_int_equal(notify_start(&f->t.app, &e), ERR_INTERNAL);
	struct notify_dossier d = dossier("T1");
	for (int i = 0; i < 40; i++) {
		d.step_id = i;
		assert_int_equal(queue(f, NE_RECEIVED, &d, false), 0);
	}
	int64_t deadline = time_mono_us() + 10 * US;
	while (testapp_int(&f->t, "SELECT COUNT(*) FROM outbox WHERE done_at IS NULL", NOARGS) > 0 && time_mono_us() < deadline)
		usleep(20000);
	assert_int_equal(testapp_int(&f->t, "SELECT COUNT(*) FROM outbox WHERE done_at IS NOT NULL AND attempts = 1", NOARGS), 40);
	int64_t t0 = time_mono_us();
	notify_stop(&f->t.app);
	assert_true(time_mono_us() - t0 < 3 * US); /* the scanner's 60 s wait is interrupted */
	assert_null(f->t.app.notify);
	char path[256];
	snprintf(path, sizeof path, "%s/notifications.jsonl", f->t.dir);
	FILE *fp = fopen(path, "rb");
	assert_non_null(fp);
	int lines = 0;
	for (int ch; (ch = fgetc(fp)) != EOF;)
		lines += ch == '\n';
	fclose(fp);
	assert_int_equal(lines, 40);
	notify_stop(&f->t.app); /* twice is harmless */
}

int main(void)
{
	const struct CMUnitTest alone[] = {
		cmocka_unit_test(test_event_names),
		cmocka_unit_test(test_sim_gateway),
	};
	const struct CMUnitTest db[] = {
		cmocka_unit_test_setup_teardown(test_channels_and_text, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dedupe_and_rollback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_languages_amounts_sections, setup, teardown),
		cmocka_unit_test_setup_teardown(test_catalogs_match_builtin, setup, teardown),
		cmocka_unit_test_setup_teardown(test_catalog_override, setup, teardown),
		cmocka_unit_test_setup_teardown(test_official_events, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_sink_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sms_retry_backoff, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sms_give_up, setup, teardown),
		cmocka_unit_test_setup_teardown(test_email_smtp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deadline_scanner, setup, teardown),
		cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
	};
	log_level = LOG_OFF;
	int failed = cmocka_run_group_tests_name("notify", alone, NULL, NULL);
	failed += cmocka_run_group_tests_name("notify on SQLite", db, NULL, NULL);
	if (testapp_pg_url()) {
		use_pg = true;
		failed += cmocka_run_group_tests_name("notify on PostgreSQL", db, NULL, NULL);
	} else {
		printf("TINHSO_TEST_PG_URL is not set: the PostgreSQL run is skipped\n");
	}
	return failed;
}
