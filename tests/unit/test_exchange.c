/* test_exchange.c: the LGSP module (exchange.h) in-process, on SQLite and
 * then on PostgreSQL when TINHSO_TEST_PG_URL names a throwaway database.
 * One tinhso HTTP server per test serves the exchange routes and, under
 * /backend/, a provider's backend (echo, slow, large, status); clients sign
 * with libsodium as an agency's system would. Covers: the canonical strings
 * byte for byte; registry validation, rights, idempotent puts and their audit;
 * in-process calls (allowed, denied, unknown, purpose, backend down, slow,
 * too large); signed HTTP calls (good, tampered, replayed, stale, unsigned);
 * the replay cache's bound; the message-log chain under concurrent writers
 * (group commit), its verification after tampering, the export and its
 * verification with the key alone; asynchronous push in order with a
 * redelivery after a lost acknowledgement, and the pull inbox. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/api.h"
#include "app/app.h"
#include "audit/audit.h"
#include "base/config.h"
#include "base/log.h"
#include "base/time.h"
#include "crypto/crypto.h"
#include "exchange/exchange.h"
#include "exchange/exchange_internal.h"
#include "http/http.h"
#include "identity/identity.h"
#include "store/store.h"

#define PROVIDER "000.00.03.H23"
#define CLIENT_M "000.00.31.H23"

struct sub {
	char id[80];
	unsigned char pk[32], sk[64];
	char pkhex[65];
};

struct fx {
	char dir[64];
	struct config cfg;
	struct app app;
	struct http_server *srv;
	int port;
	char base[64];
	struct route *routes;
	struct ctx c; /* the CLI's principal */
	struct arena a;
	struct sub client, other, provider;
};

static bool use_pg;

static const char *pg_url(void)
{
	const char *u = getenv("TINHSO_TEST_PG_URL");
	return u && *u ? u : NULL;
}

static void pg_reset(void)
{
	PGconn *c = PQconnectdb(pg_url());
	if (PQstatus(c) != CONNECTION_OK)
		fail_msg("cannot connect to TINHSO_TEST_PG_URL: %s", PQerrorMessage(c));
	PGresult *r =
		PQexec(c, "SET client_min_messages = warning; DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public");
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		fail_msg("resetting the schema: %s", PQresultErrorMessage(r));
	PQclear(r);
	PQfinish(c);
}

/* ---- SQL helpers ---- */

struct sql_run {
	const char *sql;
	const struct store_arg *args;
	int nargs;
	int64_t value;
};

static int sql_exec_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct sql_run *s = arg;
	int rc = store_exec(tx, s->sql, s->args, s->nargs, e);
	s->value = rc;
	return rc < 0 ? rc : 0;
}

static int sql_int_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct sql_run *s = arg;
	s->value = -1;
	int rc = store_get_int(tx, s->sql, s->args, s->nargs, &s->value, e);
	return rc < 0 ? rc : 0;
}

static int64_t sql_exec(struct fx *f, const char *sql, const struct store_arg *args, int nargs)
{
	struct sql_run s = {sql, args, nargs, 0};
	struct err e = {0};
	if (store_write(f->app.db, sql_exec_fn, &s, &e) < 0)
		fail_msg("%s: %s", sql, e.msg);
	return s.value;
}

static int64_t sql_int(struct fx *f, const char *sql, const struct store_arg *args, int nargs)
{
	struct sql_run s = {sql, args, nargs, 0};
	struct err e = {0};
	if (store_read(f->app.db, sql_int_fn, &s, &e) < 0)
		fail_msg("%s: %s", sql, e.msg);
	return s.value;
}

/* ---- the provider's backend, served by the same test server ---- */

static atomic_int backend_hits;
static atomic_int push_fail_seq; /* answer 500 once to this seq (after recording it) */
static pthread_mutex_t recv_mu = PTHREAD_MUTEX_INITIALIZER;
static char recv_log[64][40]; /* "seq:id" in arrival order */
static int recv_n;

static int h_backend(struct req *r)
{
	atomic_fetch_add(&backend_hits, 1);
	const char *rest = req_param(r, "rest");
	if (rest && strcmp(rest, "slow") == 0) {
		usleep(1500 * 1000);
		res_text(r, 200, "text/plain", "late", 4);
		return 0;
	}
	if (rest && strcmp(rest, "big") == 0) {
		static char big[300000];
		memset(big, 'b', sizeof big);
		res_text(r, 200, "application/octet-stream", big, sizeof big);
		return 0;
	}
	if (rest && strcmp(rest, "teapot") == 0) {
		res_text(r, 418, "application/json", "{\"backend\":true}", 16);
		return 0;
	}
	struct buf b = BUF_INIT;
	buf_printf(&b, "%s %s client=%s purpose=%s subject=%s q=%s body=", r->method, r->path,
		   req_header(r, "X-Road-Client") ? req_header(r, "X-Road-Client") : "-",
		   req_header(r, "X-Road-Purpose") ? req_header(r, "X-Road-Purpose") : "-",
		   req_header(r, "X-Road-Subject") ? req_header(r, "X-Road-Subject") : "-",
		   req_query(r, "q") ? req_query(r, "q") : "-");
	buf_append(&b, r->body.ptr ? r->body.ptr : "", r->body.len);
	res_text(r, 200, "text/plain; charset=utf-8", b.ptr, b.len);
	buf_free(&b);
	return 0;
}

