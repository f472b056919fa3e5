/* identity_api.c: JSON routes for identity: citizen registration, user
 * management (admins), login/logout/me with the session cookie, TOTP
 * enrolment. Handlers only decode, call the domain (which checks authority)
 * and encode; the rules live in identity.c. */
#include <string.h>

#include "app/api.h"
#include "identity/identity.h"

static int decode(struct req *r, const struct jfield *f, size_t n)
{
	json_t *body;
	int rc = req_json(r, &body);
	if (rc < 0)
		return rc;
	return json_decode(body, f, n, r->a, &r->err);
}

/* Routes whose body carries nothing: none, or an empty object. */
static int decode_empty(struct req *r)
{
	if (r->body.len == 0)
		return 0;
	return decode(r, NULL, 0);
}

static void session_cookie(struct req *r, const char *token, int64_t max_age)
{
	res_header(r, "Set-Cookie",
		   arena_printf(r->a, "%s=%s; Path=/; HttpOnly; SameSite=Lax; Max-Age=%lld%s", API_SESSION_COOKIE, token,
				(long long)max_age, r->tls ? "; Secure" : ""));
}

static int user_answer(struct req *r, struct ctx *c, const char *username, int status)
{
	struct user u;
	int rc = identity_user_get(c, username, &u, &r->err);
	if (rc < 0)
		return rc;
	identity_user_json(res_json(r, status), &u);
	return 0;
}

static int h_register(struct req *r)
{
	struct ctx c;
	struct user_new u = {0};
	int rc = api_ctx(r, &c, API_ANON);
	if (rc < 0)
		return rc;
	/* presence is checked by the domain, so one answer names every bad field */
	const struct jfield f[] = {
		{"id_number", JF_STR, false, 32, &u.id_number, NULL},
		{"full_name", JF_STR, false, 1000, &u.full_name, NULL},
		{"phone", JF_STR, false, 32, &u.phone, NULL},
		{"email", JF_STR, false, 320, &u.email, NULL},
		{"password", JF_STR, false, 1024, &u.password, NULL},
	};
	if ((rc = decode(r, f, sizeof f / sizeof f[0])) < 0)
		return rc;
	struct user out;
	if ((rc = identity_citizen_register_read(&c, &u, &out, &r->err)) < 0)
		return rc;
	res_header(r, "Location", arena_printf(r->a, "/api/v1/users/%s", out.username));
	identity_user_json(res_json(r, 201), &out);
	return 0;
}

static int h_user_create(struct req *r)
{
	struct ctx c;
	struct user_new u = {0};
	const char *role = NULL;
	int rc = api_ctx(r, &c, API_REQUIRED);
	if (rc < 0)
		return rc;
	const struct jfield f[] = {
		{"username", JF_STR, false, 128, &u.username, NULL},
		{"role", JF_STR, false, 32, &role, NULL},
		{"agency_code", JF_STR, false, 64, &u.agency_code, NULL},
		{"full_name", JF_STR, false, 1000, &u.full_name, NULL},
		{"title", JF_STR, false, 1000, &u.title, NULL},
		{"id_number", JF_STR, false, 32, &u.id_number, NULL},
		{"phone", JF_STR, false, 32, &u.phone, NULL},
		{"email", JF_STR, false, 320, &u.email, NULL},
		{"password", JF_STR, false, 1024, &u.password, NULL},
	};
	if ((rc = decode(r, f, sizeof f / sizeof f[0])) < 0)
		return rc;
	if (role_parse(role, &u.role) < 0)
		u.role = (enum role)(ROLE_ADMIN + 1); /* the domain names the field with the others */
	struct user out;
	if ((rc = identity_user_create_read(&c, &u, &out, &r->err)) < 0)
		return rc;
	res_header(r, "Location", arena_printf(r->a, "/api/v1/users/%s", out.username));
	identity_user_json(res_json(r, 201), &out);
	return 0;
}

static int h_user_list(struct req *r)
{
	struct ctx c;
	int page, per_page;
	int rc = api_ctx(r, &c, API_REQUIRED);
	if (rc < 0 || (rc = req_page(r, &page, &per_page)) < 0)
		return rc;
	struct user *items;
	int n;
	int64_t total;
	rc = identity_user_list(&c, req_query(r, "role"), req_query(r, "agency"), page, per_page, &items, &n, &total,
				&r->err);
	if (rc < 0)
		return rc;
	struct jw *w = res_list_begin(r, 200);
	for (int i = 0; i < n; i++)
		identity_user_json(w, &items[i]);
	res_list_end(r, total, page, per_page);
	return 0;
}

static int h_user_get(struct req *r)
{
	struct ctx c;
	int rc = api_ctx(r, &c, API_REQUIRED);
	if (rc < 0)
		return rc;
	return user_answer(r, &c, req_param(r, "username"), 200);
}

static int h_password(struct req *r)
{
	struct ctx c;
	const char *old_pw = NULL, *new_pw = NULL;
	int rc = api_ctx(r, &c, API_REQUIRED);
	if (rc < 0)
		return rc;
	const struct jfield f[] = {
		{"old_password", JF_STR, false, 1024, &old_pw, NULL},
		{"new_password", JF_STR, false, 1024, &new_pw, NULL},
	};
	if ((rc = decode(r, f, sizeof f / sizeof f[0])) < 0)
		return rc;
	const char *username = req_param(r, "username");
	bool self = c.who->user_id > 0 && strcasecmp(c.who->username, username) == 0;
	if ((rc = identity_password_set(&c, username, old_pw, new_pw, &r->err)) < 0)
		return rc;
	if (self && c.who->via_cookie)
		session_cookie(r, "", 0); /* every session ended, this one too */
	return user_answer(r, &c, username, 200);
}

