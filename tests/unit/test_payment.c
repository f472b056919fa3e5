/* test_payment.c: payment.h against a temporary SQLite app (app_open:
 * migrations, keys) with agency, procedure, user and dossier rows inserted
 * directly (a dossier waiting on payment, status 6, clock paused).
 * Covers the signature (a known HMAC-SHA512 vector computed independently,
 * case, every tampered field, wrong and empty secrets), the request
 * validation, the callback applied once (payment paid, receipt number,
 * dossier resumed, notification queued, audit entry), replay as a no-op,
 * failure then retry, wrong amount / order / signature changing nothing but
 * the rejection's audit entry, receipt numbering per +07:00 year, who may
 * see payments, the e-receipt PDF, and the whole round trip over HTTP with
 * the simulated gateway of tinhso-sim (compiled in) and the real routes:
 * start -> pay page -> pay -> signed callback -> replay -> forged callbacks,
 * plus the adapter's errors (no gateway, gateway down). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/api.h"
#include "app/app.h"
#include "audit/audit.h"
#include "base/config.h"
#include "base/json.h"
#include "base/time.h"
#include "crypto/crypto.h"
#include "dossier/dossier.h"
#include "http/http.h"
#include "identity/identity.h"
#include "payment/gateway.h"
#include "payment/payment.h"
#include "store/store.h"
#include "support/testapp.h"

/* The simulated gateway, compiled into this test (tinhso-sim's sources are
 * not in the core library). */
#include "sim/sim_payment.c"

#define SECRET "unit-test-secret-7"
#define ROOT   "000.00.00.H23"
#define DEPT   "000.00.10.H23"
#define OTHER  "000.00.20.H23"
#define PROC   "1.001193"
#define CODE   "000.00.10.H23-250314-0001"
#define CCCD1  "030095001234"
#define CCCD2  "001203004567"
#define AMOUNT 50000

struct fx {
	struct testapp t;
	int64_t citizen_id, citizen2_id, official_id, other_id;
	struct principal citizen, citizen2, official, other;
	int64_t pay_id;
};

/* ---- fixture ---- */

static int64_t add_user(struct fx *f, const char *username, const char *role, const char *agency, const char *id_number)
{
	struct testapp_user u = {.username = username, .role = role, .agency = agency, .id_number = id_number,
				 .email = "an@example.vn", .phone = "0912345678"};
	return testapp_add_user(&f->t, &u);
}

struct req_run {
	struct fx *f;
	const char *code;
	int64_t amount;
	int64_t id;
};

static int req_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct req_run *r = arg;
	struct ctx c = {.app = &r->f->t.app, .a = &r->f->t.a, .actor = "cli:test"};
	return payment_request_tx(tx, &c, r->code, r->amount, "Lệ phí đăng ký khai sinh", &r->id, e);
}

static int64_t request_payment(struct fx *f, const char *code, int64_t amount)
{
	struct req_run r = {f, code, amount, 0};
	struct err e = {0};
	if (store_write(f->t.app.db, req_fn, &r, &e) < 0)
		fail_msg("payment_request_tx: %s", e.msg);
	assert_true(r.id > 0);
	return r.id;
}

static void add_dossier(struct fx *f, const char *code, int64_t applicant)
{
	int64_t now = time_now_us();
	int64_t day = 24LL * 3600 * 1000000;
	testapp_exec(
	    &f->t,
	    "INSERT INTO dossiers (code, procedure_code, agency_code, current_agency, channel, status, step, "
	    "applicant_user_id, applicant_name, applicant_name_fold, applicant_id_number, applicant_phone, "
	    "applicant_email, applicant_address, form, submitted_at, received_at, due_at, step_started_at, "
	    "step_due_at, paused_at, paused_remaining_us, resume_status, fee_total, fee_paid, created_at, updated_at) "
	    "VALUES ($1, $2, $3, $3, 'online', 6, 0, $4, 'Nguyễn Văn An', 'nguyen van an', $5, '0912345678', "
	    "'an@example.vn', 'Phường Trần Hưng Đạo, TP Hải Dương', '{}', $6, $6, $7, $6, $7, $6, $8, 4, $9, 0, $6, "
	    "$6)",
	    ARGS(SA_TEXT(code), SA_TEXT(PROC), SA_TEXT(DEPT), SA_INT(applicant), SA_TEXT(CCCD1), SA_INT(now),
		 SA_INT(now + 5 * day), SA_INT(3 * 3600LL * 1000000), SA_INT(AMOUNT)));
	testapp_exec(&f->t, "INSERT INTO dossier_agencies (dossier_code, agency_code) VALUES ($1, $2)",
		     ARGS(SA_TEXT(code), SA_TEXT(DEPT)));
}

static bool on_pg; /* the group being run */

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	assert_non_null(f);
	testapp_init(&f->t, "payment", on_pg);
	testapp_set(&f->t, "payment_secret", SECRET);
	char web[1100];
	snprintf(web, sizeof web, "%s/web", testapp_source_dir());
	testapp_set(&f->t, "web_dir", web);
	testapp_open(&f->t);
	testapp_add_agency(&f->t, ROOT, "Ủy ban nhân dân tỉnh Hải Dương", NULL, "province", "department");
	testapp_add_agency(&f->t, DEPT, "Sở Tư pháp", ROOT, "province", "department");
	testapp_add_agency(&f->t, OTHER, "Sở Xây dựng", ROOT, "province", "department");
	testapp_add_procedure(&f->t, PROC, "Đăng ký khai sinh", ",province,", "department:" DEPT, 5);
	f->citizen_id = add_user(f, CCCD1, "citizen", NULL, CCCD1);
	f->citizen2_id = add_user(f, CCCD2, "citizen", NULL, CCCD2);
	f->official_id = add_user(f, "canbo.tp", "official", DEPT, NULL);
	f->other_id = add_user(f, "canbo.xd", "official", OTHER, NULL);
	f->citizen = (struct principal){.user_id = f->citizen_id,
					.username = CCCD1,
					.role = ROLE_CITIZEN,
					.full_name = "Nguyễn Văn An",
					.id_number = CCCD1};
	f->citizen2 = (struct principal){.user_id = f->citizen2_id,
					 .username = CCCD2,
					 .role = ROLE_CITIZEN,
					 .full_name = "Trần Thị Bình",
					 .id_number = CCCD2};
	f->official = (struct principal){.user_id = f->official_id,
					 .username = "canbo.tp",
					 .role = ROLE_OFFICIAL,
					 .agency_code = DEPT,
					 .agency_path = "/" ROOT "/" DEPT "/",
					 .full_name = "Lê Văn Cường"};
	f->other = (struct principal){.user_id = f->other_id,
				      .username = "canbo.xd",
				      .role = ROLE_OFFICIAL,
				      .agency_code = OTHER,
				      .agency_path = "/" ROOT "/" OTHER "/",
				      .full_name = "Phạm Thị Dung"};
	add_dossier(f, CODE, f->citizen_id);
	f->pay_id = request_payment(f, CODE, AMOUNT);
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
	c.client_ip = "192.0.2.10";
	return c;
}