static int h_receiver(struct req *r)
{
	const char *id = req_header(r, "X-Road-Message-Id"), *seq = req_header(r, "X-Road-Seq");
	pthread_mutex_lock(&recv_mu);
	if (recv_n < 64)
		snprintf(recv_log[recv_n++], sizeof recv_log[0], "%s:%s", seq ? seq : "?", id ? id : "?");
	pthread_mutex_unlock(&recv_mu);
	if (seq && atoi(seq) == atomic_load(&push_fail_seq)) {
		atomic_store(&push_fail_seq, 0);
		res_text(r, 500, "text/plain", "lost", 4);
		return 0;
	}
	res_text(r, 200, "text/plain", "ok", 2);
	return 0;
}

static const struct route test_routes[] = {
	{"GET", "/backend/{rest*}", h_backend, ROUTE_BLOCKING},
	{"POST", "/backend/{rest*}", h_backend, 0},
	{"POST", "/receiver", h_receiver, 0},
};

/* ---- fixture ---- */

static void set(struct fx *f, const char *name, const char *value)
{
	struct err e = {0};
	if (config_set(&f->cfg, name, value, &e) != 0)
		fail_msg("config_set %s: %s", name, e.msg);
}

static void make_sub(struct sub *s, const char *id)
{
	snprintf(s->id, sizeof s->id, "%s", id);
	crypto_sign_keypair(s->pk, s->sk);
	sodium_bin2hex(s->pkhex, sizeof s->pkhex, s->pk, 32);
}

static void put_member(struct fx *f, const char *code, const char *name)
{
	struct exchange_member_in in = {code, name, NULL, false};
	struct err e = {0};
	if (exchange_member_put(&f->c, &in, false, NULL, &e) < 0)
		fail_msg("member %s: %s", code, e.msg);
}

static void put_sub(struct fx *f, const struct sub *s, const char *endpoint)
{
	char m[64], code[64];
	sscanf(s->id, "%63[^/]/%63s", m, code);
	struct exchange_subsystem_in in = {m, code, "system", s->pkhex, endpoint, false};
	struct err e = {0};
	if (exchange_subsystem_put(&f->c, &in, false, NULL, &e) < 0)
		fail_msg("subsystem %s: %s", s->id, e.msg);
}

static void put_service(struct fx *f, const char *code, bool personal, int timeout_ms, const char *backend)
{
	struct exchange_service_in in = {PROVIDER, "LLTP", code, "test service", backend, "GET,POST", NULL,
					 personal, timeout_ms, false};
	struct err e = {0};
	if (exchange_service_put(&f->c, &in, false, NULL, &e) < 0)
		fail_msg("service %s: %s", code, e.msg);
}

