/* test_identity.c: identity.h against a temporary SQLite database opened the
 * way the server opens it (app_open: store, migrations, keys, identity's
 * throttle and session cache), with a cheap Argon2 (1 pass, 8 MiB) and an
 * injected clock so that throttling and timeouts are tested without sleeping.
 * Covers the validators and password rules, users and their authority
 * checks, login/authenticate/logout, idle and absolute expiry, the session
 * cache, password change and disabling ending sessions, TOTP (required for
 * admins, enrolment, replay), the per-account and per-IP throttle, rehashing,
 * the audit entries (and that no secret reaches them), and finally the JSON
 * routes through the real HTTP server with libcurl. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <curl/curl.h>
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
#include "http/http.h"
#include "identity/identity.h"
#include "store/store.h"
#include "support/testapp.h"

#define PW "Bí mật Hải Dương 2025"
#define PW2 "Another good one #7"
#define CCCD1 "030095001234"
#define CCCD2 "001203004567"
#define IP1 "192.0.2.10"
#define ROOT_AGENCY "000.00.00.H23"
#define CHILD_AGENCY "000.00.30.H23"

static int64_t fake_offset_us;
static int64_t test_clock(void) { return time_now_us() + fake_offset_us; }
static void advance_s(double s) { fake_offset_us += (int64_t)(s * 1e6); }

struct fx {
	struct testapp t;
};

/* ---- fixture and helpers ---- */

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	assert_non_null(f);
	testapp_init(&f->t, "identity", false);
	testapp_set(&f->t, "argon2_ops", "1");
	testapp_set(&f->t, "argon2_mem_kib", "8192");
	testapp_set(&f->t, "login_free_failures", "3");
	testapp_set(&f->t, "login_ip_failures", "1000");
	testapp_open(&f->t);
	assert_non_null(f->t.app.throttle);
	assert_non_null(f->t.app.session_cache);
	fake_offset_us = 0;
	identity_set_clock(&f->t.app, test_clock);
	testapp_add_agency(&f->t, ROOT_AGENCY, "UBND tỉnh Hải Dương", NULL, "province", "people_committee");
	testapp_add_agency(&f->t, CHILD_AGENCY, "Trung tâm Phục vụ hành chính công", ROOT_AGENCY, "province",
			   "service_center");
	*state = f;
	return 0;
}

static struct ctx ctx_anon(struct fx *f, const char *ip)
{
	struct ctx c = {0};
	c.app = &f->t.app;
	c.a = &f->t.a;
	c.actor = "anonymous";
	c.client_ip = ip;
	return c;
}

static struct ctx ctx_cli(struct fx *f)
{
	struct ctx c = ctx_anon(f, NULL);
	c.who = &principal_cli;
	c.actor = "cli:test";
	return c;
}

static struct ctx ctx_as(struct fx *f, const struct principal *p)
{
	struct ctx c = ctx_anon(f, IP1);
	c.who = p;
	c.actor = arena_printf(&f->t.a, "user:%lld:%s", (long long)p->user_id, p->username);
	return c;
}

static bool has_field(const struct err *e, const char *name)
{
	for (int i = 0; i < e->nfields; i++)
		if (strcmp(e->fields[i].name, name) == 0)
			return true;
	return false;
}

static void register_citizen(struct fx *f, const char *cccd, const char *password)
{
	struct ctx c = ctx_anon(f, IP1);
	struct user_new u = {.id_number = cccd, .full_name = "Nguyễn Văn An", .phone = "0912345678",
			     .password = password};
	struct err e = {0};
	int64_t id = 0;
	if (identity_citizen_register(&c, &u, &id, &e) != 0)
		fail_msg("register %s: %s", cccd, e.msg);
	assert_true(id > 0);
}

static void create_user(struct fx *f, const char *username, enum role role, const char *agency)
{
	struct ctx c = ctx_cli(f);
	struct user_new u = {.username = username, .role = role, .agency_code = agency, .full_name = "Trần Thị Mai",
			     .title = "Chuyên viên", .password = PW};
	struct err e = {0};
	if (identity_user_create(&c, &u, NULL, &e) != 0)
		fail_msg("create %s: %s", username, e.msg);
}

static int login_ip(struct fx *f, const char *ip, const char *user, const char *pw, const char *totp,
		    struct login_result *lr, struct err *e)
{
	struct ctx c = ctx_anon(f, ip);
	err_clear(e);
	return identity_login(&c, user, pw, totp, lr, e);
}

static int login(struct fx *f, const char *user, const char *pw, const char *totp, struct login_result *lr,
		 struct err *e)
{
	return login_ip(f, IP1, user, pw, totp, lr, e);
}

static void must_login(struct fx *f, const char *user, const char *pw, const char *totp, struct login_result *lr)
{
	struct err e = {0};
	if (login(f, user, pw, totp, lr, &e) != 0)
		fail_msg("login %s: %d %s", user, e.code, e.msg);
}

static struct principal *auth(struct fx *f, const char *token)
{
	struct principal *p = NULL;
	struct err e = {0};
	int rc = identity_authenticate(&f->t.app, token, &f->t.a, &p, &e);
	if (rc == 0)
		assert_non_null(p);
	else
		assert_int_equal(rc, ERR_UNAUTHENTICATED);
	return rc == 0 ? p : NULL;
}

static void totp_now(const char *secret, char out[8])
{
	int code = totp_code(secret, test_clock() / 1000000 / 30);
	assert_true(code >= 0);
	snprintf(out, 8, "%06d", code);
}

static int64_t audit_count(struct fx *f, const char *action)
{
	return testapp_int(&f->t, "SELECT count(*) FROM audit_log WHERE action = $1", ARGS(SA_TEXT(action)));
}

/* ---- validators ---- */

static void test_validators(void **state)
{
	(void)state;
	assert_true(identity_cccd_valid("030095001234"));
	assert_true(identity_cccd_valid("001203004567"));
	assert_true(identity_cccd_valid("096000000001"));
	assert_false(identity_cccd_valid("000095001234")); /* province 000 */
	assert_false(identity_cccd_valid("097095001234")); /* province 097 */
	assert_false(identity_cccd_valid("03009500123"));  /* 11 digits */
	assert_false(identity_cccd_valid("0300950012345"));
	assert_false(identity_cccd_valid("03009500123a"));
	assert_false(identity_cccd_valid(""));
	assert_false(identity_cccd_valid(NULL));

	assert_true(identity_phone_valid("0912345678"));
	assert_true(identity_phone_valid("0382345678"));
	assert_true(identity_phone_valid("+84912345678"));
	assert_false(identity_phone_valid("84912345678"));
	assert_false(identity_phone_valid("091234567"));   /* 9 digits */
	assert_false(identity_phone_valid("09123456789")); /* 11 digits */
	assert_false(identity_phone_valid("0212345678"));  /* landline-style prefix */
	assert_false(identity_phone_valid("+8491234567"));
	assert_false(identity_phone_valid("091234567x"));
	assert_false(identity_phone_valid("0912 345 678"));
	assert_false(identity_phone_valid(NULL));

	assert_true(identity_email_valid("an.nguyen@haiduong.gov.vn"));
	assert_true(identity_email_valid("a+b@example.com"));
	assert_false(identity_email_valid("an@"));
	assert_false(identity_email_valid("@haiduong.gov.vn"));
	assert_false(identity_email_valid("an@localhost"));
	assert_false(identity_email_valid("an@@x.vn"));
	assert_false(identity_email_valid("a..n@x.vn"));
	assert_false(identity_email_valid(".an@x.vn"));
	assert_false(identity_email_valid("an@-x.vn"));
	assert_false(identity_email_valid("an@x.v"));
	assert_false(identity_email_valid("an@x.v1"));
	assert_false(identity_email_valid("an <x>@x.vn"));
	assert_false(identity_email_valid("nguyễn@x.vn"));

	assert_true(identity_username_valid("canbo.ttphc"));
	assert_true(identity_username_valid("admin"));
	assert_true(identity_username_valid("a_b-c.9"));
	assert_false(identity_username_valid("ab"));
	assert_false(identity_username_valid("Admin"));
	assert_false(identity_username_valid("9admin"));
	assert_false(identity_username_valid(CCCD1)); /* looks like a CCCD: reserved for citizens */
	assert_false(identity_username_valid("có dấu"));
	assert_false(identity_username_valid("a b c"));

	enum role r;
	assert_int_equal(role_parse("leader", &r), 0);
	assert_int_equal(r, ROLE_LEADER);
	assert_string_equal(role_name(ROLE_OFFICIAL), "official");
	assert_int_equal(role_parse("root", &r), -1);
	assert_int_equal(role_parse(NULL, &r), -1);
}