static struct ctx ctx_gateway(struct fx *f)
{
	struct ctx c = ctx_as(f, NULL);
	c.actor = PAYMENT_ACTOR;
	c.client_ip = "198.51.100.7";
	return c;
}

static bool has_field(const struct err *e, const char *name)
{
	for (int i = 0; i < e->nfields; i++)
		if (strcmp(e->fields[i].name, name) == 0)
			return true;
	return false;
}

static void set_pending(struct fx *f, int64_t id, const char *ref)
{
	testapp_exec(&f->t, "UPDATE payments SET status = 'pending', gateway_ref = $1 WHERE id = $2",
		     ARGS(SA_TEXT(ref), SA_INT(id)));
}

/* A callback signed with secret; strings in f->t.a. */
static struct payment_cb make_cb(struct fx *f, const char *ref, int64_t pay_id, int64_t amount, const char *status,
				 const char *paid_at, const char *secret)
{
	struct payment_cb cb = {0};
	cb.gateway_ref = ref;
	cb.order_id = arena_printf(&f->t.a, "%lld-0a1b2c3d4e5f", (long long)pay_id);
	cb.amount = amount;
	cb.has_amount = true;
	cb.status = status;
	cb.paid_at = paid_at;
	char *sig = arena_alloc(&f->t.a, 129);
	payment_sign_hex(secret, &cb, sig);
	cb.signature = sig;
	return cb;
}

static int64_t audit_count(struct fx *f, const char *action)
{
	return testapp_int(&f->t, "SELECT count(*) FROM audit_log WHERE action = $1", ARGS(SA_TEXT(action)));
}

/* The store caches statements by the SQL's address: literals only. */
static int64_t dossier_int(struct fx *f, const char *col)
{
	if (strcmp(col, "status") == 0)
		return testapp_int(&f->t, "SELECT status FROM dossiers WHERE code = $1", ARGS(SA_TEXT(CODE)));
	if (strcmp(col, "fee_paid") == 0)
		return testapp_int(&f->t, "SELECT fee_paid FROM dossiers WHERE code = $1", ARGS(SA_TEXT(CODE)));
	if (strcmp(col, "paused_at") == 0)
		return testapp_int(&f->t, "SELECT COALESCE(paused_at, 0) FROM dossiers WHERE code = $1", ARGS(SA_TEXT(CODE)));
	if (strcmp(col, "version") == 0)
		return testapp_int(&f->t, "SELECT version FROM dossiers WHERE code = $1", ARGS(SA_TEXT(CODE)));
	fail_msg("dossier_int: unknown column %s", col);
	return -1;
}

/* A snapshot of everything a rejected callback must leave alone. */
struct snap {
	char *status, *ref, *receipt;
	int64_t updated, dossier_status, fee_paid, version, steps, outbox;
};

static struct snap snap_of(struct fx *f, int64_t id)
{
	struct snap s;
	s.status = testapp_text(&f->t, "SELECT status FROM payments WHERE id = $1", ARGS(SA_INT(id)));
	s.ref = testapp_text(&f->t, "SELECT COALESCE(gateway_ref, '') FROM payments WHERE id = $1", ARGS(SA_INT(id)));
	s.receipt = testapp_text(&f->t, "SELECT COALESCE(receipt_no, '') FROM payments WHERE id = $1", ARGS(SA_INT(id)));
	s.updated = testapp_int(&f->t, "SELECT updated_at FROM payments WHERE id = $1", ARGS(SA_INT(id)));
	s.dossier_status = dossier_int(f, "status");
	s.fee_paid = dossier_int(f, "fee_paid");
	s.version = dossier_int(f, "version");
	s.steps = testapp_int(&f->t, "SELECT count(*) FROM dossier_steps", NOARGS);
	s.outbox = testapp_int(&f->t, "SELECT count(*) FROM outbox", NOARGS);
	return s;
}

static void assert_same(const struct snap *a, const struct snap *b)
{
	assert_string_equal(a->status, b->status);
	assert_string_equal(a->ref, b->ref);
	assert_string_equal(a->receipt, b->receipt);
	assert_int_equal(a->updated, b->updated);
	assert_int_equal(a->dossier_status, b->dossier_status);
	assert_int_equal(a->fee_paid, b->fee_paid);
	assert_int_equal(a->version, b->version);
	assert_int_equal(a->steps, b->steps);
	assert_int_equal(a->outbox, b->outbox);
}

/* ---- signatures ---- */

static void test_signature(void **state)
{
	(void)state;
	struct payment_cb cb = {.gateway_ref = "SIM0123456789abcdef",
				.order_id = "7-a1b2c3d4e5f6",
				.amount = 50000,
				.has_amount = true,
				.status = "success",
				.paid_at = "2025-03-14T09:30:00+07:00"};
	struct buf b = BUF_INIT;
	payment_canonical(&cb, &b);
	assert_string_equal(b.ptr, "amount=50000&gateway_ref=SIM0123456789abcdef&order_id=7-a1b2c3d4e5f6&"
				   "paid_at=2025-03-14T09:30:00+07:00&status=success");
	buf_free(&b);
	/* computed independently: python3 hmac.new(b"test-secret", canonical, hashlib.sha512).hexdigest() */
	const char *known = "ff4b999bf95b916b5f64a65e2694aec436cff15ff145074173a8dc428c368fbf"
			    "bbcf15c43145959548fd0ace8341c89462f84a8c9474dc89f7c6dc956f216a72";
	char sig[129];
	payment_sign_hex("test-secret", &cb, sig);
	assert_string_equal(sig, known);
	cb.signature = known;
	assert_true(payment_signature_ok("test-secret", &cb));
	char upper[129];
	for (int i = 0; i < 129; i++)
		upper[i] = (char)(known[i] >= 'a' && known[i] <= 'f' ? known[i] - 32 : known[i]);
	cb.signature = upper;
	assert_true(payment_signature_ok("test-secret", &cb));
	/* wrong secrets */
	assert_false(payment_signature_ok("test-secreT", &cb));
	assert_false(payment_signature_ok("", &cb));
	assert_false(payment_signature_ok(NULL, &cb));
	/* every signed field matters */
	struct payment_cb t = cb;
	t.amount = 50001;
	assert_false(payment_signature_ok("test-secret", &t));
	t = cb;
	t.has_amount = false;
	assert_false(payment_signature_ok("test-secret", &t));
	t = cb;
	t.gateway_ref = "SIM0123456789abcdeF";
	assert_false(payment_signature_ok("test-secret", &t));
	t = cb;
	t.order_id = "8-a1b2c3d4e5f6";
	assert_false(payment_signature_ok("test-secret", &t));
	t = cb;
	t.status = "failed";
	assert_false(payment_signature_ok("test-secret", &t));
	t = cb;
	t.paid_at = "2025-03-14T09:30:01+07:00";
	assert_false(payment_signature_ok("test-secret", &t));
	/* malformed signatures */
	t = cb;
	char shortsig[128];
	memcpy(shortsig, known, 127);
	shortsig[127] = 0;
	t.signature = shortsig;
	assert_false(payment_signature_ok("test-secret", &t));
	char flipped[129];
	memcpy(flipped, known, 129);
	flipped[64] = flipped[64] == '0' ? '1' : '0';
	t.signature = flipped;
	assert_false(payment_signature_ok("test-secret", &t));
	t.signature = NULL;
	assert_false(payment_signature_ok("test-secret", &t));

	assert_true(payment_ref_valid("SIM-1.2_3"));
	assert_false(payment_ref_valid(""));
	assert_false(payment_ref_valid("a&b"));
	assert_false(payment_ref_valid("a=b"));
	assert_false(payment_ref_valid("sp ace"));
	char longref[80];
	memset(longref, 'a', 65);
	longref[65] = 0;
	assert_false(payment_ref_valid(longref));
	longref[64] = 0;
	assert_true(payment_ref_valid(longref));
}