static void grant(struct fx *f, const char *service, const char *client)
{
	struct err e = {0};
	if (exchange_access_put(&f->c, service, client, &e) < 0)
		fail_msg("grant %s to %s: %s", service, client, e.msg);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	assert_non_null(f);
	snprintf(f->dir, sizeof f->dir, "/tmp/tinhso-test-exchange-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	struct err e = {0};
	char url[1024];
	if (use_pg) {
		snprintf(url, sizeof url, "%s", pg_url());
		pg_reset();
	} else {
		snprintf(url, sizeof url, "sqlite:%s/t.db", f->dir);
	}
	config_defaults(&f->cfg);
	set(f, "db", url);
	set(f, "data", f->dir);
	set(f, "log_level", "off");
	set(f, "exchange_max_response", "200000");
	set(f, "exchange_nonce_cache", "1000");
	set(f, "exchange_connect_timeout_ms", "500");
	assert_int_equal(crypto_init(&e), 0);
	assert_int_equal(keys_create(f->dir, &e), 1);
	if (app_open(&f->app, &f->cfg, true, &e) != 0)
		fail_msg("app_open: %s", e.msg);
	f->c.app = &f->app;
	f->c.a = &f->a;
	f->c.who = &principal_cli;
	f->c.actor = "cli:test";

	size_t n = exchange_nroutes + sizeof test_routes / sizeof test_routes[0];
	f->routes = calloc(n, sizeof *f->routes);
	memcpy(f->routes, exchange_routes, sizeof *f->routes * exchange_nroutes);
	memcpy(f->routes + exchange_nroutes, test_routes, sizeof test_routes);
	struct http_options ho = {0};
	ho.host = "127.0.0.1";
	ho.threads = 2;
	ho.workers = 8;
	ho.max_body = 1 << 20;
	ho.max_upload = 2 << 20;
	ho.max_connections = 256;
	ho.max_per_ip = 256;
	ho.conn_timeout = 30;
	if (http_start(&f->srv, &ho, f->routes, n, &f->app, &e) != 0)
		fail_msg("http_start: %s", e.msg);
	f->port = http_port(f->srv);
	snprintf(f->base, sizeof f->base, "http://127.0.0.1:%d", f->port);

	make_sub(&f->client, CLIENT_M "/MOTCUA");
	make_sub(&f->other, "000.00.05.H23/TAICHINH");
	make_sub(&f->provider, PROVIDER "/LLTP");
	put_member(f, PROVIDER, "Sở Tư pháp");
	put_member(f, CLIENT_M, "Trung tâm PVHCC");
	put_member(f, "000.00.05.H23", "Sở Tài chính");
	put_sub(f, &f->client, NULL);
	put_sub(f, &f->other, NULL);
	put_sub(f, &f->provider, NULL);
	char backend[128];
	snprintf(backend, sizeof backend, "%s/backend", f->base);
	put_service(f, "records", true, 0, backend);
	put_service(f, "public", false, 700, backend);
	put_service(f, "down", false, 0, "http://127.0.0.1:9/none");
	grant(f, PROVIDER "/LLTP/records", f->client.id);
	grant(f, PROVIDER "/LLTP/public", f->client.id);
	grant(f, PROVIDER "/LLTP/down", f->client.id);
	atomic_store(&backend_hits, 0);
	recv_n = 0;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	http_stop(f->srv, 2000);
	exchange_stop(&f->app);
	app_close(&f->app);
	config_free(&f->cfg);
	arena_free(&f->a);
	free(f->routes);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", f->dir);
	free(f);
	return 0;
}

/* ---- a signing HTTP client ---- */

struct resp {
	long status;
	struct buf body;
	char xerror[64];
	char message_id[40];
	char resp_sig[130];
	char resp_time[24];
	char req_sig[129];
};

static size_t on_body(char *p, size_t s, size_t n, void *arg)
{
	buf_append(&((struct resp *)arg)->body, p, s * n);
	return s * n;
}

static void header_value(const char *line, size_t n, const char *name, char *out, size_t cap)
{
	size_t nl = strlen(name);
	if (n <= nl + 1 || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
		return;
	const char *v = line + nl + 1;
	while (*v == ' ')
		v++;
	size_t vl = n - (size_t)(v - line);
	while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n'))
		vl--;
	snprintf(out, cap, "%.*s", (int)vl, v);
}

static size_t on_header(char *p, size_t s, size_t n, void *arg)
{
	struct resp *r = arg;
	header_value(p, s * n, "X-Road-Error", r->xerror, sizeof r->xerror);
	header_value(p, s * n, "X-Road-Message-Id", r->message_id, sizeof r->message_id);
	header_value(p, s * n, "X-Road-Response-Signature", r->resp_sig, sizeof r->resp_sig);
	header_value(p, s * n, "X-Road-Response-Time", r->resp_time, sizeof r->resp_time);
	return s * n;
}

struct call_opts {
	const char *time;   /* NULL: now */
	const char *nonce;  /* NULL: random */
	const char *purpose, *subject;
	const char *to, *ref; /* asynchronous sends */
	bool unsigned_;
	bool tamper;	    /* sign one body, send another */
	const struct sub *key; /* sign with another key than the client's */
};

/* path is decoded; query already canonical (or NULL). */
static void call(struct fx *f, const struct sub *s, const char *method, const char *path, const char *query,
		 const char *body, const struct call_opts *o, struct resp *out)
{
	memset(out, 0, sizeof *out);
	struct call_opts none = {0};
	if (!o)
		o = &none;
	char t[32], nonce[40];
	if (o->time)
		snprintf(t, sizeof t, "%s", o->time);
	else
		snprintf(t, sizeof t, "%lld", (long long)(time_now_us() / 1000));
	if (o->nonce) {
		snprintf(nonce, sizeof nonce, "%s", o->nonce);
	} else {
		unsigned char rnd[16];
		randombytes_buf(rnd, sizeof rnd);
		sodium_bin2hex(nonce, sizeof nonce, rnd, sizeof rnd);
	}
	size_t blen = body ? strlen(body) : 0;
	char digest[65];
	crypto_sha256_hex(body ? body : "", blen, digest);
	struct buf canon = BUF_INIT;
	exchange_canonical_request(&canon, method, path, query ? query : "", digest, t, nonce, s->id, o->purpose,
				   o->subject);
	unsigned char sig[64];
	crypto_sign_detached(sig, NULL, (const unsigned char *)canon.ptr, canon.len, o->key ? o->key->sk : s->sk);
	char sighex[129];
	sodium_bin2hex(sighex, sizeof sighex, sig, sizeof sig);
	buf_free(&canon);
	snprintf(out->req_sig, sizeof out->req_sig, "%s", sighex);

	CURL *h = curl_easy_init();
	struct curl_slist *hl = NULL;
	char line[512];
	if (!o->unsigned_) {
		snprintf(line, sizeof line, "X-Road-Client: %s", s->id);
		hl = curl_slist_append(hl, line);
		snprintf(line, sizeof line, "X-Road-Time: %s", t);
		hl = curl_slist_append(hl, line);
		snprintf(line, sizeof line, "X-Road-Nonce: %s", nonce);
		hl = curl_slist_append(hl, line);
		snprintf(line, sizeof line, "X-Road-Signature: %s", sighex);
		hl = curl_slist_append(hl, line);
	}
	if (o->purpose) {
		snprintf(line, sizeof line, "X-Road-Purpose: %s", o->purpose);
		hl = curl_slist_append(hl, line);
	}
	if (o->subject) {
		snprintf(line, sizeof line, "X-Road-Subject: %s", o->subject);
		hl = curl_slist_append(hl, line);
	}
	if (o->to) {
		snprintf(line, sizeof line, "X-Road-To: %s", o->to);
		hl = curl_slist_append(hl, line);
		snprintf(line, sizeof line, "X-Road-Message-Ref: %s", o->ref);
		hl = curl_slist_append(hl, line);
	}
	hl = curl_slist_append(hl, "Content-Type: text/plain; charset=utf-8");
	hl = curl_slist_append(hl, "Expect:");
	char *epath = curl_easy_escape(h, path, 0);
	struct buf url = BUF_INIT;
	buf_printf(&url, "%s", f->base);
	/* escape each segment, keep the slashes */
	for (const char *p = path; *p;) {
		const char *q = strchr(p + 1, '/');
		size_t n = q ? (size_t)(q - p) : strlen(p);
		buf_putc(&url, '/');
		char *seg = curl_easy_escape(h, p + 1, (int)n - 1);
		buf_puts(&url, seg);
		curl_free(seg);
		p += n;
	}
	curl_free(epath);
	if (query && *query)
		buf_printf(&url, "?%s", query);
	curl_easy_setopt(h, CURLOPT_URL, url.ptr);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	if (strcmp(method, "POST") == 0) {
		const char *sent = o->tamper ? "tampered body" : body ? body : "";
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, sent);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(sent));
	}
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, out);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 20L);
	CURLcode cc = curl_easy_perform(h);
	if (cc != CURLE_OK)
		fail_msg("%s %s: %s", method, url.ptr, curl_easy_strerror(cc));
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &out->status);
	buf_free(&url);
	curl_slist_free_all(hl);
	curl_easy_cleanup(h);
}