static void expect_bad_password(const char *pw, const char *user, const char *cccd, const char *why)
{
	struct err e = {0};
	int rc = identity_validate_password_for(pw, user, cccd, "password", &e);
	if (rc != ERR_INVALID || e.nfields != 1 || strcmp(e.fields[0].name, "password") != 0)
		fail_msg("password '%s' (%s) was accepted", pw, why);
	assert_non_null(strstr(e.fields[0].msg, why));
}

static void test_password_rules(void **state)
{
	(void)state;
	struct err e = {0};
	assert_int_equal(identity_validate_password("HaiDuong@2021", "password", &e), 0);
	assert_int_equal(identity_validate_password(PW, "password", &e), 0); /* Vietnamese letters, spaces */
	char max[129];
	memset(max, 'x', 128);
	max[0] = 'Q';
	max[128] = 0;
	assert_int_equal(identity_validate_password(max, "password", &e), 0);

	expect_bad_password("Ab1!xyz", NULL, NULL, "at least 8");
	expect_bad_password("", NULL, NULL, "required");
	char big[130];
	memset(big, 'y', 129);
	big[0] = 'Q';
	big[129] = 0;
	expect_bad_password(big, NULL, NULL, "at most 128");
	expect_bad_password("abc\xff\xfe" "defgh", NULL, NULL, "UTF-8");
	const char *common[] = {"matkhau123", "anhyeuem", "iloveyou", "123456789", "12345678", "password",
				"qwerty123",  "PASSWORD", "AnhYeuEm", "p@ssw0rd", "vietnam123", "11111111",
				"abcdefghij", "98765432"};
	for (size_t i = 0; i < sizeof common / sizeof common[0]; i++)
		expect_bad_password(common[i], NULL, NULL, "common");
	expect_bad_password("canbo.ttphc", "canbo.ttphc", NULL, "user name");
	expect_bad_password("CanBo.TTPHC", "canbo.ttphc", NULL, "user name");
	expect_bad_password(CCCD1, CCCD1, CCCD1, "CCCD");
	expect_bad_password(CCCD2, "someone", CCCD2, "CCCD");

	/* every bad field is named, each under its own name */
	err_clear(&e);
	err_field(&e, "phone", "bad");
	assert_int_equal(identity_validate_password("short", "new_password", &e), ERR_INVALID);
	assert_int_equal(e.nfields, 2);
	assert_true(has_field(&e, "new_password"));
}

static void test_in_scope(void **state)
{
	(void)state;
	struct principal admin = {.role = ROLE_ADMIN};
	struct principal citizen = {.role = ROLE_CITIZEN, .agency_path = "/a/"};
	struct principal off = {.role = ROLE_OFFICIAL, .agency_path = "/a/b/"};
	struct principal leader_noslash = {.role = ROLE_LEADER, .agency_path = "/a/b"};
	struct principal unscoped = {.role = ROLE_OFFICIAL};
	assert_true(identity_in_scope(&admin, "/x/"));
	assert_true(identity_in_scope(&principal_cli, "/x/y/"));
	assert_false(identity_in_scope(&citizen, "/a/"));
	assert_true(identity_in_scope(&off, "/a/b/"));
	assert_true(identity_in_scope(&off, "/a/b/c/"));
	assert_false(identity_in_scope(&off, "/a/"));
	assert_false(identity_in_scope(&off, "/a/bc/"));
	assert_false(identity_in_scope(&off, "/x/a/b/"));
	assert_false(identity_in_scope(&off, NULL));
	assert_true(identity_in_scope(&leader_noslash, "/a/b/c/"));
	assert_false(identity_in_scope(&leader_noslash, "/a/bc/"));
	assert_false(identity_in_scope(&unscoped, "/a/"));
	assert_false(identity_in_scope(NULL, "/a/"));
}

/* ---- users ---- */

static void test_register(void **state)
{
	struct fx *f = *state;
	struct ctx c = ctx_anon(f, IP1);
	struct err e = {0};
	struct user_new u = {.id_number = CCCD1, .full_name = "Nguyễn Văn An", .phone = "+84912345678",
			     .email = "an@example.vn", .password = PW};
	struct user out;
	assert_int_equal(identity_citizen_register_read(&c, &u, &out, &e), 0);
	assert_string_equal(out.username, CCCD1);
	assert_string_equal(out.id_number, CCCD1);
	assert_int_equal(out.role, ROLE_CITIZEN);
	assert_string_equal(out.phone, "0912345678"); /* normalised */
	assert_null(out.agency_code);
	assert_false(out.disabled);
	assert_true(out.created_at > 0);
	assert_int_equal(audit_count(f, "citizen.register"), 1);

	/* the same CCCD again: 409, nothing written */
	err_clear(&e);
	assert_int_equal(identity_citizen_register(&c, &u, NULL, &e), ERR_CONFLICT);
	assert_int_equal(testapp_int(&f->t, "SELECT count(*) FROM users", NOARGS), 1);
	assert_int_equal(audit_count(f, "citizen.register"), 1);

	/* every bad field named at once */
	struct user_new bad = {.id_number = "12345", .full_name = "<script>", .phone = "12345", .email = "x@",
			       .password = "123456789"};
	err_clear(&e);
	assert_int_equal(identity_citizen_register(&c, &bad, NULL, &e), ERR_INVALID);
	assert_int_equal(e.nfields, 5);
	const char *names[] = {"id_number", "full_name", "phone", "email", "password"};
	for (int i = 0; i < 5; i++)
		assert_true(has_field(&e, names[i]));
	/* missing ones too */
	struct user_new none = {0};
	err_clear(&e);
	assert_int_equal(identity_citizen_register(&c, &none, NULL, &e), ERR_INVALID);
	assert_true(has_field(&e, "id_number") && has_field(&e, "full_name") && has_field(&e, "phone") &&
		    has_field(&e, "password"));
	assert_false(has_field(&e, "email"));
	/* names: Vietnamese letters, apostrophes and hyphens yes; digits, symbols, controls no */
	struct user_new n2 = {.id_number = CCCD2, .full_name = "H'Hen Niê Đặng-Thị", .phone = "0382345678",
			      .password = PW};
	err_clear(&e);
	assert_int_equal(identity_citizen_register(&c, &n2, NULL, &e), 0);
	const char *bad_names[] = {"An 2", "An  Nguyen", " An", "An\tNguyen", "An\xe2\x80\xae", "@An", ""};
	for (size_t i = 0; i < sizeof bad_names / sizeof bad_names[0]; i++) {
		struct user_new n3 = {.id_number = "002203004567", .full_name = bad_names[i], .phone = "0912345678",
				      .password = PW};
		err_clear(&e);
		assert_int_equal(identity_citizen_register(&c, &n3, NULL, &e), ERR_INVALID);
		assert_true(has_field(&e, "full_name"));
	}
	/* 200 characters is the limit, counted in characters, not bytes */
	char long_name[700];
	size_t o = 0;
	for (int i = 0; i < 201; i++) {
		memcpy(long_name + o, "ễ", 3);
		o += 3;
	}
	long_name[o] = 0;
	struct user_new n4 = {.id_number = "002203004567", .full_name = long_name, .phone = "0912345678",
			      .password = PW};
	err_clear(&e);
	assert_int_equal(identity_citizen_register(&c, &n4, NULL, &e), ERR_INVALID);
	assert_true(has_field(&e, "full_name"));
	long_name[o - 3] = 0;
	err_clear(&e);
	assert_int_equal(identity_citizen_register(&c, &n4, NULL, &e), 0);
}