static void test_secret_and_portal(void **state)
{
	struct fx *f = *state;
	struct err e = {0};
	assert_string_equal(payment_secret(&f->t.cfg), SECRET);
	config_set(&f->t.cfg, "payment_secret", "", &e);
	assert_null(payment_secret(&f->t.cfg)); /* no sim, no secret: nothing verifiable */
	config_set(&f->t.cfg, "sim_url", "http://127.0.0.1:8090", &e);
	assert_string_equal(payment_secret(&f->t.cfg), PAYMENT_SIM_DEFAULT_SECRET);
	config_set(&f->t.cfg, "payment_url", "https://pay.example.vn", &e);
	assert_null(payment_secret(&f->t.cfg)); /* a real gateway needs its own secret */
	config_set(&f->t.cfg, "payment_secret", SECRET, &e);

	config_set(&f->t.cfg, "listen", "0.0.0.0:8080", &e);
	assert_string_equal(payment_portal_url(&f->t.cfg, "evil.example", &f->t.a), "http://127.0.0.1:8080");
	config_set(&f->t.cfg, "listen", "127.0.0.1:0", &e);
	assert_string_equal(payment_portal_url(&f->t.cfg, "127.0.0.1:4321", &f->t.a), "http://127.0.0.1:4321");
	assert_string_equal(payment_portal_url(&f->t.cfg, "bad host/<x>", &f->t.a), "http://127.0.0.1:0");
	config_set(&f->t.cfg, "public_url", "https://dichvucong.haiduong.gov.vn/", &e);
	assert_string_equal(payment_portal_url(&f->t.cfg, "127.0.0.1:4321", &f->t.a), "https://dichvucong.haiduong.gov.vn");
	assert_string_equal(gateway_base(&f->t.cfg, &f->t.a), "https://pay.example.vn");
	config_set(&f->t.cfg, "payment_url", "", &e);
	assert_string_equal(gateway_base(&f->t.cfg, &f->t.a), "http://127.0.0.1:8090");
	config_set(&f->t.cfg, "sim_url", "", &e);
	assert_null(gateway_base(&f->t.cfg, &f->t.a));
}

/* ---- requests ---- */

static int bad_req_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct req_run *r = arg;
	struct ctx c = {.app = &r->f->t.app, .a = &r->f->t.a, .actor = "cli:test"};
	return payment_request_tx(tx, &c, r->code, r->amount, NULL, &r->id, e);
}

static void test_request(void **state)
{
	struct fx *f = *state;
	assert_string_equal(testapp_text(&f->t, "SELECT status FROM payments WHERE id = $1", ARGS(SA_INT(f->pay_id))),
			    "requested");
	assert_int_equal(testapp_int(&f->t, "SELECT amount FROM payments WHERE id = $1", ARGS(SA_INT(f->pay_id))), AMOUNT);
	int64_t bad[] = {0, -5, PAYMENT_MAX_AMOUNT + 1};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct req_run r = {f, CODE, bad[i], 0};
		struct err e = {0};
		assert_int_equal(store_write(f->t.app.db, bad_req_fn, &r, &e), ERR_INVALID);
		assert_true(has_field(&e, "amount"));
	}
	struct req_run r = {f, CODE, 1000, 0};
	struct err e = {0};
	assert_int_equal(store_write(f->t.app.db, bad_req_fn, &r, &e), 0);
	assert_string_equal(testapp_text(&f->t, "SELECT description FROM payments WHERE id = $1", ARGS(SA_INT(r.id))),
			    "Phí, lệ phí hồ sơ " CODE);
	assert_int_equal(testapp_int(&f->t, "SELECT count(*) FROM payments WHERE dossier_code = $1", ARGS(SA_TEXT(CODE))), 2);
}

/* ---- callbacks ---- */