/* ---- tests ---- */

static void test_canonical(void **state)
{
	(void)state;
	struct buf b = BUF_INIT;
	exchange_canonical_request(&b, "GET", "/x/M/S/svc/a b", "k=v%20w", "e3b0", "1700000000000", "nonce-0123456789ab",
				   "C/D", "Cấp phiếu", NULL);
	assert_string_equal(b.ptr, "tinhso-x-road-v1\nGET\n/x/M/S/svc/a b\nk=v%20w\ne3b0\n1700000000000\n"
				   "nonce-0123456789ab\nC/D\nCấp phiếu\n");
	buf_reset(&b);
	exchange_canonical_response(&b, "abc", "sig", 200, "d1", 1700000000123);
	assert_string_equal(b.ptr, "tinhso-x-road-response-v1\nabc\nsig\n200\nd1\n1700000000123");
	buf_reset(&b);
	exchange_canonical_push(&b, "id1", "A/B", "C/D", 7, "d2", 5);
	assert_string_equal(b.ptr, "tinhso-x-async-push-v1\nid1\nA/B\nC/D\n7\nd2\n5");
	buf_free(&b);
}

static void test_registry_rules(void **state)
{
	struct fx *f = *state;
	struct err e = {0};
	/* validation names each bad field */
	struct exchange_subsystem_in bad = {"NOPE", "x y", "", "abc", "ftp://x", false};
	assert_int_equal(exchange_subsystem_put(&f->c, &bad, true, NULL, &e), ERR_INVALID);
	assert_true(e.nfields >= 3);
	err_clear(&e);
	struct exchange_service_in svc = {PROVIDER, "LLTP", "s2", "d", "http://h/b", "GET,BREW", NULL, false, 0, false};
	assert_int_equal(exchange_service_put(&f->c, &svc, true, NULL, &e), ERR_INVALID);
	assert_string_equal(e.fields[0].name, "methods");
	err_clear(&e);
	/* membership: unknown parents, duplicates, dependants */
	struct exchange_subsystem_in orphan = {"GHOST", "S", "n", f->client.pkhex, NULL, false};
	assert_int_equal(exchange_subsystem_put(&f->c, &orphan, true, NULL, &e), ERR_NOT_FOUND);
	err_clear(&e);
	struct exchange_member_in dup = {PROVIDER, "again", NULL, false};
	assert_int_equal(exchange_member_put(&f->c, &dup, true, NULL, &e), ERR_CONFLICT);
	err_clear(&e);
	assert_int_equal(exchange_member_delete(&f->c, PROVIDER, &e), ERR_CONFLICT);
	err_clear(&e);
	assert_int_equal(exchange_access_put(&f->c, PROVIDER "/LLTP/nosuch", f->client.id, &e), ERR_NOT_FOUND);
	err_clear(&e);
	/* a provincial agency's code links the member to the agency when it exists */
	sql_exec(f,
		 "INSERT INTO agencies (code, name, name_fold, level, kind, path, created_at, updated_at) "
		 "VALUES ('000.00.16.H23', 'Sở Y tế', 'so y te', 'province', 'department', '/000.00.16.H23/', 0, 0)",
		 NOARGS);
	put_member(f, "000.00.16.H23", "Sở Y tế");
	struct exchange_member m;
	assert_int_equal(exchange_member_get(&f->c, "000.00.16.H23", &m, &e), 0);
	assert_string_equal(m.agency, "000.00.16.H23");
	/* a repeated put with the same content audits nothing; a change does */
	int64_t audits = sql_int(f, "SELECT COUNT(*) FROM audit_log WHERE action LIKE 'exchange.%'", NOARGS);
	put_member(f, "000.00.16.H23", "Sở Y tế");
	grant(f, PROVIDER "/LLTP/public", f->client.id);
	assert_int_equal(sql_int(f, "SELECT COUNT(*) FROM audit_log WHERE action LIKE 'exchange.%'", NOARGS), audits);
	put_member(f, "000.00.16.H23", "Sở Y tế tỉnh Hải Dương");
	assert_int_equal(sql_int(f, "SELECT COUNT(*) FROM audit_log WHERE action = 'exchange.member.update'", NOARGS),
			 1);
	/* only admins */
	struct principal citizen = {0};
	citizen.role = ROLE_CITIZEN;
	struct ctx cc = f->c;
	cc.who = &citizen;
	struct exchange_member *items;
	int n;
	assert_int_equal(exchange_member_list(&cc, &items, &n, &e), ERR_FORBIDDEN);
	err_clear(&e);
	/* withdrawing a right removes it from the running gateway at once */
	struct exchange_call c = {.client = f->client.id, .service = PROVIDER "/LLTP/public", .path = "a"};
	struct exchange_result res;
	assert_int_equal(exchange_call(&f->c, &c, &res, &e), 0);
	assert_int_equal(exchange_access_delete(&f->c, PROVIDER "/LLTP/public", f->client.id, &e), 0);
	assert_int_equal(exchange_call(&f->c, &c, &res, &e), ERR_FORBIDDEN);
	assert_string_equal(res.error_code, "exchange.access_denied");
	assert_int_equal(audit_verify(&f->app, &(struct audit_verify_result){0}, &e), 0);
}