static void test_user_create_authority(void **state)
{
	struct fx *f = *state;
	struct err e = {0};
	struct user_new off = {.username = "canbo.ttphc", .role = ROLE_OFFICIAL, .agency_code = CHILD_AGENCY,
			       .full_name = "Trần Thị Mai", .title = "Chuyên viên tiếp nhận", .phone = "0912345678",
			       .password = PW};
	/* anonymous: 401; a citizen: 403 (checked in the domain, not only in the handler) */
	struct ctx anon = ctx_anon(f, IP1);
	assert_int_equal(identity_user_create(&anon, &off, NULL, &e), ERR_UNAUTHENTICATED);
	register_citizen(f, CCCD1, PW);
	struct login_result lr;
	must_login(f, CCCD1, PW, NULL, &lr);
	struct principal *citizen = auth(f, lr.token);
	assert_non_null(citizen);
	struct ctx cc = ctx_as(f, citizen);
	err_clear(&e);
	assert_int_equal(identity_user_create(&cc, &off, NULL, &e), ERR_FORBIDDEN);
	assert_int_equal(testapp_int(&f->t, "SELECT count(*) FROM users", NOARGS), 1);

	/* officials need an existing agency */
	struct ctx cli = ctx_cli(f);
	struct user_new noag = off;
	noag.agency_code = NULL;
	err_clear(&e);
	assert_int_equal(identity_user_create(&cli, &noag, NULL, &e), ERR_INVALID);
	assert_true(has_field(&e, "agency_code"));
	noag.agency_code = "999.99.99.X99";
	err_clear(&e);
	assert_int_equal(identity_user_create(&cli, &noag, NULL, &e), ERR_INVALID);
	assert_true(has_field(&e, "agency_code"));
	struct user created;
	err_clear(&e);
	assert_int_equal(identity_user_create_read(&cli, &off, &created, &e), 0);
	assert_string_equal(created.agency_code, CHILD_AGENCY);
	assert_string_equal(created.title, "Chuyên viên tiếp nhận");
	assert_int_equal(created.role, ROLE_OFFICIAL);
	err_clear(&e);
	assert_int_equal(identity_user_create(&cli, &off, NULL, &e), ERR_CONFLICT);

	/* bad fields, all named; the password may not be the user name */
	struct user_new bad = {.username = "Bad Name", .role = (enum role)7, .full_name = "", .id_number = "1",
			       .phone = "1", .email = "no", .password = "bad name"};
	err_clear(&e);
	assert_int_equal(identity_user_create(&cli, &bad, NULL, &e), ERR_INVALID);
	const char *names[] = {"username", "role", "full_name", "id_number", "phone", "email", "password"};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (!has_field(&e, names[i]))
			fail_msg("field %s not named", names[i]);
	struct user_new same = {.username = "lanhdao.x", .role = ROLE_LEADER, .agency_code = ROOT_AGENCY,
				.full_name = "Phạm Văn Hùng", .password = "LanhDao.X"};
	err_clear(&e);
	assert_int_equal(identity_user_create(&cli, &same, NULL, &e), ERR_INVALID);
	assert_true(has_field(&e, "password"));
	/* a citizen made by an admin: user name = CCCD, no agency */
	struct user_new cit = {.username = CCCD2, .role = ROLE_CITIZEN, .id_number = CCCD2,
			       .agency_code = ROOT_AGENCY, .full_name = "Lê Văn Nam", .password = PW};
	err_clear(&e);
	assert_int_equal(identity_user_create(&cli, &cit, NULL, &e), ERR_INVALID);
	assert_true(has_field(&e, "agency_code"));
	cit.agency_code = NULL;
	cit.username = "levannam";
	err_clear(&e);
	assert_int_equal(identity_user_create(&cli, &cit, NULL, &e), ERR_INVALID);
	assert_true(has_field(&e, "username"));
	cit.username = NULL;
	err_clear(&e);
	assert_int_equal(identity_user_create(&cli, &cit, NULL, &e), 0);
	assert_int_equal(audit_count(f, "user.create"), 2);
}

static void test_user_get_list(void **state)
{
	struct fx *f = *state;
	struct err e = {0};
	create_user(f, "canbo.a", ROLE_OFFICIAL, CHILD_AGENCY);
	create_user(f, "canbo.b", ROLE_OFFICIAL, ROOT_AGENCY);
	create_user(f, "lanhdao.a", ROLE_LEADER, CHILD_AGENCY);
	register_citizen(f, CCCD1, PW);
	struct ctx cli = ctx_cli(f);
	struct user *items;
	int n;
	int64_t total;
	assert_int_equal(identity_user_list(&cli, NULL, NULL, 1, 200, &items, &n, &total, &e), 0);
	assert_int_equal(total, 4);
	assert_int_equal(n, 4);
	assert_int_equal(identity_user_list(&cli, "official", NULL, 1, 200, &items, &n, &total, &e), 0);
	assert_int_equal(total, 2);
	assert_int_equal(identity_user_list(&cli, NULL, CHILD_AGENCY, 1, 200, &items, &n, &total, &e), 0);
	assert_int_equal(total, 2);
	assert_int_equal(identity_user_list(&cli, "official", CHILD_AGENCY, 1, 200, &items, &n, &total, &e), 0);
	assert_int_equal(n, 1);
	assert_string_equal(items[0].username, "canbo.a");
	assert_int_equal(identity_user_list(&cli, NULL, NULL, 2, 3, &items, &n, &total, &e), 0);
	assert_int_equal(total, 4);
	assert_int_equal(n, 1);
	assert_string_equal(items[0].username, CCCD1);
	assert_int_equal(identity_user_list(&cli, "root", NULL, 1, 10, &items, &n, &total, &e), ERR_INVALID);
	assert_true(has_field(&e, "role"));
	err_clear(&e);
	assert_int_equal(identity_user_list(&cli, NULL, NULL, 1, 201, &items, &n, &total, &e), ERR_INVALID);

	/* officials: their own record only; someone else's is "not found", existing or not */
	struct login_result lr;
	must_login(f, "canbo.a", PW, NULL, &lr);
	struct principal *p = auth(f, lr.token);
	assert_non_null(p);
	assert_string_equal(p->agency_code, CHILD_AGENCY);
	assert_string_equal(p->agency_path, "/" ROOT_AGENCY "/" CHILD_AGENCY "/");
	assert_int_equal(p->role, ROLE_OFFICIAL);
	assert_string_equal(p->title, "Chuyên viên");
	struct ctx c = ctx_as(f, p);
	struct user u;
	err_clear(&e);
	assert_int_equal(identity_user_get(&c, "canbo.a", &u, &e), 0);
	assert_string_equal(u.full_name, "Trần Thị Mai");
	assert_int_equal(identity_user_get(&c, "CANBO.A", &u, &e), 0);
	assert_int_equal(identity_user_get(&c, "canbo.b", &u, &e), ERR_NOT_FOUND);
	assert_int_equal(identity_user_get(&c, "nobody", &u, &e), ERR_NOT_FOUND);
	assert_int_equal(identity_user_list(&c, NULL, NULL, 1, 10, &items, &n, &total, &e), ERR_FORBIDDEN);
	assert_int_equal(identity_user_get(&cli, "canbo.b", &u, &e), 0);
	assert_int_equal(identity_user_get(&cli, "nobody", &u, &e), ERR_NOT_FOUND);
	struct ctx anon = ctx_anon(f, IP1);
	assert_int_equal(identity_user_get(&anon, "canbo.a", &u, &e), ERR_UNAUTHENTICATED);

	/* the JSON: every field, never a secret */
	struct buf b = BUF_INIT;
	struct jw w;
	jw_init(&w, &b);
	assert_int_equal(identity_user_get(&cli, "canbo.a", &u, &e), 0);
	identity_user_json(&w, &u);
	json_t *j;
	assert_int_equal(json_parse(b.ptr, b.len, &j, &e), 0);
	const char *keys[] = {"id", "username", "role", "agency_code", "full_name", "title", "id_number", "phone",
			      "email", "disabled", "totp_enabled", "created_at", "updated_at"};
	assert_int_equal(json_object_size(j), sizeof keys / sizeof keys[0]);
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
		assert_non_null(json_object_get(j, keys[i]));
	assert_string_equal(json_string_value(json_object_get(j, "role")), "official");
	assert_true(json_is_null(json_object_get(j, "email")));
	assert_non_null(strstr(json_string_value(json_object_get(j, "created_at")), "+07:00"));
	json_decref(j);
	assert_null(strstr(b.ptr, "argon2"));
	buf_free(&b);
}

/* ---- login, sessions ---- */