static void test_callback_paid_once(void **state)
{
	struct fx *f = *state;
	set_pending(f, f->pay_id, "SIMREF0001");
	struct ctx c = ctx_gateway(f);
	struct payment p;
	struct err e = {0};
	int64_t audits = audit_count(f, "payment.paid");
	struct payment_cb cb =
	    make_cb(f, "SIMREF0001", f->pay_id, AMOUNT, "success", "2025-03-14T09:30:00+07:00", SECRET);
	int rc = payment_callback(&c, &cb, &p, &e);
	if (rc != 0)
		fail_msg("callback: %d %s", rc, e.msg);
	assert_string_equal(p.status, "paid");
	assert_string_equal(p.receipt_no, "BL-2025-000001");
	int64_t want_paid;
	assert_true(time_parse_rfc3339("2025-03-14T09:30:00+07:00", &want_paid));
	assert_int_equal(p.paid_at, want_paid);
	/* the dossier resumed: back to processing, clock running, fee recorded */
	assert_int_equal(dossier_int(f, "status"), DS_PROCESSING);
	assert_int_equal(dossier_int(f, "fee_paid"), AMOUNT);
	assert_int_equal(dossier_int(f, "paused_at"), 0);
	/* the applicant is told, once per channel */
	char *like = arena_printf(&f->t.a, "%s:payment_received:%lld%%", CODE, (long long)f->pay_id);
	int64_t queued = testapp_int(&f->t, "SELECT count(*) FROM outbox WHERE dedupe LIKE $1", ARGS(SA_TEXT(like)));
	assert_true(queued >= 1);
	/* audited by the gateway's actor */
	assert_int_equal(audit_count(f, "payment.paid"), audits + 1);
	assert_string_equal(testapp_text(&f->t, "SELECT actor FROM audit_log WHERE action = 'payment.paid'", NOARGS),
			    PAYMENT_ACTOR);
	char *doc = testapp_text(&f->t, "SELECT change FROM audit_log WHERE action = 'payment.paid'", NOARGS);
	assert_non_null(strstr(doc, "BL-2025-000001"));
	assert_null(strstr(doc, SECRET));
	assert_null(strstr(doc, cb.signature));

	/* replayed: already processed, nothing changes */
	struct snap before = snap_of(f, f->pay_id);
	int64_t naudit = testapp_int(&f->t, "SELECT count(*) FROM audit_log", NOARGS);
	err_clear(&e);
	assert_int_equal(payment_callback(&c, &cb, &p, &e), 1);
	assert_string_equal(p.status, "paid");
	assert_string_equal(p.receipt_no, "BL-2025-000001");
	struct snap after = snap_of(f, f->pay_id);
	assert_same(&before, &after);
	assert_int_equal(testapp_int(&f->t, "SELECT count(*) FROM audit_log", NOARGS), naudit);

	/* a failure after the success is refused and changes nothing */
	struct payment_cb fail =
	    make_cb(f, "SIMREF0001", f->pay_id, AMOUNT, "failed", "2025-03-14T09:31:00+07:00", SECRET);
	err_clear(&e);
	assert_int_equal(payment_callback(&c, &fail, &p, &e), ERR_CONFLICT);
	after = snap_of(f, f->pay_id);
	assert_same(&before, &after);
	assert_int_equal(testapp_int(&f->t, "SELECT count(*) FROM audit_log", NOARGS), naudit);

	/* the audit chain is still intact */
	struct audit_verify_result vr;
	assert_int_equal(audit_verify(&f->t.app, &vr, &e), 0);
}

static void test_callback_rejected(void **state)
{
	struct fx *f = *state;
	set_pending(f, f->pay_id, "SIMREF0002");
	struct ctx c = ctx_gateway(f);
	struct payment p;
	struct err e = {0};
	struct snap before = snap_of(f, f->pay_id);
	int64_t rejected = audit_count(f, "payment.callback_rejected");

	/* signed with another secret */
	struct payment_cb cb =
	    make_cb(f, "SIMREF0002", f->pay_id, AMOUNT, "success", "2025-03-14T09:30:00+07:00", "not-the-secret");
	assert_int_equal(payment_callback(&c, &cb, &p, &e), ERR_UNAUTHENTICATED);
	assert_int_equal(err_http_status(e.code), 401);
	struct snap after = snap_of(f, f->pay_id);
	assert_same(&before, &after);
	assert_int_equal(audit_count(f, "payment.callback_rejected"), rejected + 1);
	char *doc = testapp_text(&f->t,
				 "SELECT change FROM audit_log WHERE action = 'payment.callback_rejected' "
				 "ORDER BY seq DESC LIMIT 1",
				 NOARGS);
	assert_non_null(strstr(doc, "bad signature"));
	assert_non_null(strstr(doc, "SIMREF0002"));
	assert_null(strstr(doc, cb.signature));
	assert_null(strstr(doc, SECRET));
	assert_string_equal(testapp_text(&f->t,
					 "SELECT actor FROM audit_log WHERE action = 'payment.callback_rejected' "
					 "ORDER BY seq DESC LIMIT 1",
					 NOARGS),
			    PAYMENT_ACTOR);

	/* a tampered amount under a genuine signature */
	struct payment_cb t =
	    make_cb(f, "SIMREF0002", f->pay_id, AMOUNT, "success", "2025-03-14T09:30:00+07:00", SECRET);
	t.amount = 5000;
	err_clear(&e);
	assert_int_equal(payment_callback(&c, &t, &p, &e), ERR_UNAUTHENTICATED);
	/* a tampered status */
	struct payment_cb ts =
	    make_cb(f, "SIMREF0002", f->pay_id, AMOUNT, "failed", "2025-03-14T09:30:00+07:00", SECRET);
	ts.status = "success";
	err_clear(&e);
	assert_int_equal(payment_callback(&c, &ts, &p, &e), ERR_UNAUTHENTICATED);
	/* no signature */
	struct payment_cb ns = t;
	ns.signature = NULL;
	err_clear(&e);
	assert_int_equal(payment_callback(&c, &ns, &p, &e), ERR_UNAUTHENTICATED);
	assert_non_null(strstr(e.msg, "missing signature"));
	after = snap_of(f, f->pay_id);
	assert_same(&before, &after);
	assert_int_equal(audit_count(f, "payment.callback_rejected"), rejected + 4);

	/* correctly signed, but for another amount: 422 naming amount, audited, nothing else */
	struct payment_cb wa =
	    make_cb(f, "SIMREF0002", f->pay_id, AMOUNT - 1, "success", "2025-03-14T09:30:00+07:00", SECRET);
	err_clear(&e);
	assert_int_equal(payment_callback(&c, &wa, &p, &e), ERR_INVALID);
	assert_true(has_field(&e, "amount"));
	after = snap_of(f, f->pay_id);
	assert_same(&before, &after);
	assert_int_equal(audit_count(f, "payment.callback_rejected"), rejected + 5);
	doc = testapp_text(&f->t,
			   "SELECT change FROM audit_log WHERE action = 'payment.callback_rejected' "
			   "ORDER BY seq DESC LIMIT 1",
			   NOARGS);
	assert_non_null(strstr(doc, "amount 49999 differs"));

	/* an order that is not this payment's */
	struct payment_cb wo =
	    make_cb(f, "SIMREF0002", f->pay_id + 100, AMOUNT, "success", "2025-03-14T09:30:00+07:00", SECRET);
	err_clear(&e);
	assert_int_equal(payment_callback(&c, &wo, &p, &e), ERR_INVALID);
	assert_true(has_field(&e, "order_id"));
	after = snap_of(f, f->pay_id);
	assert_same(&before, &after);

	/* unknown gateway_ref */
	struct payment_cb uk =
	    make_cb(f, "SIMNOSUCH", f->pay_id, AMOUNT, "success", "2025-03-14T09:30:00+07:00", SECRET);
	err_clear(&e);
	assert_int_equal(payment_callback(&c, &uk, &p, &e), ERR_NOT_FOUND);

	/* malformed fields: named */
	struct payment_cb mf = make_cb(f, "SIM&x=1", f->pay_id, -3, "maybe", "yesterday", SECRET);
	mf.order_id = NULL;
	err_clear(&e);
	assert_int_equal(payment_callback(&c, &mf, &p, &e), ERR_INVALID);
	assert_true(has_field(&e, "gateway_ref"));
	assert_true(has_field(&e, "order_id"));
	assert_true(has_field(&e, "amount"));
	assert_true(has_field(&e, "status"));
	assert_true(has_field(&e, "paid_at"));

	/* no secret configured at all (and no sim): every callback is refused */
	config_set(&f->t.cfg, "payment_secret", "", &e);
	struct payment_cb ok = make_cb(f, "SIMREF0002", f->pay_id, AMOUNT, "success", "2025-03-14T09:30:00+07:00", "");
	err_clear(&e);
	assert_int_equal(payment_callback(&c, &ok, &p, &e), ERR_UNAUTHENTICATED);
	config_set(&f->t.cfg, "payment_secret", SECRET, &e);
	after = snap_of(f, f->pay_id);
	assert_same(&before, &after);

	/* and then the genuine one still goes through */
	struct payment_cb good =
	    make_cb(f, "SIMREF0002", f->pay_id, AMOUNT, "success", "2025-03-14T09:30:00+07:00", SECRET);
	err_clear(&e);
	assert_int_equal(payment_callback(&c, &good, &p, &e), 0);
	assert_string_equal(p.status, "paid");
	struct audit_verify_result vr;
	assert_int_equal(audit_verify(&f->t.app, &vr, &e), 0);
}