static void test_call_in_process(void **state)
{
	struct fx *f = *state;
	struct err e = {0};
	struct exchange_result res;
	struct exchange_call c = {.client = f->client.id,
				  .service = PROVIDER "/LLTP/records",
				  .method = "POST",
				  .path = "citizens/030095001234",
				  .query = "q=a%20b",
				  .body = "{\"x\":1}",
				  .body_len = 7,
				  .purpose = "Điền sẵn hồ sơ",
				  .subject = "030095001234"};
	assert_int_equal(exchange_call(&f->c, &c, &res, &e), 0);
	assert_int_equal(res.status, 200);
	assert_int_equal(strlen(res.message_id), 32);
	assert_non_null(strstr(res.body, "POST /backend/citizens/030095001234 client=" CLIENT_M "/MOTCUA"));
	assert_non_null(strstr(res.body, "purpose=%C4%90i%E1%BB%81n%20s%E1%BA%B5n%20h%E1%BB%93%20s%C6%A1"));
	assert_non_null(strstr(res.body, "subject=030095001234 q=a b body={\"x\":1}"));
	/* the backend's own answer passes through as it is */
	c.method = "GET";
	c.path = "teapot";
	assert_int_equal(exchange_call(&f->c, &c, &res, &e), 0);
	assert_int_equal(res.status, 418);
	assert_string_equal(res.body, "{\"backend\":true}");
	/* refusals, each logged */
	c.purpose = NULL;
	assert_int_equal(exchange_call(&f->c, &c, &res, &e), ERR_INVALID);
	assert_string_equal(res.error_code, "exchange.purpose_required");
	c.purpose = "p";
	c.subject = "123";
	assert_int_equal(exchange_call(&f->c, &c, &res, &e), ERR_INVALID);
	assert_string_equal(res.error_code, "exchange.bad_subject");
	c.subject = NULL;
	c.method = "DELETE";
	assert_int_equal(exchange_call(&f->c, &c, &res, &e), ERR_METHOD);
	c.method = "GET";
	c.client = f->other.id;
	assert_int_equal(exchange_call(&f->c, &c, &res, &e), ERR_FORBIDDEN);
	assert_string_equal(res.error_code, "exchange.access_denied");
	assert_int_equal(strlen(res.message_id), 32);
	c.client = f->client.id;
	c.service = PROVIDER "/LLTP/nosuch";
	assert_int_equal(exchange_call(&f->c, &c, &res, &e), ERR_NOT_FOUND);
	assert_string_equal(res.error_code, "exchange.unknown_service");
	/* backend failures: down, slow (service timeout 700 ms), too large (limit 200000) */
	c.service = PROVIDER "/LLTP/down";
	assert_int_equal(exchange_call(&f->c, &c, &res, &e), ERR_BAD_GATEWAY);
	assert_string_equal(res.error_code, "exchange.backend_unavailable");
	c.service = PROVIDER "/LLTP/public";
	c.path = "slow";
	int64_t t0 = time_mono_us();
	assert_int_equal(exchange_call(&f->c, &c, &res, &e), ERR_GATEWAY_TIMEOUT);
	assert_string_equal(res.error_code, "exchange.backend_timeout");
	assert_non_null(strstr(e.msg, "700 ms"));
	assert_true(time_mono_us() - t0 < 1400000);
	c.path = "big";
	assert_int_equal(exchange_call(&f->c, &c, &res, &e), ERR_BAD_GATEWAY);
	assert_string_equal(res.error_code, "exchange.response_too_large");
	/* ten exchanges, ten records, all in the chain */
	assert_int_equal(sql_int(f, "SELECT COUNT(*) FROM exchange_log", NOARGS), 10);
	assert_int_equal(sql_int(f, "SELECT COUNT(*) FROM exchange_log WHERE subject = '030095001234' AND error IS NULL", NOARGS), 2);
	struct exchange_log_verify v;
	assert_int_equal(exchange_log_verify(&f->app, &v, &e), 0);
	assert_int_equal(v.records, 10);
}