static void test_login_logout(void **state)
{
	struct fx *f = *state;
	register_citizen(f, CCCD1, PW);
	struct login_result lr;
	int64_t before = test_clock();
	must_login(f, CCCD1, PW, NULL, &lr);
	assert_int_equal(strlen(lr.token), 43);
	assert_true(strlen(lr.csrf) >= 32);
	assert_string_equal(lr.user.username, CCCD1);
	assert_true(lr.expires_at >= before + f->t.cfg.session_absolute * 1000000);
	assert_true(lr.expires_at <= test_clock() + f->t.cfg.session_absolute * 1000000);

	/* only the SHA-256 of the token is stored */
	char h[65];
	crypto_sha256_hex(lr.token, strlen(lr.token), h);
	assert_int_equal(testapp_int(&f->t, "SELECT count(*) FROM sessions WHERE id_hash = $1", ARGS(SA_TEXT(h))), 1);
	assert_int_equal(testapp_int(&f->t, "SELECT count(*) FROM sessions WHERE id_hash = $1 OR csrf = $1",
				     ARGS(SA_TEXT(lr.token))),
			 0);

	struct principal *p = auth(f, lr.token);
	assert_non_null(p);
	assert_int_equal(p->user_id, lr.user.id);
	assert_string_equal(p->username, CCCD1);
	assert_int_equal(p->role, ROLE_CITIZEN);
	assert_string_equal(p->id_number, CCCD1);
	assert_string_equal(p->csrf, lr.csrf);
	assert_string_equal(p->session_hash, h);
	assert_null(p->agency_code);
	assert_null(p->agency_path);
	assert_false(identity_in_scope(p, "/" ROOT_AGENCY "/"));
	/* twice: the second from the cache, the same answer */
	p = auth(f, lr.token);
	assert_non_null(p);
	assert_string_equal(p->csrf, lr.csrf);

	/* wrong, malformed, empty tokens */
	char wrong[64];
	str_copy(wrong, sizeof wrong, lr.token);
	wrong[5] = wrong[5] == 'A' ? 'B' : 'A';
	assert_null(auth(f, wrong));
	assert_null(auth(f, ""));
	assert_null(auth(f, "not a token"));
	assert_null(auth(f, h)); /* the stored hash is no token */

	/* a second session of the same user */
	struct login_result lr2;
	must_login(f, CCCD1, PW, NULL, &lr2);
	assert_int_equal(testapp_int(&f->t, "SELECT count(*) FROM sessions", NOARGS), 2);

	struct ctx c = ctx_as(f, p);
	struct err e = {0};
	assert_int_equal(identity_logout(&c, &e), 0);
	assert_null(auth(f, lr.token));
	assert_non_null(auth(f, lr2.token)); /* only this session ended */
	assert_int_equal(testapp_int(&f->t, "SELECT count(*) FROM sessions WHERE id_hash = $1", ARGS(SA_TEXT(h))), 0);
	assert_int_equal(audit_count(f, "auth.login"), 2);
	assert_int_equal(audit_count(f, "auth.logout"), 1);
	assert_int_equal(testapp_int(&f->t, "SELECT count(*) FROM audit_log WHERE action = 'auth.login' AND actor = $1",
				     ARGS(SA_TEXT(arena_printf(&f->t.a, "user:%lld:%s", (long long)lr.user.id, CCCD1)))),
			 2);
	struct ctx cli = ctx_cli(f);
	assert_int_equal(identity_logout(&cli, &e), ERR_BAD_REQUEST); /* no session to end */
}

static void test_login_failures(void **state)
{
	struct fx *f = *state;
	register_citizen(f, CCCD1, PW);
	struct login_result lr;
	struct err e1 = {0}, e2 = {0};
	assert_int_equal(login(f, CCCD1, "wrong password!", NULL, &lr, &e1), ERR_UNAUTHENTICATED);
	assert_int_equal(login(f, "nobody.here", PW, NULL, &lr, &e2), ERR_UNAUTHENTICATED);
	/* the same answer whether or not the user exists */
	assert_string_equal(e1.msg, "wrong user name or password");
	assert_string_equal(e2.msg, e1.msg);
	assert_int_equal(e1.nfields, 0);
	assert_int_equal(e2.nfields, 0);
	assert_int_equal(login(f, "", "", NULL, &lr, &e1), ERR_UNAUTHENTICATED);
	assert_int_equal(login(f, "a-very-long-user-name-that-cannot-exist-anywhere-because-it-is-longer-than-64", PW,
			       NULL, &lr, &e1),
			 ERR_UNAUTHENTICATED);
	assert_string_equal(e1.msg, "wrong user name or password");
	assert_null(lr.token[0] ? lr.token : NULL);
	assert_int_equal(testapp_int(&f->t, "SELECT count(*) FROM sessions", NOARGS), 0);
	/* audited with the name tried and the IP, never the password */
	assert_int_equal(audit_count(f, "auth.login_failed"), 4);
	assert_int_equal(testapp_int(&f->t,
				     "SELECT count(*) FROM audit_log WHERE action = 'auth.login_failed' AND object = $1 AND "
				     "change LIKE '%unknown_user%' AND change LIKE '%" IP1 "%'",
				     ARGS(SA_TEXT("user:nobody.here"))),
			 1);
	assert_int_equal(testapp_int(&f->t, "SELECT count(*) FROM audit_log WHERE change LIKE '%wrong password!%'", NOARGS),
			 0);
}

static void test_session_expiry(void **state)
{
	struct fx *f = *state;
	register_citizen(f, CCCD1, PW);
	struct login_result a, b, c;
	must_login(f, CCCD1, PW, NULL, &a);
	must_login(f, CCCD1, PW, NULL, &b);
	must_login(f, CCCD1, PW, NULL, &c);
	assert_non_null(auth(f, a.token));
	assert_non_null(auth(f, b.token));
	char ha[65], hb[65];
	crypto_sha256_hex(a.token, strlen(a.token), ha);
	crypto_sha256_hex(b.token, strlen(b.token), hb);
	int64_t idle = f->t.cfg.session_idle * 1000000;
	/* a: idle too long; b: past its absolute end (rows changed behind the cache's back) */
	testapp_exec(&f->t, "UPDATE sessions SET last_seen = last_seen - $1 - 1000000 WHERE id_hash = $2",
		     ARGS(SA_INT(idle), SA_TEXT(ha)));
	testapp_exec(&f->t, "UPDATE sessions SET expires_at = $1 WHERE id_hash = $2", ARGS(SA_INT(test_clock() - 1), SA_TEXT(hb)));
	/* the cache re-checks the database after IDENTITY_CACHE_TTL_S */
	advance_s(IDENTITY_CACHE_TTL_S + 1);
	assert_null(auth(f, a.token));
	assert_null(auth(f, b.token));
	assert_non_null(auth(f, c.token));

	/* idle timeout by the clock alone, and last_seen written at most once a minute */
	char hc[65];
	crypto_sha256_hex(c.token, strlen(c.token), hc);
	int64_t seen0 = testapp_int(&f->t, "SELECT last_seen FROM sessions WHERE id_hash = $1", ARGS(SA_TEXT(hc)));
	advance_s(30);
	assert_non_null(auth(f, c.token));
	assert_int_equal(testapp_int(&f->t, "SELECT last_seen FROM sessions WHERE id_hash = $1", ARGS(SA_TEXT(hc))), seen0);
	advance_s(31);
	int64_t t = test_clock();
	assert_non_null(auth(f, c.token));
	int64_t seen1 = testapp_int(&f->t, "SELECT last_seen FROM sessions WHERE id_hash = $1", ARGS(SA_TEXT(hc)));
	assert_true(seen1 >= t && seen1 <= test_clock());
	advance_s((double)f->t.cfg.session_idle - 5);
	assert_non_null(auth(f, c.token)); /* used within the idle time: still alive */
	advance_s((double)f->t.cfg.session_idle + 1);
	assert_null(auth(f, c.token));

	/* absolute end by the clock, even when used all the time */
	struct login_result d;
	must_login(f, CCCD1, PW, NULL, &d);
	for (int64_t s = 0; s < f->t.cfg.session_absolute - 600; s += 600) {
		advance_s(600);
		if (!auth(f, d.token))
			fail_msg("session ended early, after %lld s", (long long)s);
	}
	advance_s(601);
	assert_null(auth(f, d.token));
	/* housekeeping removes what is dead */
	int64_t deleted = 0;
	struct err e = {0};
	assert_int_equal(identity_sessions_purge(&f->t.app, &deleted, &e), 0);
	assert_true(deleted >= 1);
	assert_int_equal(testapp_int(&f->t, "SELECT count(*) FROM sessions", NOARGS), 0);
}

static void test_session_cache(void **state)
{
	struct fx *f = *state;
	register_citizen(f, CCCD1, PW);
	struct login_result a;
	must_login(f, CCCD1, PW, NULL, &a);
	assert_non_null(auth(f, a.token));
	/* another node ends the session in the database: this node notices within the TTL */
	testapp_exec(&f->t, "DELETE FROM sessions", NOARGS);
	assert_non_null(auth(f, a.token)); /* served from the cache */
	advance_s(IDENTITY_CACHE_TTL_S + 1);
	assert_null(auth(f, a.token));
	/* a change in this process is seen at once */
	struct login_result b;
	must_login(f, CCCD1, PW, NULL, &b);
	struct principal *p = auth(f, b.token);
	assert_non_null(p);
	struct ctx c = ctx_as(f, p);
	struct err e = {0};
	assert_int_equal(identity_logout(&c, &e), 0);
	assert_null(auth(f, b.token));
}