static void test_callback_failure_then_success(void **state)
{
	struct fx *f = *state;
	set_pending(f, f->pay_id, "SIMREF0003");
	struct ctx c = ctx_gateway(f);
	struct payment p;
	struct err e = {0};
	struct payment_cb fail =
	    make_cb(f, "SIMREF0003", f->pay_id, AMOUNT, "failed", "2025-03-14T09:30:00+07:00", SECRET);
	assert_int_equal(payment_callback(&c, &fail, &p, &e), 0);
	assert_string_equal(p.status, "failed");
	assert_null(p.receipt_no);
	assert_int_equal(audit_count(f, "payment.failed"), 1);
	assert_int_equal(dossier_int(f, "status"), DS_PAYMENT_REQUESTED); /* still waiting */
	assert_int_equal(dossier_int(f, "fee_paid"), 0);
	/* the failure replayed */
	struct snap before = snap_of(f, f->pay_id);
	err_clear(&e);
	assert_int_equal(payment_callback(&c, &fail, &p, &e), 1);
	struct snap after = snap_of(f, f->pay_id);
	assert_same(&before, &after);
	assert_int_equal(audit_count(f, "payment.failed"), 1);
	/* the gateway reports the same order paid after all: the money was taken, so it counts */
	struct payment_cb ok =
	    make_cb(f, "SIMREF0003", f->pay_id, AMOUNT, "success", "2025-03-14T09:35:00+07:00", SECRET);
	err_clear(&e);
	assert_int_equal(payment_callback(&c, &ok, &p, &e), 0);
	assert_string_equal(p.status, "paid");
	assert_int_equal(dossier_int(f, "status"), DS_PROCESSING);
}

static void test_receipt_numbers(void **state)
{
	struct fx *f = *state;
	struct ctx c = ctx_gateway(f);
	struct payment p;
	struct err e = {0};
	int64_t second = request_payment(f, CODE, 20000);
	int64_t third = request_payment(f, CODE, 30000);
	set_pending(f, f->pay_id, "SIMREF0010");
	set_pending(f, second, "SIMREF0011");
	set_pending(f, third, "SIMREF0012");
	struct payment_cb a =
	    make_cb(f, "SIMREF0010", f->pay_id, AMOUNT, "success", "2025-12-31T10:00:00+07:00", SECRET);
	struct payment_cb b = make_cb(f, "SIMREF0011", second, 20000, "success", "2025-12-31T16:59:00Z", SECRET);
	/* 2025-12-31 23:30 UTC is already 2026 in Vietnam */
	struct payment_cb d = make_cb(f, "SIMREF0012", third, 30000, "success", "2025-12-31T17:30:00Z", SECRET);
	assert_int_equal(payment_callback(&c, &a, &p, &e), 0);
	assert_string_equal(p.receipt_no, "BL-2025-000001");
	assert_int_equal(payment_callback(&c, &b, &p, &e), 0);
	assert_string_equal(p.receipt_no, "BL-2025-000002");
	assert_int_equal(payment_callback(&c, &d, &p, &e), 0);
	assert_string_equal(p.receipt_no, "BL-2026-000001");
	assert_int_equal(dossier_int(f, "fee_paid"), AMOUNT + 20000 + 30000);
}

/* Many callbacks at once, each sent twice at the same moment (a gateway
 * retrying while the first is in flight): every payment is paid exactly once,
 * receipt numbers are unique and without gaps. One dossier per payment: two
 * payments of one dossier confirmed at the same instant may meet the
 * dossier's optimistic version check (409; the gateway retries). */
enum { CONC_N = 8 };

struct conc_arg {
	struct fx *f;
	struct payment_cb cb;
	int rc;
	pthread_barrier_t *bar;
};

static void *conc_thread(void *p)
{
	struct conc_arg *a = p;
	struct arena ar = ARENA_INIT;
	struct ctx c = {.app = &a->f->t.app, .a = &ar, .actor = PAYMENT_ACTOR, .client_ip = "198.51.100.7"};
	struct payment out;
	struct err e = {0};
	pthread_barrier_wait(a->bar);
	a->rc = payment_callback(&c, &a->cb, &out, &e);
	if (a->rc < 0)
		fprintf(stderr, "concurrent callback: %d %s\n", a->rc, e.msg);
	arena_free(&ar);
	return NULL;
}