static void test_signed_http(void **state)
{
	struct fx *f = *state;
	struct resp r;
	const char *svc = "/x/" PROVIDER "/LLTP/records/citizens/0300 x";
	struct call_opts o = {.purpose = "check", .subject = "030095001234"};
	call(f, &f->client, "GET", svc, "q=a%26b", NULL, &o, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.xerror, "");
	assert_non_null(strstr(r.body.ptr, "GET /backend/citizens/0300 x client=" CLIENT_M "/MOTCUA purpose=check "
					   "subject=030095001234 q=a&b"));
	/* the answer's signature verifies with the server key */
	char digest[65];
	crypto_sha256_hex(r.body.ptr, r.body.len, digest);
	struct buf canon = BUF_INIT;
	exchange_canonical_response(&canon, r.message_id, r.req_sig, 200, digest, strtoll(r.resp_time, NULL, 10));
	assert_true(crypto_verify_hex(f->app.keys.pk, canon.ptr, canon.len, r.resp_sig));
	canon.ptr[canon.len - 1] ^= 1; /* another time: no longer verifies */
	assert_false(crypto_verify_hex(f->app.keys.pk, canon.ptr, canon.len, r.resp_sig));
	buf_free(&canon);
	buf_free(&r.body);
	int hits = atomic_load(&backend_hits);
	/* unsigned, tampered, signed by another key, stale, replayed, malformed: none forwarded */
	struct call_opts uns = {.unsigned_ = true};
	call(f, &f->client, "GET", "/x/" PROVIDER "/LLTP/public/a", NULL, NULL, &uns, &r);
	assert_int_equal(r.status, 401);
	assert_string_equal(r.xerror, "exchange.unsigned");
	assert_non_null(strstr(r.body.ptr, "\"code\":\"exchange.unsigned\""));
	buf_free(&r.body);
	struct call_opts tamper = {.tamper = true};
	call(f, &f->client, "POST", "/x/" PROVIDER "/LLTP/public/a", NULL, "original", &tamper, &r);
	assert_int_equal(r.status, 401);
	assert_string_equal(r.xerror, "exchange.bad_signature");
	buf_free(&r.body);
	struct call_opts wrongkey = {.key = &f->other};
	call(f, &f->client, "GET", "/x/" PROVIDER "/LLTP/public/a", NULL, NULL, &wrongkey, &r);
	assert_string_equal(r.xerror, "exchange.bad_signature");
	buf_free(&r.body);
	char old[32];
	snprintf(old, sizeof old, "%lld", (long long)(time_now_us() / 1000 - 301000));
	struct call_opts stale = {.time = old};
	call(f, &f->client, "GET", "/x/" PROVIDER "/LLTP/public/a", NULL, NULL, &stale, &r);
	assert_int_equal(r.status, 401);
	assert_string_equal(r.xerror, "exchange.stale");
	buf_free(&r.body);
	struct call_opts once = {.nonce = "replay-nonce-000001"};
	call(f, &f->client, "GET", "/x/" PROVIDER "/LLTP/public/a", NULL, NULL, &once, &r);
	assert_int_equal(r.status, 200);
	buf_free(&r.body);
	call(f, &f->client, "GET", "/x/" PROVIDER "/LLTP/public/a", NULL, NULL, &once, &r);
	assert_int_equal(r.status, 409);
	assert_string_equal(r.xerror, "exchange.replay");
	buf_free(&r.body);
	/* another client may use the same nonce */
	grant(f, PROVIDER "/LLTP/public", f->other.id);
	call(f, &f->other, "GET", "/x/" PROVIDER "/LLTP/public/a", NULL, NULL, &once, &r);
	assert_int_equal(r.status, 200);
	buf_free(&r.body);
	struct call_opts nopurpose = {0};
	call(f, &f->client, "GET", "/x/" PROVIDER "/LLTP/records/a", NULL, NULL, &nopurpose, &r);
	assert_int_equal(r.status, 400);
	assert_string_equal(r.xerror, "exchange.purpose_required");
	buf_free(&r.body);
	call(f, &f->other, "GET", "/x/" PROVIDER "/LLTP/records/a", NULL, NULL, &o, &r);
	assert_int_equal(r.status, 403);
	assert_string_equal(r.xerror, "exchange.access_denied");
	buf_free(&r.body);
	assert_int_equal(atomic_load(&backend_hits), hits + 2);
	/* the oversized body (limit 2 MiB here) is refused by the gateway in its own terms */
	char *huge = malloc(3 << 20);
	memset(huge, 'h', 3 << 20);
	huge[(3 << 20) - 1] = 0;
	call(f, &f->client, "POST", "/x/" PROVIDER "/LLTP/public/a", NULL, huge, NULL, &r);
	free(huge);
	assert_int_equal(r.status, 413);
	assert_string_equal(r.xerror, "exchange.too_large");
	buf_free(&r.body);
	assert_int_equal(atomic_load(&backend_hits), hits + 2);
	struct err e = {0};
	struct exchange_log_verify v;
	assert_int_equal(exchange_log_verify(&f->app, &v, &e), 0);
	assert_int_equal(sql_int(f, "SELECT COUNT(*) FROM exchange_log WHERE error IS NOT NULL", NOARGS), 8);
}