static void test_password_change(void **state)
{
	struct fx *f = *state;
	register_citizen(f, CCCD1, PW);
	struct login_result a, b;
	must_login(f, CCCD1, PW, NULL, &a);
	must_login(f, CCCD1, PW, NULL, &b);
	struct principal *p = auth(f, a.token);
	assert_non_null(auth(f, b.token));
	struct ctx c = ctx_as(f, p);
	struct err e = {0};
	/* self: the old password is required and checked */
	assert_int_equal(identity_password_set(&c, CCCD1, NULL, PW2, &e), ERR_INVALID);
	assert_true(has_field(&e, "old_password"));
	err_clear(&e);
	assert_int_equal(identity_password_set(&c, CCCD1, "not the password", PW2, &e), ERR_INVALID);
	assert_true(has_field(&e, "old_password"));
	err_clear(&e);
	assert_int_equal(identity_password_set(&c, CCCD1, PW, "matkhau123", &e), ERR_INVALID);
	assert_true(has_field(&e, "new_password"));
	err_clear(&e);
	assert_int_equal(identity_password_set(&c, CCCD1, PW, CCCD1, &e), ERR_INVALID);
	err_clear(&e);
	assert_int_equal(identity_password_set(&c, CCCD1, PW, PW, &e), ERR_INVALID);
	err_clear(&e);
	/* not someone else's */
	register_citizen(f, CCCD2, PW);
	assert_int_equal(identity_password_set(&c, CCCD2, PW, PW2, &e), ERR_FORBIDDEN);
	err_clear(&e);
	assert_int_equal(identity_password_set(&c, CCCD1, PW, PW2, &e), 0);
	/* every session ended, in the cache too */
	assert_null(auth(f, a.token));
	assert_null(auth(f, b.token));
	assert_int_equal(testapp_int(&f->t, "SELECT count(*) FROM sessions", NOARGS), 0);
	struct login_result lr;
	assert_int_equal(login(f, CCCD1, PW, NULL, &lr, &e), ERR_UNAUTHENTICATED);
	must_login(f, CCCD1, PW2, NULL, &lr);
	/* an administrator needs no old password */
	struct ctx cli = ctx_cli(f);
	err_clear(&e);
	assert_int_equal(identity_password_set(&cli, CCCD1, NULL, PW, &e), 0);
	assert_null(auth(f, lr.token));
	must_login(f, CCCD1, PW, NULL, &lr);
	err_clear(&e);
	assert_int_equal(identity_password_set(&cli, "nobody", NULL, PW, &e), ERR_NOT_FOUND);
	assert_int_equal(audit_count(f, "user.password"), 2);
	assert_int_equal(testapp_int(&f->t,
				     "SELECT count(*) FROM audit_log WHERE change LIKE '%argon2%' OR change LIKE '%' || $1 || "
				     "'%' OR change LIKE '%' || $2 || '%'",
				     ARGS(SA_TEXT(PW), SA_TEXT(PW2))),
			 0);
}

static void test_disable(void **state)
{
	struct fx *f = *state;
	register_citizen(f, CCCD1, PW);
	create_user(f, "quantri.a", ROLE_ADMIN, NULL);
	struct login_result lr;
	must_login(f, CCCD1, PW, NULL, &lr);
	assert_non_null(auth(f, lr.token));
	struct err e = {0};
	/* only admins */
	struct principal *p = auth(f, lr.token);
	struct ctx c = ctx_as(f, p);
	assert_int_equal(identity_user_disable(&c, CCCD1, true, &e), ERR_FORBIDDEN);
	struct ctx cli = ctx_cli(f);
	err_clear(&e);
	assert_int_equal(identity_user_disable(&cli, CCCD1, true, &e), 0);
	assert_null(auth(f, lr.token)); /* at once, not after the cache TTL */
	assert_int_equal(testapp_int(&f->t, "SELECT count(*) FROM sessions", NOARGS), 0);
	struct login_result lr2;
	assert_int_equal(login(f, CCCD1, PW, NULL, &lr2, &e), ERR_UNAUTHENTICATED);
	assert_non_null(strstr(e.msg, "disabled"));
	/* the wrong password says nothing about the account being disabled */
	assert_int_equal(login(f, CCCD1, "wrong password", NULL, &lr2, &e), ERR_UNAUTHENTICATED);
	assert_null(strstr(e.msg, "disabled"));
	struct user u;
	assert_int_equal(identity_user_get(&cli, CCCD1, &u, &e), 0);
	assert_true(u.disabled);
	/* again: nothing changes, nothing audited */
	assert_int_equal(identity_user_disable(&cli, CCCD1, true, &e), 0);
	assert_int_equal(audit_count(f, "user.disable"), 1);
	assert_int_equal(identity_user_disable(&cli, CCCD1, false, &e), 0);
	assert_int_equal(audit_count(f, "user.enable"), 1);
	must_login(f, CCCD1, PW, NULL, &lr2);
	assert_int_equal(identity_user_disable(&cli, "nobody", true, &e), ERR_NOT_FOUND);
	/* an admin cannot disable itself */
	struct principal self = {.user_id = 99, .username = "quantri.a", .role = ROLE_ADMIN};
	struct ctx sc = ctx_as(f, &self);
	assert_int_equal(identity_user_disable(&sc, "quantri.a", true, &e), ERR_CONFLICT);
}

/* ---- TOTP ---- */

static void test_totp_admin(void **state)
{
	struct fx *f = *state;
	create_user(f, "quantri", ROLE_ADMIN, NULL);
	struct login_result lr;
	struct err e = {0};
	/* required for admins and not enrolled: refused, pointing to the CLI */
	assert_int_equal(login(f, "quantri", PW, NULL, &lr, &e), ERR_UNAUTHENTICATED);
	assert_non_null(strstr(e.msg, "tinhso user totp"));
	assert_int_equal(login(f, "quantri", "wrong password", NULL, &lr, &e), ERR_UNAUTHENTICATED);
	assert_null(strstr(e.msg, "TOTP")); /* the wrong password reveals nothing of TOTP */

	const char *secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
	struct ctx cli = ctx_cli(f);
	assert_int_equal(identity_totp_set(&cli, "quantri", "jbswy3dpehpk3pxp jbswy3dpehpk3pxp", &e), 0);
	assert_int_equal(testapp_int(&f->t, "SELECT count(*) FROM users WHERE totp_secret = $1 AND totp_enabled = 1",
				     ARGS(SA_TEXT(secret))),
			 1);
	err_clear(&e);
	assert_int_equal(identity_totp_set(&cli, "quantri", "not base32!", &e), ERR_INVALID);
	err_clear(&e);
	assert_int_equal(identity_totp_set(&cli, "quantri", "MZXW6", &e), ERR_INVALID); /* too short */
	err_clear(&e);
	assert_int_equal(identity_totp_set(&cli, "nobody", secret, &e), ERR_NOT_FOUND);

	/* no code: 401 "TOTP code required" naming the field */
	assert_int_equal(login(f, "quantri", PW, NULL, &lr, &e), ERR_UNAUTHENTICATED);
	assert_string_equal(e.msg, "TOTP code required");
	assert_true(has_field(&e, "totp"));
	assert_int_equal(login(f, "quantri", PW, "", &lr, &e), ERR_UNAUTHENTICATED);
	assert_string_equal(e.msg, "TOTP code required");
	/* a wrong code */
	char code[8];
	totp_now(secret, code);
	char wrong[8];
	snprintf(wrong, sizeof wrong, "%06d", (atoi(code) + 1) % 1000000);
	assert_int_equal(login(f, "quantri", PW, wrong, &lr, &e), ERR_UNAUTHENTICATED);
	assert_int_equal(login(f, "quantri", PW, "12345", &lr, &e), ERR_UNAUTHENTICATED);
	/* three failures (login_free_failures): the next try waits a second */
	assert_int_equal(login(f, "quantri", PW, code, &lr, &e), ERR_RATE_LIMITED);
	advance_s(1.1);
	totp_now(secret, code);
	/* the right one, once */
	assert_int_equal(login(f, "quantri", PW, code, &lr, &e), 0);
	struct principal *p = auth(f, lr.token);
	assert_non_null(p);
	assert_int_equal(p->role, ROLE_ADMIN);
	assert_true(identity_in_scope(p, "/anything/"));
	struct login_result lr2;
	assert_int_equal(login(f, "quantri", PW, code, &lr2, &e), ERR_UNAUTHENTICATED);
	assert_true(has_field(&e, "totp"));
	assert_int_equal(testapp_int(&f->t, "SELECT count(*) FROM audit_log WHERE action = 'auth.login_failed' AND change LIKE "
					"'%totp_replay%'",
				     NOARGS),
			 1);
	/* the next step's code works; an older one does not */
	advance_s(30);
	char next[8];
	totp_now(secret, next);
	assert_int_equal(login(f, "quantri", PW, next, &lr2, &e), 0);
	assert_int_equal(login(f, "quantri", PW, code, &lr2, &e), ERR_UNAUTHENTICATED);
	/* spaces are allowed in the code */
	advance_s(30);
	totp_now(secret, next);
	char spaced[10] = {next[0], next[1], next[2], ' ', next[3], next[4], next[5], 0};
	assert_int_equal(login(f, "quantri", PW, spaced, &lr2, &e), 0);
	/* not required when the setting is off and not enrolled */
	assert_int_equal(identity_totp_set(&cli, "quantri", NULL, &e), 0);
	f->t.cfg.totp_required_admin = false;
	must_login(f, "quantri", PW, NULL, &lr2);
	assert_true(audit_count(f, "user.totp") >= 2);
	assert_int_equal(testapp_int(&f->t, "SELECT count(*) FROM audit_log WHERE change LIKE '%' || $1 || '%'",
				     ARGS(SA_TEXT(secret))),
			 0);
}