static void test_concurrent_callbacks(void **state)
{
	struct fx *f = *state;
	int64_t ids[CONC_N];
	char codes[CONC_N][40], refs[CONC_N][16];
	for (int i = 0; i < CONC_N; i++) {
		snprintf(codes[i], sizeof codes[i], "000.00.10.H23-250314-%04d", 100 + i);
		snprintf(refs[i], sizeof refs[i], "SIMC%04d", i);
		add_dossier(f, codes[i], f->citizen_id);
		ids[i] = request_payment(f, codes[i], AMOUNT);
		set_pending(f, ids[i], refs[i]);
	}
	pthread_barrier_t bar;
	pthread_barrier_init(&bar, NULL, 2 * CONC_N);
	struct conc_arg args[2 * CONC_N];
	pthread_t th[2 * CONC_N];
	for (int i = 0; i < 2 * CONC_N; i++) {
		int k = i / 2;
		args[i] = (struct conc_arg){
		    f, make_cb(f, refs[k], ids[k], AMOUNT, "success", "2025-06-01T08:00:00+07:00", SECRET), 0, &bar};
		assert_int_equal(pthread_create(&th[i], NULL, conc_thread, &args[i]), 0);
	}
	for (int i = 0; i < 2 * CONC_N; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&bar);
	for (int k = 0; k < CONC_N; k++) {
		int a = args[2 * k].rc, b = args[2 * k + 1].rc;
		/* one applied it, the other found it applied */
		assert_true((a == 0 && b == 1) || (a == 1 && b == 0));
		assert_string_equal(testapp_text(&f->t, "SELECT status FROM payments WHERE id = $1", ARGS(SA_INT(ids[k]))),
				    "paid");
		assert_int_equal(testapp_int(&f->t, "SELECT fee_paid FROM dossiers WHERE code = $1", ARGS(SA_TEXT(codes[k]))),
				 AMOUNT);
	}
	assert_int_equal(audit_count(f, "payment.paid"), CONC_N);
	assert_int_equal(
	    testapp_int(&f->t, "SELECT count(DISTINCT receipt_no) FROM payments WHERE receipt_no LIKE 'BL-2025-%'", NOARGS),
	    CONC_N);
	char last[32];
	snprintf(last, sizeof last, "BL-2025-%06d", CONC_N);
	assert_string_equal(testapp_text(&f->t, "SELECT max(receipt_no) FROM payments", NOARGS), last);
	struct err e = {0};
	struct audit_verify_result vr;
	assert_int_equal(audit_verify(&f->t.app, &vr, &e), 0);
}

/* ---- who sees what ---- */

static void test_visibility(void **state)
{
	struct fx *f = *state;
	struct payment *items;
	int n = 0;
	struct err e = {0};
	struct ctx c = ctx_as(f, &f->citizen);
	assert_int_equal(payment_list(&c, CODE, &items, &n, &e), 0);
	assert_int_equal(n, 1);
	assert_int_equal(items[0].id, f->pay_id);
	assert_int_equal(items[0].amount, AMOUNT);
	assert_string_equal(items[0].status, "requested");
	c = ctx_as(f, &f->official);
	assert_int_equal(payment_list(&c, CODE, &items, &n, &e), 0);
	assert_int_equal(n, 1);
	struct payment p;
	assert_int_equal(payment_get(&c, CODE, f->pay_id, &p, &e), 0);
	assert_int_equal(payment_get(&c, CODE, f->pay_id + 99, &p, &e), ERR_NOT_FOUND);
	/* another agency's official, another citizen, anonymous: as if there were no dossier */
	const struct principal *outsiders[] = {&f->other, &f->citizen2, NULL};
	for (size_t i = 0; i < 3; i++) {
		c = ctx_as(f, outsiders[i]);
		err_clear(&e);
		assert_int_equal(payment_list(&c, CODE, &items, &n, &e), ERR_NOT_FOUND);
		err_clear(&e);
		assert_int_equal(payment_get(&c, CODE, f->pay_id, &p, &e), ERR_NOT_FOUND);
		char *url = NULL;
		err_clear(&e);
		assert_int_equal(payment_start(&c, CODE, "http://127.0.0.1:9", &p, &url, &e), ERR_NOT_FOUND);
		struct buf pdf = BUF_INIT;
		err_clear(&e);
		assert_int_equal(payment_receipt_pdf(&c, CODE, f->pay_id, NULL, &pdf, &e), ERR_NOT_FOUND);
		assert_int_equal(pdf.len, 0);
	}
	/* an official in scope sees it but does not pay it online */
	c = ctx_as(f, &f->official);
	char *url = NULL;
	err_clear(&e);
	assert_int_equal(payment_start(&c, CODE, "http://127.0.0.1:9", &p, &url, &e), ERR_FORBIDDEN);
	assert_null(url);
	c = ctx_as(f, &f->citizen);
	err_clear(&e);
	assert_int_equal(payment_list(&c, "000.00.10.H23-250314-9999", &items, &n, &e), ERR_NOT_FOUND);
}

static void test_receipt_pdf(void **state)
{
	struct fx *f = *state;
	struct ctx c = ctx_as(f, &f->citizen);
	struct buf pdf = BUF_INIT;
	struct err e = {0};
	assert_int_equal(payment_receipt_pdf(&c, CODE, f->pay_id, NULL, &pdf, &e), ERR_CONFLICT);
	assert_int_equal(pdf.len, 0);
	set_pending(f, f->pay_id, "SIMREF0020");
	struct ctx g = ctx_gateway(f);
	struct payment p;
	struct payment_cb cb =
	    make_cb(f, "SIMREF0020", f->pay_id, AMOUNT, "success", "2025-03-14T09:30:00+07:00", SECRET);
	assert_int_equal(payment_callback(&g, &cb, &p, &e), 0);
	int rc = payment_receipt_pdf(&c, CODE, f->pay_id, NULL, &pdf, &e);
	if (rc != 0)
		fail_msg("receipt: %s", e.msg);
	assert_true(pdf.len > 1000);
	assert_memory_equal(pdf.ptr, "%PDF-", 5);
	buf_free(&pdf);
	c = ctx_as(f, &f->official);
	assert_int_equal(payment_receipt_pdf(&c, CODE, f->pay_id, "en", &pdf, &e), 0);
	assert_memory_equal(pdf.ptr, "%PDF-", 5);
	buf_free(&pdf);
}

/* ---- over HTTP, with the simulated gateway ---- */

struct http_res {
	long status;
	struct buf body;
	json_t *json;
};

static size_t collect(char *p, size_t size, size_t n, void *arg)
{
	buf_append(arg, p, size * n);
	return size * n;
}

static void http_res_free(struct http_res *r)
{
	buf_free(&r->body);
	if (r->json)
		json_decref(r->json);
	memset(r, 0, sizeof *r);
}