static int set_disabled(struct req *r, bool disabled)
{
	struct ctx c;
	int rc = api_ctx(r, &c, API_REQUIRED);
	if (rc < 0 || (rc = decode_empty(r)) < 0)
		return rc;
	const char *username = req_param(r, "username");
	if ((rc = identity_user_disable(&c, username, disabled, &r->err)) < 0)
		return rc;
	return user_answer(r, &c, username, 200);
}

static int h_disable(struct req *r) { return set_disabled(r, true); }
static int h_enable(struct req *r) { return set_disabled(r, false); }

static int h_login(struct req *r)
{
	struct ctx c;
	const char *username = NULL, *password = NULL, *totp = NULL;
	int rc = api_ctx(r, &c, API_ANON);
	if (rc < 0)
		return rc;
	const struct jfield f[] = {
		{"username", JF_STR, true, 128, &username, NULL},
		{"password", JF_STR, true, 1024, &password, NULL},
		{"totp", JF_STR, false, 16, &totp, NULL},
	};
	if ((rc = decode(r, f, sizeof f / sizeof f[0])) < 0)
		return rc;
	struct login_result lr;
	if ((rc = identity_login(&c, username, password, totp, &lr, &r->err)) < 0)
		return rc;
	r->actor = arena_printf(r->a, "user:%lld:%s", (long long)lr.user.id, lr.user.username);
	session_cookie(r, lr.token, c.app->cfg->session_absolute);
	struct jw *w = res_json(r, 200);
	jw_obj(w);
	jw_kstr(w, "token", lr.token);
	jw_kstr(w, "csrf_token", lr.csrf);
	jw_ktime(w, "expires_at", lr.expires_at);
	jw_key(w, "user");
	identity_user_json(w, &lr.user);
	jw_obj_end(w);
	memset(lr.token, 0, sizeof lr.token);
	return 0;
}

static int h_logout(struct req *r)
{
	struct ctx c;
	int rc = api_ctx(r, &c, API_REQUIRED);
	if (rc < 0 || (rc = decode_empty(r)) < 0 || (rc = identity_logout(&c, &r->err)) < 0)
		return rc;
	session_cookie(r, "", 0);
	struct jw *w = res_json(r, 200);
	jw_obj(w);
	jw_kbool(w, "logged_out", true);
	jw_obj_end(w);
	return 0;
}

static int h_me(struct req *r)
{
	struct ctx c;
	int rc = api_ctx(r, &c, API_REQUIRED);
	if (rc < 0)
		return rc;
	struct user u;
	if ((rc = identity_user_get(&c, c.who->username, &u, &r->err)) < 0)
		return rc;
	struct jw *w = res_json(r, 200);
	jw_obj(w);
	jw_key(w, "user");
	identity_user_json(w, &u);
	jw_kstr(w, "csrf_token", c.who->csrf);
	jw_obj_end(w);
	return 0;
}

/* Percent-encodes everything but RFC 3986 unreserved characters. */
static void uri_escape(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
		    ch == '.' || ch == '_' || ch == '~') {
			buf_putc(b, (char)ch);
		} else {
			buf_putc(b, '%');
			buf_putc(b, hex[ch >> 4]);
			buf_putc(b, hex[ch & 15]);
		}
	}
}

static int h_totp_begin(struct req *r)
{
	struct ctx c;
	int rc = api_ctx(r, &c, API_REQUIRED);
	if (rc < 0 || (rc = decode_empty(r)) < 0)
		return rc;
	char secret[33];
	if ((rc = identity_totp_begin(&c, secret, &r->err)) < 0)
		return rc;
	struct buf uri = BUF_INIT;
	buf_puts(&uri, "otpauth://totp/tinhso:");
	uri_escape(&uri, c.who->username);
	buf_printf(&uri, "?secret=%s&issuer=tinhso&algorithm=SHA1&digits=6&period=30", secret);
	struct jw *w = res_json(r, 200);
	jw_obj(w);
	jw_kstr(w, "secret", secret);
	jw_kstr(w, "otpauth_uri", uri.ptr);
	jw_obj_end(w);
	buf_free(&uri);
	return 0;
}

static int h_totp_confirm(struct req *r)
{
	struct ctx c;
	const char *code = NULL;
	int rc = api_ctx(r, &c, API_REQUIRED);
	if (rc < 0)
		return rc;
	const struct jfield f[] = {{"code", JF_STR, true, 16, &code, NULL}};
	if ((rc = decode(r, f, 1)) < 0 || (rc = identity_totp_confirm(&c, code, &r->err)) < 0)
		return rc;
	return user_answer(r, &c, c.who->username, 200);
}

const struct route identity_routes[] = {
	{"POST", "/api/v1/citizens", h_register, ROUTE_BLOCKING},
	{"POST", "/api/v1/users", h_user_create, ROUTE_BLOCKING},
	{"GET", "/api/v1/users", h_user_list, 0},
	{"GET", "/api/v1/users/{username}", h_user_get, 0},
	{"POST", "/api/v1/users/{username}/password", h_password, ROUTE_BLOCKING},
	{"POST", "/api/v1/users/{username}/disable", h_disable, 0},
	{"POST", "/api/v1/users/{username}/enable", h_enable, 0},
	{"POST", "/api/v1/auth/login", h_login, ROUTE_BLOCKING},
	{"POST", "/api/v1/auth/logout", h_logout, 0},
	{"GET", "/api/v1/auth/me", h_me, 0},
	{"POST", "/api/v1/auth/totp/begin", h_totp_begin, 0},
	{"POST", "/api/v1/auth/totp/confirm", h_totp_confirm, 0},
};
const size_t identity_nroutes = sizeof identity_routes / sizeof identity_routes[0];