static void test_totp_enrol(void **state)
{
	struct fx *f = *state;
	register_citizen(f, CCCD1, PW);
	struct login_result lr;
	must_login(f, CCCD1, PW, NULL, &lr);
	struct principal *p = auth(f, lr.token);
	struct ctx c = ctx_as(f, p);
	struct err e = {0};
	char secret[33];
	assert_int_equal(identity_totp_confirm(&c, "123456", &e), ERR_CONFLICT); /* not begun */
	err_clear(&e);
	assert_int_equal(identity_totp_begin(&c, secret, &e), 0);
	assert_int_equal(strlen(secret), 32);
	/* begun, not active: login still works without a code */
	struct login_result lr2;
	must_login(f, CCCD1, PW, NULL, &lr2);
	char code[8], wrong[8];
	totp_now(secret, code);
	snprintf(wrong, sizeof wrong, "%06d", (atoi(code) + 500000) % 1000000);
	err_clear(&e);
	assert_int_equal(identity_totp_confirm(&c, wrong, &e), ERR_INVALID);
	assert_true(has_field(&e, "code"));
	err_clear(&e);
	assert_int_equal(identity_totp_confirm(&c, code, &e), 0);
	struct user u;
	assert_int_equal(identity_user_get(&c, CCCD1, &u, &e), 0);
	assert_true(u.totp_enabled);
	/* the confirming code cannot log in again */
	assert_int_equal(login(f, CCCD1, PW, code, &lr2, &e), ERR_UNAUTHENTICATED);
	assert_int_equal(login(f, CCCD1, PW, NULL, &lr2, &e), ERR_UNAUTHENTICATED);
	assert_string_equal(e.msg, "TOTP code required");
	advance_s(30);
	totp_now(secret, code);
	must_login(f, CCCD1, PW, code, &lr2);
	/* enrolled: begin again is refused (a stolen session cannot replace the secret) */
	err_clear(&e);
	assert_int_equal(identity_totp_begin(&c, secret, &e), ERR_CONFLICT);
	struct ctx cli = ctx_cli(f);
	assert_int_equal(identity_totp_begin(&cli, secret, &e), ERR_BAD_REQUEST);
	assert_int_equal(audit_count(f, "user.totp"), 2);
}

/* ---- throttling ---- */

static void test_throttle_account(void **state)
{
	struct fx *f = *state;
	register_citizen(f, CCCD1, PW);
	struct login_result lr;
	struct err e = {0};
	/* login_free_failures = 3 */
	for (int i = 0; i < 3; i++)
		assert_int_equal(login(f, CCCD1, "wrong password", NULL, &lr, &e), ERR_UNAUTHENTICATED);
	int64_t audited = audit_count(f, "auth.login_failed");
	/* now even the right password waits: 429 without checking it */
	assert_int_equal(login(f, CCCD1, PW, NULL, &lr, &e), ERR_RATE_LIMITED);
	assert_int_equal(e.retry_after, 1);
	assert_int_equal(audit_count(f, "auth.login_failed"), audited);
	/* from another IP too: it is the account that is slowed */
	assert_int_equal(login_ip(f, "198.51.100.7", CCCD1, PW, NULL, &lr, &e), ERR_RATE_LIMITED);
	advance_s(1.1);
	assert_int_equal(login(f, CCCD1, PW, NULL, &lr, &e), 0);
	/* success reset it; then the delays grow: 1, 2, 4, 8 ... 60 s at most */
	for (int i = 0; i < 3; i++)
		assert_int_equal(login(f, CCCD1, "wrong password", NULL, &lr, &e), ERR_UNAUTHENTICATED);
	int expected[] = {1, 2, 4, 8, 16, 32, 60, 60};
	for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++) {
		assert_int_equal(login(f, CCCD1, "wrong password", NULL, &lr, &e), ERR_RATE_LIMITED);
		if (e.retry_after != expected[i])
			fail_msg("delay %zu: %d s, expected %d", i, e.retry_after, expected[i]);
		advance_s(expected[i] - 0.5);
		assert_int_equal(login(f, CCCD1, PW, NULL, &lr, &e), ERR_RATE_LIMITED);
		advance_s(0.6);
		assert_int_equal(login(f, CCCD1, "wrong password", NULL, &lr, &e), ERR_UNAUTHENTICATED);
	}
	/* never locked out for more than a minute */
	advance_s(IDENTITY_MAX_DELAY_S + 0.1);
	assert_int_equal(login(f, CCCD1, PW, NULL, &lr, &e), 0);
	/* a quiet window forgets old failures */
	for (int i = 0; i < 3; i++)
		assert_int_equal(login(f, CCCD1, "wrong password", NULL, &lr, &e), ERR_UNAUTHENTICATED);
	advance_s((double)f->t.cfg.login_window + 1);
	for (int i = 0; i < 3; i++)
		assert_int_equal(login(f, CCCD1, "wrong password", NULL, &lr, &e), ERR_UNAUTHENTICATED);
	assert_int_equal(login(f, CCCD1, PW, NULL, &lr, &e), ERR_RATE_LIMITED);

	/* unknown user names are slowed the same way (no hint that they do not exist) */
	for (int i = 0; i < 3; i++)
		assert_int_equal(login(f, "nobody", "wrong password", NULL, &lr, &e), ERR_UNAUTHENTICATED);
	assert_int_equal(login(f, "nobody", "wrong password", NULL, &lr, &e), ERR_RATE_LIMITED);
	assert_int_equal(login(f, "NoBody", "wrong password", NULL, &lr, &e), ERR_RATE_LIMITED);

	/* the old-password check of a password change is throttled with the logins */
	advance_s(IDENTITY_MAX_DELAY_S + 1);
	must_login(f, CCCD1, PW, NULL, &lr);
	struct principal *p = auth(f, lr.token);
	struct ctx c = ctx_as(f, p);
	for (int i = 0; i < 3; i++) {
		err_clear(&e);
		assert_int_equal(identity_password_set(&c, CCCD1, "guess number 1", PW2, &e), ERR_INVALID);
	}
	err_clear(&e);
	assert_int_equal(identity_password_set(&c, CCCD1, PW, PW2, &e), ERR_RATE_LIMITED);
	assert_true(e.retry_after >= 1);
}

static void test_throttle_long_names(void **state)
{
	struct fx *f = *state;
	char name64[65], longer[80];
	memset(name64, 'x', 64);
	name64[0] = 'q';
	name64[64] = 0;
	create_user(f, name64, ROLE_OFFICIAL, CHILD_AGENCY);
	snprintf(longer, sizeof longer, "%sEXTRA", name64);
	struct login_result lr;
	struct err e = {0};
	/* names longer than any account: throttled together, apart from the real account */
	for (int i = 0; i < 3; i++)
		assert_int_equal(login(f, longer, "wrong password", NULL, &lr, &e), ERR_UNAUTHENTICATED);
	assert_int_equal(login(f, longer, "wrong password", NULL, &lr, &e), ERR_RATE_LIMITED);
	assert_int_equal(login(f, "another-name-that-is-far-too-long-to-be-any-user-name-in-tinhso-at-all", PW, NULL,
			       &lr, &e),
			 ERR_RATE_LIMITED);
	must_login(f, name64, PW, NULL, &lr);
	assert_int_equal(testapp_int(&f->t, "SELECT count(*) FROM audit_log WHERE action = 'auth.login_failed' AND object = $1",
				     ARGS(SA_TEXT(arena_printf(&f->t.a, "user:%s", name64)))),
			 3); /* audited under the first 64 bytes, lowercased */
}

static void test_throttle_ip(void **state)
{
	struct fx *f = *state;
	register_citizen(f, CCCD1, PW);
	f->t.cfg.login_ip_failures = 5;
	struct login_result lr;
	struct err e = {0};
	char name[32];
	for (int i = 0; i < 5; i++) {
		snprintf(name, sizeof name, "guess%d", i);
		assert_int_equal(login_ip(f, "203.0.113.9", name, "wrong password", NULL, &lr, &e), ERR_UNAUTHENTICATED);
	}
	/* that IP is refused for the rest of the window, even for a good account */
	assert_int_equal(login_ip(f, "203.0.113.9", CCCD1, PW, NULL, &lr, &e), ERR_RATE_LIMITED);
	assert_true(e.retry_after > f->t.cfg.login_window - 5 && e.retry_after <= f->t.cfg.login_window);
	assert_int_equal(login_ip(f, "203.0.113.10", CCCD1, PW, NULL, &lr, &e), 0);
	advance_s((double)f->t.cfg.login_window - 10);
	assert_int_equal(login_ip(f, "203.0.113.9", CCCD1, PW, NULL, &lr, &e), ERR_RATE_LIMITED);
	assert_true(e.retry_after <= 10);
	advance_s(11);
	assert_int_equal(login_ip(f, "203.0.113.9", CCCD1, PW, NULL, &lr, &e), 0);
	/* successes do not count; an IPv6 /64 counts as one client */
	for (int i = 0; i < 5; i++) {
		char ip[64];
		snprintf(ip, sizeof ip, "2001:db8:1:2::%x", i + 1);
		snprintf(name, sizeof name, "six%d", i);
		assert_int_equal(login_ip(f, ip, name, "wrong password", NULL, &lr, &e), ERR_UNAUTHENTICATED);
	}
	assert_int_equal(login_ip(f, "2001:db8:1:2:ffff::1", CCCD1, PW, NULL, &lr, &e), ERR_RATE_LIMITED);
	assert_int_equal(login_ip(f, "2001:db8:1:3::1", CCCD1, PW, NULL, &lr, &e), 0);
}