/* One request to a full URL; body sent with content_type when not NULL. */
static void http_do(const char *method, const char *url, const char *content_type, const char *body, const char *auth,
		    struct http_res *out)
{
	http_res_free(out);
	CURL *h = curl_easy_init();
	assert_non_null(h);
	struct curl_slist *hs = NULL;
	char ct[128];
	if (content_type) {
		snprintf(ct, sizeof ct, "Content-Type: %s", content_type);
		hs = curl_slist_append(hs, ct);
	}
	if (auth)
		hs = curl_slist_append(hs, auth);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	if (body)
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	else if (strcmp(method, "POST") == 0)
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hs);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &out->body);
	CURLcode rc = curl_easy_perform(h);
	if (rc != CURLE_OK)
		fail_msg("%s %s: %s", method, url, curl_easy_strerror(rc));
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &out->status);
	curl_slist_free_all(hs);
	curl_easy_cleanup(h);
	out->json = out->body.len ? json_loadb(out->body.ptr, out->body.len, 0, NULL) : NULL;
}

static const char *jpath(json_t *j, const char *a, const char *b)
{
	json_t *v = json_object_get(j, a);
	if (b)
		v = json_object_get(v, b);
	return json_string_value(v);
}

static const struct route *merged_routes(size_t *n)
{
	static struct route all[32];
	size_t k = 0;
	for (size_t i = 0; i < payment_nroutes; i++)
		all[k++] = payment_routes[i];
	*n = k;
	return all;
}

static void test_http_round_trip(void **state)
{
	struct fx *f = *state;
	struct err e = {0};
	struct http_options opt = {.host = "127.0.0.1",
				   .port = 0,
				   .threads = 2,
				   .workers = 2,
				   .max_body = 65536,
				   .max_upload = 65536,
				   .max_connections = 64,
				   .max_per_ip = 64,
				   .conn_timeout = 10};
	struct http_server *portal, *sim;
	size_t nroutes;
	const struct route *routes = merged_routes(&nroutes);
	assert_int_equal(http_start(&portal, &opt, routes, nroutes, &f->t.app, &e), 0);
	struct sim_options so = {SECRET};
	sim_payment_setup(&so);
	assert_int_equal(http_start(&sim, &opt, sim_payment_routes, sim_payment_nroutes, NULL, &e), 0);
	char portal_url[64], sim_url[64], u[512];
	snprintf(portal_url, sizeof portal_url, "http://127.0.0.1:%d", http_port(portal));
	snprintf(sim_url, sizeof sim_url, "http://127.0.0.1:%d", http_port(sim));
	struct ctx c = ctx_as(f, &f->citizen);
	struct payment p;
	char *pay_url = NULL;
	struct http_res r = {0};

	/* no gateway configured */
	assert_int_equal(payment_start(&c, CODE, portal_url, &p, &pay_url, &e), ERR_UNAVAILABLE);
	assert_non_null(strstr(e.msg, "no payment gateway configured"));
	/* a gateway that is down: 502, and the payment is still open */
	config_set(&f->t.cfg, "sim_url", "http://127.0.0.1:9", &e);
	err_clear(&e);
	assert_int_equal(payment_start(&c, CODE, portal_url, &p, &pay_url, &e), ERR_BAD_GATEWAY);
	assert_string_equal(testapp_text(&f->t, "SELECT status FROM payments WHERE id = $1", ARGS(SA_INT(f->pay_id))),
			    "requested");
	/* a gateway that refuses */
	config_set(&f->t.cfg, "sim_url", portal_url, &e);
	err_clear(&e);
	assert_int_equal(payment_start(&c, CODE, portal_url, &p, &pay_url, &e), ERR_BAD_GATEWAY);
	assert_non_null(strstr(e.msg, "HTTP 404"));

	/* the real one */
	config_set(&f->t.cfg, "sim_url", sim_url, &e);
	err_clear(&e);
	int rc = payment_start(&c, CODE, portal_url, &p, &pay_url, &e);
	if (rc != 0)
		fail_msg("start: %s", e.msg);
	assert_string_equal(p.status, "pending");
	assert_non_null(p.gateway_ref);
	char ref[80];
	str_copy(ref, sizeof ref, p.gateway_ref);
	snprintf(u, sizeof u, "%s/gateway/pay/%s", sim_url, ref);
	assert_string_equal(pay_url, u);
	assert_int_equal(audit_count(f, "payment.start"), 1);
	/* a second start while that order is open: 409 */
	char *pay2 = NULL;
	err_clear(&e);
	assert_int_equal(payment_start(&c, CODE, portal_url, &p, &pay2, &e), ERR_INVALID_TRANSITION);

	/* the gateway's page: amount, and the two buttons */
	http_do("GET", pay_url, NULL, NULL, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.body.ptr, "50.000 đồng"));
	assert_non_null(strstr(r.body.ptr, "name=\"outcome\" value=\"success\""));
	assert_non_null(strstr(r.body.ptr, "name=\"outcome\" value=\"failed\""));
	snprintf(u, sizeof u, "%s/gateway/orders/%s", sim_url, ref);
	http_do("GET", u, NULL, NULL, NULL, &r);
	assert_int_equal(r.status, 200);
	snprintf(u, sizeof u, "%s/api/v1/payments/callback", portal_url);
	assert_string_equal(jpath(r.json, "notify_url", NULL), u);
	snprintf(u, sizeof u, "%s/dossiers/%s", portal_url, CODE);
	assert_string_equal(jpath(r.json, "return_url", NULL), u);
	assert_int_equal(json_integer_value(json_object_get(r.json, "amount")), AMOUNT);

	/* forged callbacks through the real route: 401 / 422, nothing changes */
	struct snap before = snap_of(f, f->pay_id);
	snprintf(u, sizeof u, "%s/gateway/forge/%s", sim_url, ref);
	http_do("POST", u, NULL, NULL, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(json_integer_value(json_object_get(r.json, "callback_status")), 401);
	json_t *err_obj = json_object_get(json_object_get(r.json, "callback_body"), "error");
	assert_string_equal(json_string_value(json_object_get(err_obj, "code")), "unauthenticated");
	http_do("POST", u, "application/json", "{\"mode\":\"no_signature\"}", NULL, &r);
	assert_int_equal(json_integer_value(json_object_get(r.json, "callback_status")), 401);
	http_do("POST", u, "application/json", "{\"mode\":\"tampered_amount\",\"amount\":1000}", NULL, &r);
	assert_int_equal(json_integer_value(json_object_get(r.json, "callback_status")), 401);
	http_do("POST", u, "application/json", "{\"mode\":\"wrong_amount\",\"amount\":1000}", NULL, &r);
	assert_int_equal(json_integer_value(json_object_get(r.json, "callback_status")), 422);
	err_obj = json_object_get(json_object_get(r.json, "callback_body"), "error");
	assert_non_null(json_object_get(json_object_get(json_object_get(err_obj, "details"), "fields"), "amount"));
	struct snap after = snap_of(f, f->pay_id);
	assert_same(&before, &after);
	/* the callback route itself: not JSON, not an object */
	snprintf(u, sizeof u, "%s/api/v1/payments/callback", portal_url);
	http_do("POST", u, "text/plain", "x", NULL, &r);
	assert_int_equal(r.status, 415);
	http_do("POST", u, "application/json", "[1]", NULL, &r);
	assert_int_equal(r.status, 400);
	http_do("POST", u, "application/json", "{\"amount\":\"50000\",\"signature\":\"00\"}", NULL, &r);
	assert_int_equal(r.status, 422);

	/* the payer fails first (JSON outcome): payment failed, may start again */
	snprintf(u, sizeof u, "%s/gateway/pay/%s", sim_url, ref);
	http_do("POST", u, "application/json", "{\"outcome\":\"failed\"}", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(json_integer_value(json_object_get(r.json, "callback_status")), 200);
	assert_string_equal(jpath(r.json, "callback_body", "status"), "processed");
	assert_string_equal(jpath(r.json, "callback_body", "payment_status"), "failed");
	assert_string_equal(testapp_text(&f->t, "SELECT status FROM payments WHERE id = $1", ARGS(SA_INT(f->pay_id))),
			    "failed");
	/* paying a finished order again is refused by the gateway */
	http_do("POST", u, "application/json", "{\"outcome\":\"success\"}", NULL, &r);
	assert_int_equal(r.status, 409);
	/* the failure replayed: already processed */
	snprintf(u, sizeof u, "%s/gateway/replay/%s", sim_url, ref);
	http_do("POST", u, NULL, NULL, NULL, &r);
	assert_int_equal(json_integer_value(json_object_get(r.json, "callback_status")), 200);
	assert_string_equal(jpath(r.json, "callback_body", "status"), "already_processed");

	/* a new order, paid through the form like a browser */
	err_clear(&e);
	rc = payment_start(&c, CODE, portal_url, &p, &pay_url, &e);
	if (rc != 0)
		fail_msg("restart: %s", e.msg);
	assert_string_not_equal(p.gateway_ref, ref);
	str_copy(ref, sizeof ref, p.gateway_ref);
	http_do("POST", pay_url, "application/x-www-form-urlencoded", "outcome=success&submit=success", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.body.ptr, "data-outcome=\"success\""));
	assert_non_null(strstr(r.body.ptr, "HTTP 200"));
	snprintf(u, sizeof u, "href=\"%s/dossiers/%s\"", portal_url, CODE);
	assert_non_null(strstr(r.body.ptr, u));
	assert_string_equal(testapp_text(&f->t, "SELECT status FROM payments WHERE id = $1", ARGS(SA_INT(f->pay_id))), "paid");
	assert_int_equal(dossier_int(f, "status"), DS_PROCESSING);
	int64_t paid_audits = audit_count(f, "payment.paid");
	assert_int_equal(paid_audits, 1);

	/* replayed success: 200 already_processed, nothing changes */
	before = snap_of(f, f->pay_id);
	snprintf(u, sizeof u, "%s/gateway/replay/%s", sim_url, ref);
	http_do("POST", u, NULL, NULL, NULL, &r);
	assert_int_equal(json_integer_value(json_object_get(r.json, "callback_status")), 200);
	assert_string_equal(jpath(r.json, "callback_body", "status"), "already_processed");
	after = snap_of(f, f->pay_id);
	assert_same(&before, &after);
	assert_int_equal(audit_count(f, "payment.paid"), 1);
	/* nothing left to pay */
	err_clear(&e);
	assert_int_equal(payment_start(&c, CODE, portal_url, &p, &pay_url, &e), ERR_INVALID_TRANSITION);

	/* unknown order at the gateway */
	snprintf(u, sizeof u, "%s/gateway/pay/SIMNOPE", sim_url);
	http_do("GET", u, NULL, NULL, NULL, &r);
	assert_int_equal(r.status, 404);
	snprintf(u, sizeof u, "%s/gateway/orders", sim_url);
	http_do("POST", u, "application/json",
		"{\"order_id\":\"a b\",\"amount\":0,\"description\":\"x\","
		"\"notify_url\":\"ftp://x\"}",
		NULL, &r);
	assert_int_equal(r.status, 422);

	http_res_free(&r);
	http_stop(sim, 1000);
	http_stop(portal, 1000);
	struct audit_verify_result vr;
	assert_int_equal(audit_verify(&f->t.app, &vr, &e), 0);
}