static void test_replay_cache_bound(void **state)
{
	struct fx *f = *state;
	struct exchange_state *st = exchange_state(&f->app);
	int64_t now = time_now_us() / 1000000;
	char nonce[32];
	/* 1000 nonces allowed (the configured bound): 999 timed 4 minutes ago, then current ones */
	for (int i = 0; i < 999; i++) {
		snprintf(nonce, sizeof nonce, "old-%06d", i);
		assert_int_equal(xnonce_check(st, "A/B", nonce, now - 240, now), 0);
	}
	assert_int_equal(xnonce_check(st, "A/B", "old-000005", now - 240, now), 1);
	assert_int_equal(xnonce_check(st, "A/B", "new-000000", now, now), 0);
	/* the bound is reached: the oldest bucket goes, and its time is refused from then on */
	assert_int_equal(xnonce_check(st, "A/B", "new-000001", now, now), 0);
	assert_int_equal(xnonce_check(st, "A/B", "old-000005", now - 240, now), 2);
	assert_int_equal(xnonce_check(st, "A/B", "new-000000", now, now), 1);
	/* when everything is in the current bucket, the cache refuses rather than forget */
	for (int i = 2; i < 2000; i++) {
		snprintf(nonce, sizeof nonce, "new-%06d", i);
		int rc = xnonce_check(st, "A/B", nonce, now, now);
		if (rc == 3)
			break;
		assert_int_equal(rc, 0);
	}
	assert_int_equal(xnonce_check(st, "A/B", "one-more-nonce", now, now), 3);
	/* buckets whose time left the window are freed without raising the floor */
	assert_int_equal(xnonce_check(st, "A/B", "later-nonce-0001", now + 400, now + 700), 0);
}

struct par {
	struct fx *f;
	int n;
	int failures;
};

static void *par_main(void *arg)
{
	struct par *p = arg;
	struct arena a = ARENA_INIT;
	struct ctx c = p->f->c;
	c.a = &a;
	for (int i = 0; i < p->n; i++) {
		struct exchange_call call = {.client = p->f->client.id, .service = PROVIDER "/LLTP/public", .path = "p"};
		struct exchange_result res;
		struct err e = {0};
		if (exchange_call(&c, &call, &res, &e) != 0 || res.status != 200)
			p->failures++;
	}
	arena_free(&a);
	return NULL;
}

static void test_log_group_commit_and_tamper(void **state)
{
	struct fx *f = *state;
	struct err e = {0};
	assert_int_equal(exchange_start(&f->app, &e), 0);
	enum { T = 8, N = 25 };
	pthread_t th[T];
	struct par p[T];
	for (int i = 0; i < T; i++) {
		p[i] = (struct par){f, N, 0};
		pthread_create(&th[i], NULL, par_main, &p[i]);
	}
	for (int i = 0; i < T; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(p[i].failures, 0);
	}
	uint64_t commits, records, commit_us;
	xlog_counters(&f->app, &commits, &records, &commit_us);
	assert_true(commit_us > 0);
	assert_int_equal(records, T * N);
	assert_true(commits <= records);
	struct exchange_log_verify v;
	assert_int_equal(exchange_log_verify(&f->app, &v, &e), 0);
	assert_int_equal(v.records, T * N);
	/* export the lot; verify with the key alone */
	char path[128], bad[128];
	snprintf(path, sizeof path, "%s/export.jsonl", f->dir);
	snprintf(bad, sizeof bad, "%s/bad.jsonl", f->dir);
	assert_int_equal(exchange_log_export(&f->app, 0, 0, path, &e), T * N);
	char pkhex[65];
	sodium_bin2hex(pkhex, sizeof pkhex, f->app.keys.pk, 32);
	assert_int_equal(exchange_log_verify_export(path, pkhex, &v, &e), 0);
	assert_int_equal(v.records, T * N);
	char other[65];
	sodium_bin2hex(other, sizeof other, f->client.pk, 32);
	assert_int_equal(exchange_log_verify_export(path, other, &v, &e), ERR_CONFLICT);
	/* a time range: only the records at or after a midpoint */
	int64_t mid = sql_int(f, "SELECT at FROM exchange_log WHERE seq = 101", NOARGS);
	int64_t n = exchange_log_export(&f->app, mid, 0, path, &e);
	assert_true(n >= 90 && n <= T * N - 100 + 10);
	assert_int_equal(exchange_log_verify_export(path, pkhex, &v, &e), 0);
	/* alter a record in the file: named */
	FILE *in = fopen(path, "r"), *out = fopen(bad, "w");
	char *line = NULL;
	size_t cap = 0;
	int ln = 0;
	int64_t bad_seq = 0;
	while (getline(&line, &cap, in) > 0) {
		if (++ln == 5) {
			char *st = strstr(line, "\"status\":200");
			assert_non_null(st);
			st[10] = '1';
			sscanf(strstr(line, "\"seq\":") + 6, "%lld", (long long *)&bad_seq);
		}
		fputs(line, out);
	}
	free(line);
	fclose(in);
	fclose(out);
	assert_int_equal(exchange_log_verify_export(bad, pkhex, &v, &e), ERR_CONFLICT);
	assert_int_equal(v.first_bad, bad_seq);
	/* alter, then remove, records in the database */
	sql_exec(f, "UPDATE exchange_log SET client = 'X/Y' WHERE seq = 17", NOARGS);
	assert_int_equal(exchange_log_verify(&f->app, &v, &e), ERR_CONFLICT);
	assert_int_equal(v.first_bad, 17);
	sql_exec(f, "UPDATE exchange_log SET client = $1 WHERE seq = 17", ARGS(SA_TEXT(f->client.id)));
	assert_int_equal(exchange_log_verify(&f->app, &v, &e), 0);
	sql_exec(f, "DELETE FROM exchange_log WHERE seq = 33", NOARGS);
	assert_int_equal(exchange_log_verify(&f->app, &v, &e), ERR_CONFLICT);
	assert_int_equal(v.first_bad, 33);
	exchange_stop(&f->app);
}