static void test_rehash(void **state)
{
	struct fx *f = *state;
	register_citizen(f, CCCD1, PW);
	const char *sql = "SELECT count(*) FROM users WHERE password_hash LIKE $1";
	assert_int_equal(testapp_int(&f->t, sql, ARGS(SA_TEXT("$argon2id$v=19$m=8192,t=1,%"))), 1);
	struct login_result lr;
	/* stronger parameters: rehashed at the next login */
	f->t.app.pw.ops = 2;
	must_login(f, CCCD1, PW, NULL, &lr);
	assert_int_equal(testapp_int(&f->t, sql, ARGS(SA_TEXT("$argon2id$v=19$m=8192,t=2,%"))), 1);
	assert_int_equal(testapp_int(&f->t, "SELECT count(*) FROM audit_log WHERE change LIKE '%\"rehashed\":true%'", NOARGS),
			 1);
	/* weaker ones never weaken a hash */
	f->t.app.pw.ops = 1;
	must_login(f, CCCD1, PW, NULL, &lr);
	assert_int_equal(testapp_int(&f->t, sql, ARGS(SA_TEXT("$argon2id$v=19$m=8192,t=2,%"))), 1);
	must_login(f, CCCD1, PW, NULL, &lr);
}

static void test_audit_chain(void **state)
{
	struct fx *f = *state;
	register_citizen(f, CCCD1, PW);
	struct login_result lr, bad;
	must_login(f, CCCD1, PW, NULL, &lr);
	struct err e = {0};
	assert_int_equal(login(f, CCCD1, "wrong password", NULL, &bad, &e), ERR_UNAUTHENTICATED);
	/* every entry identity appended is a valid, signed link of the chain */
	struct audit_verify_result res = {0};
	assert_int_equal(audit_verify(&f->t.app, &res, &e), 0);
	assert_int_equal(res.entries, 3);
	assert_int_equal(res.first_bad, 0);
	/* tokens, CSRF tokens and hashes never reach the audit documents */
	assert_int_equal(testapp_int(&f->t,
				     "SELECT count(*) FROM audit_log WHERE change LIKE '%argon2%' OR change LIKE '%' || $1 || '%' "
				     "OR change LIKE '%' || $2 || '%'",
				     ARGS(SA_TEXT(lr.token), SA_TEXT(lr.csrf))),
			 0);
	assert_int_equal(testapp_int(&f->t, "SELECT count(*) FROM audit_log", NOARGS), 3);
}

/* ---- the JSON routes through the real server ---- */

struct http_res {
	long status;
	struct buf body, headers;
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
	buf_free(&r->headers);
	if (r->json)
		json_decref(r->json);
	memset(r, 0, sizeof *r);
}

/* One request; extra is a header line or NULL, extra2 another. */
static void http_do(int port, const char *method, const char *path, const char *json, const char *extra,
		    const char *extra2, struct http_res *out)
{
	http_res_free(out);
	CURL *h = curl_easy_init();
	assert_non_null(h);
	char url[256];
	snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
	struct curl_slist *hs = NULL;
	if (json)
		hs = curl_slist_append(hs, "Content-Type: application/json");
	if (extra)
		hs = curl_slist_append(hs, extra);
	if (extra2)
		hs = curl_slist_append(hs, extra2);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	if (json)
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, json);
	else if (strcmp(method, "POST") == 0)
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hs);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &out->body);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, collect);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, &out->headers);
	CURLcode rc = curl_easy_perform(h);
	if (rc != CURLE_OK)
		fail_msg("%s %s: %s", method, path, curl_easy_strerror(rc));
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &out->status);
	curl_slist_free_all(hs);
	curl_easy_cleanup(h);
	out->json = out->body.len ? json_loadb(out->body.ptr, out->body.len, 0, NULL) : NULL;
}