int main(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_signature),
	    cmocka_unit_test_setup_teardown(test_secret_and_portal, setup, testapp_teardown),
	    cmocka_unit_test_setup_teardown(test_request, setup, testapp_teardown),
	    cmocka_unit_test_setup_teardown(test_callback_paid_once, setup, testapp_teardown),
	    cmocka_unit_test_setup_teardown(test_callback_rejected, setup, testapp_teardown),
	    cmocka_unit_test_setup_teardown(test_callback_failure_then_success, setup, testapp_teardown),
	    cmocka_unit_test_setup_teardown(test_receipt_numbers, setup, testapp_teardown),
	    cmocka_unit_test_setup_teardown(test_concurrent_callbacks, setup, testapp_teardown),
	    cmocka_unit_test_setup_teardown(test_visibility, setup, testapp_teardown),
	    cmocka_unit_test_setup_teardown(test_receipt_pdf, setup, testapp_teardown),
	    cmocka_unit_test_setup_teardown(test_http_round_trip, setup, testapp_teardown),
	};
	int rc = cmocka_run_group_tests_name("payment_sqlite", tests, NULL, NULL);
	if (testapp_pg_url()) {
		/* the same again on PostgreSQL (read committed, retried callbacks, row locks) */
		on_pg = true;
		const struct CMUnitTest pg[] = {
		    cmocka_unit_test_setup_teardown(test_request, setup, testapp_teardown),
		    cmocka_unit_test_setup_teardown(test_callback_paid_once, setup, testapp_teardown),
		    cmocka_unit_test_setup_teardown(test_callback_rejected, setup, testapp_teardown),
		    cmocka_unit_test_setup_teardown(test_callback_failure_then_success, setup, testapp_teardown),
		    cmocka_unit_test_setup_teardown(test_receipt_numbers, setup, testapp_teardown),
		    cmocka_unit_test_setup_teardown(test_concurrent_callbacks, setup, testapp_teardown),
		    cmocka_unit_test_setup_teardown(test_visibility, setup, testapp_teardown),
		    cmocka_unit_test_setup_teardown(test_http_round_trip, setup, testapp_teardown),
		};
		rc += cmocka_run_group_tests_name("payment_postgres", pg, NULL, NULL);
	} else {
		print_message("TINHSO_TEST_PG_URL is not set: the PostgreSQL group is skipped\n");
	}
	curl_global_cleanup();
	return rc;
}