static void test_async_push_and_pull(void **state)
{
	struct fx *f = *state;
	struct err e = {0};
	char endpoint[128];
	snprintf(endpoint, sizeof endpoint, "%s/receiver", f->base);
	struct sub rcv, pull;
	make_sub(&rcv, "000.00.10.H23/QLVB");
	make_sub(&pull, "000.00.10.H23/PULL");
	put_member(f, "000.00.10.H23", "Sở TN&MT");
	put_sub(f, &rcv, endpoint);
	put_sub(f, &pull, NULL);
	atomic_store(&push_fail_seq, 2);
	assert_int_equal(exchange_start(&f->app, &e), 0);
	char ids[4][40];
	for (int i = 1; i <= 4; i++) {
		char ref[16], body[32];
		snprintf(ref, sizeof ref, "R-%d", i);
		snprintf(body, sizeof body, "document %d", i);
		struct call_opts o = {.to = rcv.id, .ref = ref};
		struct resp r;
		call(f, &f->client, "POST", "/x-async/messages", NULL, body, &o, &r);
		assert_int_equal(r.status, 202);
		char *id = strstr(r.body.ptr, "\"id\":\"");
		assert_non_null(id);
		snprintf(ids[i - 1], sizeof ids[0], "%.32s", id + 6);
		assert_non_null(strstr(r.body.ptr, i == 1 ? "\"seq\":1" : i == 2 ? "\"seq\":2" : i == 3 ? "\"seq\":3" : "\"seq\":4"));
		buf_free(&r.body);
	}
	/* a retry of R-2 is the same message */
	struct call_opts again = {.to = rcv.id, .ref = "R-2"};
	struct resp r;
	call(f, &f->client, "POST", "/x-async/messages", NULL, "document 2", &again, &r);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.body.ptr, ids[1]));
	buf_free(&r.body);
	/* delivered: 1, 2 (answer lost), 2 again, 3, 4 */
	for (int i = 0; i < 100 && sql_int(f, "SELECT COUNT(*) FROM exchange_messages WHERE status = 'delivered'",
					   NOARGS) < 4;
	     i++)
		usleep(100 * 1000);
	assert_int_equal(sql_int(f, "SELECT COUNT(*) FROM exchange_messages WHERE status = 'delivered'", NOARGS), 4);
	pthread_mutex_lock(&recv_mu);
	assert_int_equal(recv_n, 5);
	const int expect[] = {1, 2, 2, 3, 4};
	for (int i = 0; i < 5; i++) {
		char want[40];
		snprintf(want, sizeof want, "%d:%s", expect[i], ids[expect[i] - 1]);
		assert_string_equal(recv_log[i], want);
	}
	pthread_mutex_unlock(&recv_mu);
	/* pull: queued for the inbox in order, acknowledged once */
	struct call_opts p1 = {.to = pull.id, .ref = "P-1"}, p2 = {.to = pull.id, .ref = "P-2"};
	call(f, &f->client, "POST", "/x-async/messages", NULL, "pull one", &p1, &r);
	assert_int_equal(r.status, 202);
	char pid[40];
	snprintf(pid, sizeof pid, "%.32s", strstr(r.body.ptr, "\"id\":\"") + 6);
	buf_free(&r.body);
	call(f, &f->client, "POST", "/x-async/messages", NULL, "pull two", &p2, &r);
	buf_free(&r.body);
	call(f, &pull, "GET", "/x-async/inbox", "limit=1", NULL, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.body.ptr, pid));
	assert_non_null(strstr(r.body.ptr, "\"document_base64\":\"cHVsbCBvbmU=\""));
	assert_null(strstr(r.body.ptr, "cHVsbCB0d28="));
	buf_free(&r.body);
	char ack[80];
	snprintf(ack, sizeof ack, "/x-async/inbox/%s/ack", pid);
	call(f, &f->client, "POST", ack, NULL, NULL, NULL, &r); /* not the receiver */
	assert_int_equal(r.status, 404);
	buf_free(&r.body);
	call(f, &pull, "POST", ack, NULL, NULL, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.body.ptr, "\"already\":false"));
	buf_free(&r.body);
	call(f, &pull, "GET", "/x-async/inbox", NULL, NULL, NULL, &r);
	assert_null(strstr(r.body.ptr, pid));
	assert_non_null(strstr(r.body.ptr, "cHVsbCB0d28="));
	buf_free(&r.body);
	exchange_stop(&f->app);
}

int main(void)
{
	const struct CMUnitTest alone[] = {
		cmocka_unit_test(test_canonical),
	};
	const struct CMUnitTest db[] = {
		cmocka_unit_test_setup_teardown(test_registry_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(test_call_in_process, setup, teardown),
		cmocka_unit_test_setup_teardown(test_signed_http, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replay_cache_bound, setup, teardown),
		cmocka_unit_test_setup_teardown(test_log_group_commit_and_tamper, setup, teardown),
		cmocka_unit_test_setup_teardown(test_async_push_and_pull, setup, teardown),
	};
	log_level = LOG_OFF;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	int failed = cmocka_run_group_tests_name("exchange", alone, NULL, NULL);
	failed += cmocka_run_group_tests_name("exchange on SQLite", db, NULL, NULL);
	if (pg_url()) {
		use_pg = true;
		failed += cmocka_run_group_tests_name("exchange on PostgreSQL", db, NULL, NULL);
	} else {
		printf("TINHSO_TEST_PG_URL is not set: the PostgreSQL run is skipped\n");
	}
	curl_global_cleanup();
	return failed;
}