/* The value of a response header (in r's arena-free buffer), or NULL. */
static const char *header_of(struct http_res *r, const char *name, char *out, size_t cap)
{
	const char *p = buf_cstr(&r->headers);
	size_t n = strlen(name);
	while (p && *p) {
		if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
			p += n + 1;
			while (*p == ' ')
				p++;
			size_t len = strcspn(p, "\r\n");
			if (len >= cap)
				len = cap - 1;
			memcpy(out, p, len);
			out[len] = 0;
			return out;
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return NULL;
}

static const char *jstr(json_t *j, const char *a, const char *b)
{
	json_t *v = json_object_get(j, a);
	if (b)
		v = json_object_get(v, b);
	return json_string_value(v);
}

static json_t *jfields(struct http_res *r)
{
	return json_object_get(json_object_get(json_object_get(r->json, "error"), "details"), "fields");
}

static void test_http_routes(void **state)
{
	struct fx *f = *state;
	struct http_options opt = {.host = "127.0.0.1", .port = 0, .threads = 2, .workers = 2,
				   .max_body = 65536, .max_upload = 65536, .max_connections = 64, .max_per_ip = 64,
				   .conn_timeout = 10};
	struct http_server *srv;
	struct err e = {0};
	assert_int_equal(http_start(&srv, &opt, identity_routes, identity_nroutes, &f->t.app, &e), 0);
	int port = http_port(srv);
	struct http_res r = {0};
	char hv[512], auth_h[128], cookie_h[128], csrf_h[128];

	/* registration: 201 with the user; every bad field named; unknown fields refused */
	http_do(port, "POST", "/api/v1/citizens",
		"{\"id_number\":\"" CCCD1 "\",\"full_name\":\"Nguyễn Văn An\",\"phone\":\"0912345678\","
		"\"password\":\"" PW "\"}",
		NULL, NULL, &r);
	assert_int_equal(r.status, 201);
	assert_string_equal(jstr(r.json, "username", NULL), CCCD1);
	assert_string_equal(jstr(r.json, "role", NULL), "citizen");
	assert_null(json_object_get(r.json, "password_hash"));
	http_do(port, "POST", "/api/v1/citizens",
		"{\"id_number\":\"" CCCD1 "\",\"full_name\":\"Nguyễn Văn An\",\"phone\":\"0912345678\","
		"\"password\":\"" PW "\"}",
		NULL, NULL, &r);
	assert_int_equal(r.status, 409);
	assert_string_equal(jstr(r.json, "error", "code"), "conflict");
	http_do(port, "POST", "/api/v1/citizens", "{\"id_number\":\"1\",\"phone\":\"x\",\"password\":\"password\"}",
		NULL, NULL, &r);
	assert_int_equal(r.status, 422);
	assert_int_equal(json_object_size(jfields(&r)), 4); /* id_number, full_name, phone, password */
	assert_non_null(json_object_get(jfields(&r), "full_name"));
	http_do(port, "POST", "/api/v1/citizens", "{\"id_number\":\"" CCCD2 "\",\"role\":\"admin\"}", NULL, NULL, &r);
	assert_int_equal(r.status, 422);
	assert_string_equal(json_string_value(json_object_get(jfields(&r), "role")), "unknown field");

	/* login: token, CSRF token, expiry, user, and the cookie */
	http_do(port, "POST", "/api/v1/auth/login", "{\"username\":\"" CCCD1 "\",\"password\":\"" PW "\"}", NULL, NULL,
		&r);
	assert_int_equal(r.status, 200);
	char token[64], csrf[64];
	assert_non_null(jstr(r.json, "token", NULL));
	assert_non_null(jstr(r.json, "csrf_token", NULL));
	str_copy(token, sizeof token, jstr(r.json, "token", NULL));
	str_copy(csrf, sizeof csrf, jstr(r.json, "csrf_token", NULL));
	assert_non_null(jstr(r.json, "expires_at", NULL));
	assert_string_equal(jstr(r.json, "user", "username"), CCCD1);
	snprintf(auth_h, sizeof auth_h, "Authorization: Bearer %s", token);
	snprintf(cookie_h, sizeof cookie_h, "Cookie: %s=%s", API_SESSION_COOKIE, token);
	snprintf(csrf_h, sizeof csrf_h, "X-CSRF-Token: %s", csrf);
	assert_non_null(header_of(&r, "Set-Cookie", hv, sizeof hv));
	char want[256];
	snprintf(want, sizeof want, "tinhso_session=%s; Path=/; HttpOnly; SameSite=Lax; Max-Age=%lld", token,
		 (long long)f->t.cfg.session_absolute);
	assert_string_equal(hv, want); /* no Secure over plain HTTP */
	header_of(&r, "Cache-Control", hv, sizeof hv);
	assert_string_equal(hv, "no-store");

	/* me by bearer and by cookie */
	http_do(port, "GET", "/api/v1/auth/me", NULL, auth_h, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(jstr(r.json, "user", "id_number"), CCCD1);
	assert_string_equal(jstr(r.json, "csrf_token", NULL), csrf);
	http_do(port, "GET", "/api/v1/auth/me", NULL, cookie_h, NULL, &r);
	assert_int_equal(r.status, 200);
	http_do(port, "GET", "/api/v1/auth/me", NULL, NULL, NULL, &r);
	assert_int_equal(r.status, 401);
	http_do(port, "GET", "/api/v1/users/" CCCD1, NULL, auth_h, NULL, &r);
	assert_int_equal(r.status, 200);
	http_do(port, "GET", "/api/v1/users", NULL, auth_h, NULL, &r);
	assert_int_equal(r.status, 403);

	/* TOTP enrolment */
	http_do(port, "POST", "/api/v1/auth/totp/begin", NULL, auth_h, NULL, &r);
	assert_int_equal(r.status, 200);
	char secret[40];
	str_copy(secret, sizeof secret, jstr(r.json, "secret", NULL));
	snprintf(want, sizeof want, "otpauth://totp/tinhso:%s?secret=%s&issuer=tinhso", CCCD1, secret);
	assert_true(strncmp(jstr(r.json, "otpauth_uri", NULL), want, strlen(want)) == 0);
	char code[8], body[64];
	totp_now(secret, code);
	snprintf(body, sizeof body, "{\"code\":\"%s\"}", code);
	http_do(port, "POST", "/api/v1/auth/totp/confirm", body, auth_h, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_true(json_is_true(json_object_get(r.json, "totp_enabled")));

	/* now login needs the code: 401, code unauthenticated, details.fields.totp */
	http_do(port, "POST", "/api/v1/auth/login", "{\"username\":\"" CCCD1 "\",\"password\":\"" PW "\"}", NULL, NULL,
		&r);
	assert_int_equal(r.status, 401);
	assert_string_equal(jstr(r.json, "error", "code"), "unauthenticated");
	assert_string_equal(jstr(r.json, "error", "message"), "TOTP code required");
	assert_non_null(json_object_get(jfields(&r), "totp"));

	/* logout by cookie needs the CSRF token */
	http_do(port, "POST", "/api/v1/auth/logout", NULL, cookie_h, NULL, &r);
	assert_int_equal(r.status, 403);
	http_do(port, "POST", "/api/v1/auth/logout", NULL, cookie_h, csrf_h, &r);
	assert_int_equal(r.status, 200);
	assert_non_null(header_of(&r, "Set-Cookie", hv, sizeof hv));
	assert_non_null(strstr(hv, "Max-Age=0"));
	http_do(port, "GET", "/api/v1/auth/me", NULL, auth_h, NULL, &r);
	assert_int_equal(r.status, 401);

	/* throttled: 429 rate_limited with Retry-After */
	for (int i = 0; i < 3; i++) {
		http_do(port, "POST", "/api/v1/auth/login", "{\"username\":\"someone\",\"password\":\"wrong pass\"}",
			NULL, NULL, &r);
		assert_int_equal(r.status, 401);
		assert_string_equal(jstr(r.json, "error", "message"), "wrong user name or password");
	}
	http_do(port, "POST", "/api/v1/auth/login", "{\"username\":\"someone\",\"password\":\"wrong pass\"}", NULL, NULL,
		&r);
	assert_int_equal(r.status, 429);
	assert_string_equal(jstr(r.json, "error", "code"), "rate_limited");
	assert_non_null(header_of(&r, "Retry-After", hv, sizeof hv));
	assert_true(atoi(hv) >= 1);

	/* an administrator's routes, with a bearer session of an admin without TOTP */
	f->t.cfg.totp_required_admin = false;
	create_user(f, "quantri", ROLE_ADMIN, NULL);
	http_do(port, "POST", "/api/v1/auth/login", "{\"username\":\"quantri\",\"password\":\"" PW "\"}", NULL, NULL, &r);
	assert_int_equal(r.status, 200);
	snprintf(auth_h, sizeof auth_h, "Authorization: Bearer %s", jstr(r.json, "token", NULL));
	http_do(port, "POST", "/api/v1/users",
		"{\"username\":\"canbo.x\",\"role\":\"official\",\"agency_code\":\"" CHILD_AGENCY "\","
		"\"full_name\":\"Vũ Thị Lan\",\"password\":\"" PW "\"}",
		auth_h, NULL, &r);
	assert_int_equal(r.status, 201);
	assert_string_equal(jstr(r.json, "agency_code", NULL), CHILD_AGENCY);
	http_do(port, "POST", "/api/v1/users", "{\"username\":\"canbo.y\",\"role\":\"boss\",\"full_name\":\"Y\"}",
		auth_h, NULL, &r);
	assert_int_equal(r.status, 422);
	assert_non_null(json_object_get(jfields(&r), "role"));
	assert_non_null(json_object_get(jfields(&r), "password"));
	http_do(port, "GET", "/api/v1/users?role=official", NULL, auth_h, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(json_integer_value(json_object_get(r.json, "total")), 1);
	http_do(port, "GET", "/api/v1/users?role=x", NULL, auth_h, NULL, &r);
	assert_int_equal(r.status, 422);
	http_do(port, "POST", "/api/v1/users/canbo.x/disable", NULL, auth_h, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_true(json_is_true(json_object_get(r.json, "disabled")));
	http_do(port, "POST", "/api/v1/users/canbo.x/enable", "{}", auth_h, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_true(json_is_false(json_object_get(r.json, "disabled")));
	http_do(port, "POST", "/api/v1/users/canbo.x/enable", "{\"x\":1}", auth_h, NULL, &r);
	assert_int_equal(r.status, 422);
	http_do(port, "POST", "/api/v1/users/canbo.x/password", "{\"new_password\":\"" PW2 "\"}", auth_h, NULL, &r);
	assert_int_equal(r.status, 200);
	http_do(port, "POST", "/api/v1/auth/login", "{\"username\":\"canbo.x\",\"password\":\"" PW2 "\"}", NULL, NULL,
		&r);
	assert_int_equal(r.status, 200);
	http_do(port, "POST", "/api/v1/users/nobody/disable", NULL, auth_h, NULL, &r);
	assert_int_equal(r.status, 404);

	http_res_free(&r);
	http_stop(srv, 1000);
}

int main(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_validators),
		cmocka_unit_test(test_password_rules),
		cmocka_unit_test(test_in_scope),
		cmocka_unit_test_setup_teardown(test_register, setup, testapp_teardown),
		cmocka_unit_test_setup_teardown(test_user_create_authority, setup, testapp_teardown),
		cmocka_unit_test_setup_teardown(test_user_get_list, setup, testapp_teardown),
		cmocka_unit_test_setup_teardown(test_login_logout, setup, testapp_teardown),
		cmocka_unit_test_setup_teardown(test_login_failures, setup, testapp_teardown),
		cmocka_unit_test_setup_teardown(test_session_expiry, setup, testapp_teardown),
		cmocka_unit_test_setup_teardown(test_session_cache, setup, testapp_teardown),
		cmocka_unit_test_setup_teardown(test_password_change, setup, testapp_teardown),
		cmocka_unit_test_setup_teardown(test_disable, setup, testapp_teardown),
		cmocka_unit_test_setup_teardown(test_totp_admin, setup, testapp_teardown),
		cmocka_unit_test_setup_teardown(test_totp_enrol, setup, testapp_teardown),
		cmocka_unit_test_setup_teardown(test_throttle_account, setup, testapp_teardown),
		cmocka_unit_test_setup_teardown(test_throttle_long_names, setup, testapp_teardown),
		cmocka_unit_test_setup_teardown(test_throttle_ip, setup, testapp_teardown),
		cmocka_unit_test_setup_teardown(test_rehash, setup, testapp_teardown),
		cmocka_unit_test_setup_teardown(test_audit_chain, setup, testapp_teardown),
		cmocka_unit_test_setup_teardown(test_http_routes, setup, testapp_teardown),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	curl_global_cleanup();
	return rc;
}
