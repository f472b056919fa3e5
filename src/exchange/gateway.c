/* gateway.c: the LGSP gateway: /x/{member}/{subsystem}/{service}/{path...}.
 * Authenticates the client subsystem (Ed25519 over the canonical request,
 * time window, replay cache), checks the registry and the access right,
 * forwards to the service's backend with libcurl, signs the answer and
 * records the exchange in the message log before answering. Also the
 * in-process exchange_call and the module's shared state.
 *
 * Threads: the gateway routes run on the HTTP worker threads
 * (ROUTE_BLOCKING), each of which keeps one curl handle (and so its
 * connections to backends) for its whole life.
 *
 * Bodies: the request body is buffered once by the HTTP layer (up to
 * max_upload) and handed to libcurl by pointer; the backend's answer is
 * written by libcurl straight into the response buffer, which the HTTP layer
 * hands to libmicrohttpd without a copy (bounded by exchange_max_response).
 *
 * The replay cache remembers each (client, nonce) until its X-Road-Time has
 * left the acceptance window. It is bounded (exchange_nonce_cache): entries
 * are grouped in 30 s buckets of request time, and when the bound is reached
 * the oldest bucket is dropped and requests timed in it or before are refused
 * as stale from then on: under a flood the window narrows, it never lets a
 * replay through. The cache is per node: several nodes behind a balancer
 * should route each client to one node (or accept a replay across nodes within
 * the window). */
#include <ctype.h>
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/text.h"
#include "base/time.h"
#include "exchange/exchange_internal.h"

enum { NONCE_MIN = 16, NONCE_MAX = 64, BUCKET_S = 30, NBUCKETS = (2 * EXCHANGE_TIME_WINDOW_S) / BUCKET_S + 3 };

/* ---- state ---- */

struct nonce_bucket {
	int64_t epoch; /* request time / BUCKET_S this bucket holds; -1 = empty */
	uint64_t *slot;
	size_t cap, n;
};

struct nonce_cache {
	pthread_mutex_t mu;
	struct nonce_bucket b[NBUCKETS];
	size_t total, max;
	int64_t floor_epoch; /* requests in earlier buckets are refused (the cache dropped them) */
};

static pthread_mutex_t state_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static pthread_key_t curl_key;

static void curl_handle_free(void *h) { curl_easy_cleanup(h); }

static void curl_init_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	pthread_key_create(&curl_key, curl_handle_free);
}

struct exchange_state *exchange_state(struct app *app)
{
	struct exchange_state *st = __atomic_load_n(&app->exchange, __ATOMIC_ACQUIRE);
	if (st)
		return st;
	pthread_once(&curl_once, curl_init_once);
	pthread_mutex_lock(&state_mu);
	st = app->exchange;
	if (!st) {
		st = calloc(1, sizeof *st);
		if (!st)
			abort();
		st->app = app;
		pthread_mutex_init(&st->reg_mu, NULL);
		st->nonces = calloc(1, sizeof *st->nonces);
		if (!st->nonces)
			abort();
		pthread_mutex_init(&st->nonces->mu, NULL);
		for (int i = 0; i < NBUCKETS; i++)
			st->nonces->b[i].epoch = -1;
		st->nonces->max = app->cfg ? (size_t)app->cfg->exchange_nonce_cache : 1000000;
		xstats_init(st);
		__atomic_store_n(&app->exchange, st, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&state_mu);
	return st;
}

int exchange_start(struct app *app, struct err *e)
{
	struct exchange_state *st = exchange_state(app);
	int rc = xlog_start(st, e);
	if (rc == 0 && (rc = async_start(st, e)) < 0)
		xlog_stop(st);
	return rc;
}

void exchange_stop(struct app *app)
{
	struct exchange_state *st = app->exchange;
	if (!st)
		return;
	async_stop(st);
	xlog_stop(st);
	pthread_mutex_lock(&state_mu);
	app->exchange = NULL;
	pthread_mutex_unlock(&state_mu);
	for (int i = 0; i < NBUCKETS; i++)
		free(st->nonces->b[i].slot);
	pthread_mutex_destroy(&st->nonces->mu);
	free(st->nonces);
	xreg_free(st);
	xstats_free(st);
	pthread_mutex_destroy(&st->reg_mu);
	free(st);
	CURL *h = pthread_getspecific(curl_key);
	if (h) {
		curl_easy_cleanup(h);
		pthread_setspecific(curl_key, NULL);
	}
}

/* ---- the replay cache ---- */

static void bucket_clear(struct nonce_cache *nc, struct nonce_bucket *b)
{
	nc->total -= b->n;
	free(b->slot);
	b->slot = NULL;
	b->cap = b->n = 0;
	b->epoch = -1;
}

static bool bucket_has(const struct nonce_bucket *b, uint64_t k)
{
	if (!b->cap)
		return false;
	for (size_t i = k & (b->cap - 1);; i = (i + 1) & (b->cap - 1)) {
		if (b->slot[i] == k)
			return true;
		if (!b->slot[i])
			return false;
	}
}

static void bucket_add(struct nonce_bucket *b, uint64_t k)
{
	if ((b->n + 1) * 2 > b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 1024;
		uint64_t *slot = calloc(cap, sizeof *slot);
		if (!slot)
			abort();
		for (size_t i = 0; i < b->cap; i++)
			if (b->slot[i]) {
				size_t j = b->slot[i] & (cap - 1);
				while (slot[j])
					j = (j + 1) & (cap - 1);
				slot[j] = b->slot[i];
			}
		free(b->slot);
		b->slot = slot;
		b->cap = cap;
	}
	size_t j = k & (b->cap - 1);
	while (b->slot[j])
		j = (j + 1) & (b->cap - 1);
	b->slot[j] = k;
	b->n++;
}

int xnonce_check(struct exchange_state *st, const char *client, const char *nonce, int64_t req_s, int64_t now_s)
{
	struct nonce_cache *nc = st->nonces;
	unsigned char h[32];
	struct buf kb = BUF_INIT;
	buf_printf(&kb, "%s\n%s", client, nonce);
	crypto_sha256(kb.ptr, kb.len, h);
	buf_free(&kb);
	uint64_t k;
	memcpy(&k, h, sizeof k);
	if (!k)
		k = 1;
	int64_t epoch = req_s / BUCKET_S;
	int64_t oldest_live = (now_s - EXCHANGE_TIME_WINDOW_S) / BUCKET_S;
	pthread_mutex_lock(&nc->mu);
	int rc = 0;
	for (int i = 0; i < NBUCKETS; i++)
		if (nc->b[i].epoch >= 0 && nc->b[i].epoch < oldest_live)
			bucket_clear(nc, &nc->b[i]);
	struct nonce_bucket *b = &nc->b[epoch % NBUCKETS];
	if (epoch < nc->floor_epoch) {
		rc = 2;
	} else if (b->epoch == epoch && bucket_has(b, k)) {
		rc = 1;
	} else {
		if (b->epoch != epoch) {
			if (b->epoch >= 0)
				bucket_clear(nc, b);
			b->epoch = epoch;
		}
		while (nc->total >= nc->max) {
			struct nonce_bucket *old = NULL;
			for (int i = 0; i < NBUCKETS; i++)
				if (nc->b[i].epoch >= 0 && nc->b[i].n && (!old || nc->b[i].epoch < old->epoch))
					old = &nc->b[i];
			if (!old || old == b) {
				rc = 3;
				break;
			}
			if (old->epoch + 1 > nc->floor_epoch)
				nc->floor_epoch = old->epoch + 1;
			log_warn("exchange: replay cache full (%zu nonces): requests timed before %lld s refused as stale",
				 nc->total, (long long)(nc->floor_epoch * BUCKET_S));
			bucket_clear(nc, old);
		}
		if (rc == 0) {
			bucket_add(b, k);
			nc->total++;
		}
	}
	pthread_mutex_unlock(&nc->mu);
	return rc;
}

/* ---- canonical strings ---- */

void exchange_canonical_request(struct buf *out, const char *method, const char *path, const char *query,
				const char *body_sha256, const char *time, const char *nonce, const char *client,
				const char *purpose, const char *subject)
{
	buf_printf(out, "tinhso-x-road-v1\n%s\n%s\n%s\n%s\n%s\n%s\n%s\n%s\n%s", method, path, query ? query : "",
		   body_sha256, time ? time : "", nonce ? nonce : "", client ? client : "", purpose ? purpose : "",
		   subject ? subject : "");
}

void exchange_canonical_response(struct buf *out, const char *message_id, const char *request_signature,
				 int status, const char *body_sha256, int64_t time_ms)
{
	buf_printf(out, "tinhso-x-road-response-v1\n%s\n%s\n%d\n%s\n%lld", message_id,
		   request_signature ? request_signature : "", status, body_sha256, (long long)time_ms);
}

void exchange_canonical_push(struct buf *out, const char *id, const char *sender, const char *receiver, int64_t seq,
			     const char *body_sha256, int64_t time_ms)
{
	buf_printf(out, "tinhso-x-async-push-v1\n%s\n%s\n%s\n%lld\n%s\n%lld", id, sender, receiver, (long long)seq,
		   body_sha256, (long long)time_ms);
}

static void pct_encode(struct buf *b, const char *s, bool keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (isalnum(*p) || *p == '-' || *p == '.' || *p == '_' || *p == '~' || (keep_slash && *p == '/'))
			buf_putc(b, (char)*p);
		else {
			buf_putc(b, '%');
			buf_putc(b, hex[*p >> 4]);
			buf_putc(b, hex[*p & 15]);
		}
	}
}

/* Decodes %XX (UTF-8 in HTTP headers must travel percent-encoded); NULL in,
 * NULL out; "(invalid)" for a broken escape. */
static const char *pct_decode(struct arena *a, const char *s)
{
	if (!s || !strchr(s, '%'))
		return s;
	size_t n = strlen(s);
	char *out = arena_alloc(a, n + 1), *o = out;
	for (size_t i = 0; i < n; i++) {
		if (s[i] != '%') {
			*o++ = s[i];
			continue;
		}
		if (i + 2 >= n || !isxdigit((unsigned char)s[i + 1]) || !isxdigit((unsigned char)s[i + 2]))
			return "(invalid)";
		char hx[3] = {s[i + 1], s[i + 2], 0};
		*o++ = (char)strtol(hx, NULL, 16);
		i += 2;
	}
	*o = 0;
	if (strlen(out) != (size_t)(o - out))
		return "(invalid)"; /* an encoded NUL */
	return out;
}

static void query_collect(void *cls, const char *key, const char *value)
{
	struct buf *b = cls;
	if (b->len)
		buf_putc(b, '&');
	pct_encode(b, key, false);
	buf_putc(b, '=');
	pct_encode(b, value ? value : "", false);
}

/* ---- small helpers ---- */

/* s when it is printable UTF-8 of at most max bytes, else a marker. */
static const char *clean(const char *s, size_t max)
{
	if (!s)
		return NULL;
	size_t n = strlen(s);
	if (n > max || !utf8_valid(s, n))
		return "(invalid)";
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return "(invalid)";
	return s;
}

static bool nonce_valid(const char *s)
{
	size_t n = strlen(s);
	if (n < NONCE_MIN || n > NONCE_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(isalnum((unsigned char)s[i]) || s[i] == '-' || s[i] == '_'))
			return false;
	return true;
}

static bool parse_time(const char *s, int64_t *us)
{
	if (!s || !*s)
		return false;
	if (text_digits(s, 0)) {
		if (strlen(s) > 15)
			return false;
		*us = strtoll(s, NULL, 10) * 1000;
		return true;
	}
	return time_parse_rfc3339(s, us);
}

static bool method_allowed(const char *methods, const char *method)
{
	const char *m = strcmp(method, "HEAD") == 0 ? "GET" : method;
	size_t n = strlen(m);
	for (const char *p = methods; p && *p;) {
		const char *q = strchr(p, ',');
		size_t len = q ? (size_t)(q - p) : strlen(p);
		if (len == n && strncmp(p, m, n) == 0)
			return true;
		p = q ? q + 1 : NULL;
	}
	return false;
}

void xerror_respond(struct req *r, int status, const char *code, const char *message, const char *message_id)
{
	struct jw *w = res_json(r, status);
	jw_obj(w);
	jw_key(w, "error");
	jw_obj(w);
	jw_kstr(w, "code", code);
	jw_kstr(w, "message", message);
	if (message_id && *message_id) {
		jw_key(w, "details");
		jw_obj(w);
		jw_kstr(w, "message_id", message_id);
		jw_obj_end(w);
	}
	jw_obj_end(w);
	jw_kstr(w, "request_id", r->rid);
	jw_obj_end(w);
	res_header(r, "X-Road-Error", code);
	if (message_id && *message_id)
		res_header(r, "X-Road-Message-Id", message_id);
}

/* ---- authentication of signed requests ---- */

int xauth_request(struct req *r, struct app *app, struct xauth *out, struct err *e)
{
	memset(out, 0, sizeof *out);
	out->client = clean(req_header(r, "X-Road-Client"), 200);
	out->time = clean(req_header(r, "X-Road-Time"), 64);
	out->nonce = clean(req_header(r, "X-Road-Nonce"), 100);
	out->signature = clean(req_header(r, "X-Road-Signature"), 200);
	out->purpose = pct_decode(r->a, req_header(r, "X-Road-Purpose"));
	out->subject = clean(req_header(r, "X-Road-Subject"), 32);
	if (out->purpose) {
		const char *p = clean(out->purpose, EXCHANGE_PURPOSE_MAX);
		if (strcmp(p, "(invalid)") == 0) {
			out->purpose = p;
			out->code = "exchange.bad_purpose";
			out->status = 400;
			return err_set(e, ERR_BAD_REQUEST,
				       "X-Road-Purpose must be percent-encoded printable UTF-8 of at most %d bytes",
				       EXCHANGE_PURPOSE_MAX);
		}
		if (!*p)
			out->purpose = NULL;
	}
	struct buf q = BUF_INIT;
	req_query_each(r, query_collect, &q);
	out->query = arena_strdup(r->a, buf_cstr(&q));
	buf_free(&q);
	if (r->body_too_large) {
		str_copy(out->body_digest, sizeof out->body_digest, "-");
		out->code = "exchange.too_large";
		out->status = 413;
		return err_set(e, ERR_TOO_LARGE, "the request body is larger than the gateway's limit");
	}
	crypto_sha256_hex(r->body.ptr ? r->body.ptr : "", r->body.len, out->body_digest);
	const char *missing = !out->client ? "X-Road-Client" : !out->time ? "X-Road-Time" : !out->nonce ? "X-Road-Nonce"
			    : !out->signature ? "X-Road-Signature" : NULL;
	out->code = "exchange.unsigned";
	out->status = 401;
	if (missing)
		return err_set(e, ERR_UNAUTHENTICATED, "the request is not signed: header %s is missing", missing);
	char *parts[2];
	if (!xname_split(out->client, 2, r->a, parts))
		return err_set(e, ERR_UNAUTHENTICATED, "X-Road-Client must be 'member/subsystem'");
	if (!nonce_valid(out->nonce))
		return err_set(e, ERR_UNAUTHENTICATED, "X-Road-Nonce must be %d to %d characters of A-Z a-z 0-9 - _",
			       NONCE_MIN, NONCE_MAX);
	if (strlen(out->signature) != 128)
		return err_set(e, ERR_UNAUTHENTICATED, "X-Road-Signature must be 128 hex characters (Ed25519)");
	int64_t t_us;
	if (!parse_time(out->time, &t_us))
		return err_set(e, ERR_UNAUTHENTICATED, "X-Road-Time must be RFC 3339 or unix milliseconds");
	struct xreg_client cl;
	int rc = xreg_client(app, out->client, r->a, &cl, e);
	if (rc < 0) {
		out->code = "exchange.registry_unavailable";
		out->status = 503;
		return rc;
	}
	if (!cl.found) {
		out->code = "exchange.unknown_client";
		return err_set(e, ERR_UNAUTHENTICATED, "no active subsystem '%s' is registered", out->client);
	}
	int64_t now = time_now_us();
	int64_t skew = t_us - now;
	if (skew > (int64_t)EXCHANGE_TIME_WINDOW_S * 1000000 || skew < -(int64_t)EXCHANGE_TIME_WINDOW_S * 1000000) {
		out->code = "exchange.stale";
		return err_set(e, ERR_UNAUTHENTICATED,
			       "X-Road-Time is %lld s away from the platform's clock (at most %d s allowed)",
			       (long long)(skew / 1000000), EXCHANGE_TIME_WINDOW_S);
	}
	struct buf canon = BUF_INIT;
	exchange_canonical_request(&canon, r->method, r->path, out->query, out->body_digest, out->time, out->nonce,
				   out->client, out->purpose, out->subject);
	bool ok = crypto_verify_hex(cl.pk, canon.ptr, canon.len, out->signature);
	buf_free(&canon);
	if (!ok) {
		out->code = "exchange.bad_signature";
		return err_set(e, ERR_UNAUTHENTICATED,
			       "X-Road-Signature does not verify with the registered key of '%s' over the canonical "
			       "request",
			       out->client);
	}
	switch (xnonce_check(exchange_state(app), out->client, out->nonce, t_us / 1000000, now / 1000000)) {
	case 1:
		out->code = "exchange.replay";
		out->status = 409;
		return err_set(e, ERR_CONFLICT, "this X-Road-Nonce was already used: the request is a replay");
	case 2:
		out->code = "exchange.stale";
		return err_set(e, ERR_UNAUTHENTICATED,
			       "X-Road-Time is too old for the replay cache at the current load: sign with the current time");
	case 3:
		out->code = "exchange.busy";
		out->status = 503;
		e->retry_after = 1;
		return err_set(e, ERR_UNAVAILABLE, "the replay cache is full: try again in a moment");
	default:
		break;
	}
	out->code = NULL;
	out->status = 0;
	return 0;
}

/* ---- forwarding ---- */

struct fwd {
	/* in */
	const char *url, *method, *body, *content_type, *accept;
	size_t body_len;
	struct curl_slist *headers;
	long timeout_ms, connect_ms;
	size_t max_resp;
	struct buf *out;
	struct arena *a;
	/* out */
	int status;
	char *resp_ct, *resp_cd;
	bool over;
	const char *error; /* exchange.* */
	int err_status;
	char msg[300];
};

static size_t fwd_write(char *p, size_t size, size_t nmemb, void *arg)
{
	struct fwd *f = arg;
	size_t n = size * nmemb;
	if (f->out->len + n > f->max_resp) {
		f->over = true;
		return 0;
	}
	buf_append(f->out, p, n);
	return n;
}

static size_t fwd_header(char *p, size_t size, size_t nmemb, void *arg)
{
	struct fwd *f = arg;
	size_t n = size * nmemb;
	if (n > 20 && strncasecmp(p, "Content-Disposition:", 20) == 0 && n < 1024) {
		const char *v = p + 20;
		size_t vl = n - 20;
		while (vl && (*v == ' ' || *v == '\t'))
			v++, vl--;
		while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
			vl--;
		f->resp_cd = arena_strndup(f->a, v, vl);
		if (!utf8_valid(f->resp_cd, vl))
			f->resp_cd = NULL;
	}
	return n;
}

/* The thread's handle. Options that never change are set once; forward()
 * sets every per-call option on every call, so no reset is needed (a reset
 * costs more than the call's own options). */
static CURL *thread_curl(void)
{
	pthread_once(&curl_once, curl_init_once);
	CURL *h = pthread_getspecific(curl_key);
	if (!h) {
		h = curl_easy_init();
		if (!h)
			abort();
		curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
		curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, fwd_write);
		curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, fwd_header);
		curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
		pthread_setspecific(curl_key, h);
	}
	return h;
}

static void forward(struct fwd *f)
{
	CURL *h = thread_curl();
	buf_reset(f->out);
	curl_easy_setopt(h, CURLOPT_URL, f->url);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, f->connect_ms);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, f->timeout_ms);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, f);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, f);
	curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)f->max_resp);
	curl_easy_setopt(h, CURLOPT_NOBODY, 0L);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, NULL);
	if (strcmp(f->method, "GET") == 0) {
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	} else if (strcmp(f->method, "HEAD") == 0) {
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	} else {
		/* by pointer: the body is not copied */
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)f->body_len);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, f->body ? f->body : "");
		if (strcmp(f->method, "POST") != 0)
			curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, f->method);
	}
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, f->headers);
	CURLcode cc = curl_easy_perform(h);
	if (cc == CURLE_OK) {
		long code = 0;
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
		f->status = (int)code;
		char *ct = NULL;
		curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &ct);
		if (ct && utf8_valid(ct, strlen(ct)))
			f->resp_ct = arena_strdup(f->a, ct);
		if (f->status < 100 || f->status > 599) {
			f->error = "exchange.backend_unavailable";
			f->err_status = 502;
			snprintf(f->msg, sizeof f->msg, "the service's backend answered with an invalid status %d",
				 f->status);
		}
		return;
	}
	f->err_status = 502;
	f->error = "exchange.backend_unavailable";
	if (f->over || cc == CURLE_FILESIZE_EXCEEDED) {
		f->error = "exchange.response_too_large";
		snprintf(f->msg, sizeof f->msg, "the service's backend answered with more than %zu bytes", f->max_resp);
	} else if (cc == CURLE_OPERATION_TIMEDOUT) {
		long sent = 0; /* request bytes sent: 0 while still connecting (a reused connection has no connect time) */
		curl_easy_getinfo(h, CURLINFO_REQUEST_SIZE, &sent);
		if (sent > 0) {
			f->error = "exchange.backend_timeout";
			f->err_status = 504;
			snprintf(f->msg, sizeof f->msg, "the service's backend did not answer within %ld ms",
				 f->timeout_ms);
		} else {
			snprintf(f->msg, sizeof f->msg, "the service's backend could not be reached within %ld ms",
				 f->connect_ms < f->timeout_ms ? f->connect_ms : f->timeout_ms);
		}
	} else {
		snprintf(f->msg, sizeof f->msg, "the service's backend is unavailable: %s", curl_easy_strerror(cc));
	}
	buf_reset(f->out);
}

/* ---- one exchange, from the registry checks on (both entry points) ---- */

struct gw {
	struct app *app;
	struct arena *a;
	const char *client, *service, *method, *rest, *query, *purpose, *subject, *req_time, *nonce, *req_sig;
	const char *body, *content_type, *accept;
	size_t body_len;
	char body_digest[65];
	bool client_known;
	struct buf *out; /* the answer's body */
	/* results */
	bool service_known;
	int status;	   /* what the caller gets */
	const char *ctype, *cdisp;
	const char *error; /* exchange.* when the gateway refused or failed */
	int err;	   /* its err_code */
	char msg[320];
	char id[33];
	char resp_sig[129];
	int64_t resp_time_ms;
	int64_t t0_us, at_us;
};

/* No "." or ".." segment: libcurl would resolve them and leave the service's
 * base path (a client could reach the backend host's other paths). */
static bool path_safe(const char *rest)
{
	for (const char *p = rest; p && *p;) {
		const char *end = strchr(p, '/');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return false;
		p = end ? end + 1 : NULL;
	}
	return true;
}

static void gw_refuse(struct gw *g, int status, int err, const char *code, const char *msg)
{
	g->status = status;
	g->err = err;
	g->error = code;
	str_copy(g->msg, sizeof g->msg, msg);
}

static void gw_forward(struct gw *g)
{
	struct xreg_service svc;
	struct err e = {0};
	if (xreg_service(g->app, g->service, g->a, &svc, &e) < 0) {
		gw_refuse(g, 503, ERR_UNAVAILABLE, "exchange.registry_unavailable", "the registry cannot be read now");
		return;
	}
	g->service_known = svc.found;
	if (!svc.found) {
		char m[300];
		snprintf(m, sizeof m, "no active service '%s' is registered", g->service);
		gw_refuse(g, 404, ERR_NOT_FOUND, "exchange.unknown_service", m);
		return;
	}
	if (!method_allowed(svc.methods, g->method)) {
		char m[300];
		snprintf(m, sizeof m, "service '%s' takes %s, not %s", g->service, svc.methods, g->method);
		gw_refuse(g, 405, ERR_METHOD, "exchange.method_not_allowed", m);
		return;
	}
	bool allowed = false;
	if (xreg_allowed(g->app, g->service, g->client, &allowed, &e) < 0) {
		gw_refuse(g, 503, ERR_UNAVAILABLE, "exchange.registry_unavailable", "the registry cannot be read now");
		return;
	}
	if (!allowed) {
		char m[400];
		snprintf(m, sizeof m, "'%s' has no access right to service '%s'", g->client, g->service);
		gw_refuse(g, 403, ERR_FORBIDDEN, "exchange.access_denied", m);
		return;
	}
	if (svc.personal_data && (!g->purpose || !*g->purpose)) {
		char m[300];
		snprintf(m, sizeof m, "service '%s' carries personal data: X-Road-Purpose is required", g->service);
		gw_refuse(g, 400, ERR_INVALID, "exchange.purpose_required", m);
		return;
	}
	if (g->subject && !text_digits(g->subject, 12)) {
		gw_refuse(g, 400, ERR_INVALID, "exchange.bad_subject", "X-Road-Subject must be a 12-digit CCCD");
		return;
	}
	if (!path_safe(g->rest)) {
		gw_refuse(g, 400, ERR_BAD_REQUEST, "exchange.bad_path",
			  "the path after the service must not contain '.' or '..' segments");
		return;
	}
	struct buf url = BUF_INIT;
	size_t bl = strlen(svc.backend_url);
	while (bl && svc.backend_url[bl - 1] == '/')
		bl--;
	buf_append(&url, svc.backend_url, bl);
	if (g->rest && *g->rest) {
		buf_putc(&url, '/');
		pct_encode(&url, g->rest, true);
	}
	if (g->query && *g->query) {
		buf_putc(&url, '?');
		buf_puts(&url, g->query);
	}
	struct curl_slist *hl = NULL;
	struct buf hb = BUF_INIT;
#define ADD_HEADER(...)                                                                                                \
	do {                                                                                                           \
		buf_reset(&hb);                                                                                        \
		buf_printf(&hb, __VA_ARGS__);                                                                          \
		hl = curl_slist_append(hl, hb.ptr);                                                                    \
	} while (0)
	ADD_HEADER("Expect:"); /* no 100-continue round trip */
	if (g->body_len || (strcmp(g->method, "GET") != 0 && strcmp(g->method, "HEAD") != 0))
		ADD_HEADER("Content-Type: %s", g->content_type ? g->content_type : "application/octet-stream");
	ADD_HEADER("Accept: %s", g->accept ? g->accept : "*/*");
	ADD_HEADER("X-Road-Client: %s", g->client);
	ADD_HEADER("X-Road-Message-Id: %s", g->id);
	if (g->purpose) {
		struct buf pe = BUF_INIT;
		pct_encode(&pe, g->purpose, false);
		ADD_HEADER("X-Road-Purpose: %s", pe.ptr);
		buf_free(&pe);
	}
	if (g->subject)
		ADD_HEADER("X-Road-Subject: %s", g->subject);
#undef ADD_HEADER
	buf_free(&hb);
	const struct config *cfg = g->app->cfg;
	struct fwd f = {
		.url = url.ptr,
		.method = g->method,
		.body = g->body,
		.body_len = g->body_len,
		.headers = hl,
		.timeout_ms = svc.timeout_ms > 0 ? svc.timeout_ms : (cfg ? (long)cfg->exchange_timeout_ms : 30000),
		.connect_ms = cfg ? (long)cfg->exchange_connect_timeout_ms : 3000,
		.max_resp = cfg ? (size_t)cfg->exchange_max_response : 32u << 20,
		.out = g->out,
		.a = g->a,
	};
	forward(&f);
	curl_slist_free_all(hl);
	buf_free(&url);
	if (f.error) {
		gw_refuse(g, f.err_status, f.err_status == 504 ? ERR_GATEWAY_TIMEOUT : ERR_BAD_GATEWAY, f.error, f.msg);
		return;
	}
	g->status = f.status;
	g->ctype = f.resp_ct;
	g->cdisp = f.resp_cd;
}

/* Signs the answer (g->out holds the body that goes back) and logs. */
static int gw_finish(struct gw *g, struct err *e)
{
	struct xlog_rec rec;
	memset(&rec, 0, sizeof rec);
	crypto_sha256_hex(g->out->ptr ? g->out->ptr : "", g->out->len, rec.response_digest);
	g->resp_time_ms = time_now_us() / 1000;
	struct buf canon = BUF_INIT, sig = BUF_INIT;
	exchange_canonical_response(&canon, g->id, g->req_sig, g->status, rec.response_digest, g->resp_time_ms);
	keys_sign_hex(&g->app->keys, canon.ptr, canon.len, &sig);
	str_copy(g->resp_sig, sizeof g->resp_sig, sig.ptr);
	buf_free(&canon);
	buf_free(&sig);
	str_copy(rec.id, sizeof rec.id, g->id);
	rec.at = g->at_us;
	rec.client = g->client ? g->client : "";
	rec.service = g->service ? g->service : "";
	rec.method = g->method;
	rec.path = g->rest ? g->rest : "";
	rec.query = g->query ? g->query : "";
	rec.purpose = g->purpose;
	rec.subject = g->subject && text_digits(g->subject, 12) ? g->subject : NULL;
	rec.request_time = g->req_time;
	rec.nonce = g->nonce;
	str_copy(rec.request_digest, sizeof rec.request_digest, g->body_digest);
	rec.request_signature = g->req_sig;
	rec.status = g->status;
	rec.response_signature = g->resp_sig;
	rec.error = g->error;
	rec.duration_us = time_mono_us() - g->t0_us;
	int rc = xlog_append(g->app, &rec, e);
	/* the metrics' latency includes the record's commit; the record's own cannot */
	xstats_record(exchange_state(g->app), g->service, g->client, g->service_known, g->client_known,
		      rc < 0 ? 503 : g->status, g->error != NULL || rc < 0, time_mono_us() - g->t0_us);
	return rc;
}

/* ---- the HTTP entry point ---- */

int gateway_handle(struct req *r)
{
	struct app *app = r->app;
	struct gw g;
	memset(&g, 0, sizeof g);
	g.app = app;
	g.a = r->a;
	g.t0_us = time_mono_us();
	g.at_us = time_now_us();
	g.out = &r->out;
	xlog_new_id(g.id);
	const char *m = req_param(r, "member"), *s = req_param(r, "subsystem"), *v = req_param(r, "service");
	g.service = clean(arena_printf(r->a, "%s/%s/%s", m, s, v), 3 * EXCHANGE_CODE_MAX + 2);
	g.rest = req_param(r, "rest");
	g.method = r->method;
	r->actor = "exchange";
	struct xauth au;
	struct err e = {0};
	int rc = xauth_request(r, app, &au, &e);
	g.client = au.client;
	g.req_time = au.time;
	g.nonce = au.nonce;
	g.req_sig = au.signature;
	g.purpose = au.purpose;
	g.subject = au.subject;
	g.query = au.query;
	str_copy(g.body_digest, sizeof g.body_digest, au.body_digest);
	if (rc < 0) {
		gw_refuse(&g, au.status, rc, au.code, e.msg);
	} else {
		g.client_known = true;
		r->actor = arena_printf(r->a, "exchange:%s", au.client);
		g.body = r->body.ptr;
		g.body_len = r->body.len;
		g.content_type = req_header(r, "Content-Type");
		g.accept = req_header(r, "Accept");
		gw_forward(&g);
	}
	if (g.error) {
		buf_reset(&r->out);
		xerror_respond(r, g.status, g.error, g.msg, g.id);
		r->nheaders = 0; /* the log record comes first: headers again below */
	}
	rc = gw_finish(&g, &e);
	if (rc < 0) {
		r->nheaders = 0;
		buf_reset(&r->out);
		log_error("exchange: message log write failed for %s: %s", g.id, e.msg);
		xerror_respond(r, 503, "exchange.log_unavailable",
			       "the message log cannot be written now, so the answer is withheld; try again", NULL);
		res_header(r, "Retry-After", "1");
		return 0;
	}
	if (g.error) {
		res_header(r, "X-Road-Error", g.error);
	} else {
		r->status = g.status;
		r->content_type = g.ctype;
		if (g.cdisp)
			res_header(r, "Content-Disposition", g.cdisp);
	}
	char tms[24];
	snprintf(tms, sizeof tms, "%lld", (long long)g.resp_time_ms);
	res_header(r, "X-Road-Message-Id", g.id);
	res_header(r, "X-Road-Response-Time", tms);
	res_header(r, "X-Road-Response-Signature", g.resp_sig);
	return 0;
}

/* ---- in-process calls ---- */

int exchange_call(const struct ctx *c, const struct exchange_call *call, struct exchange_result *out, struct err *e)
{
	memset(out, 0, sizeof *out);
	struct gw g;
	memset(&g, 0, sizeof g);
	struct buf body = BUF_INIT;
	g.app = c->app;
	g.a = c->a;
	g.t0_us = time_mono_us();
	g.at_us = time_now_us();
	g.out = &body;
	xlog_new_id(g.id);
	g.client = clean(call->client, 200);
	g.service = clean(call->service, 3 * EXCHANGE_CODE_MAX + 2);
	g.method = call->method ? call->method : "GET";
	g.rest = clean(call->path, 4096);
	g.query = clean(call->query, 8192);
	g.purpose = call->purpose && *call->purpose ? clean(call->purpose, EXCHANGE_PURPOSE_MAX) : NULL;
	g.subject = clean(call->subject, 32);
	g.body = call->body;
	g.body_len = call->body ? call->body_len : 0;
	g.content_type = call->content_type ? call->content_type : g.body_len ? "application/json" : NULL;
	crypto_sha256_hex(g.body ? g.body : "", g.body_len, g.body_digest);
	struct xreg_client cl;
	char *parts[3];
	if (!g.service || !xname_split(g.service, 3, c->a, parts)) {
		gw_refuse(&g, 404, ERR_NOT_FOUND, "exchange.unknown_service", "service must be 'member/subsystem/service'");
	} else if (!g.client || !xname_split(g.client, 2, c->a, parts)) {
		gw_refuse(&g, 401, ERR_NOT_FOUND, "exchange.unknown_client", "client must be 'member/subsystem'");
	} else if (!method_allowed("GET,POST,PUT,PATCH,DELETE", g.method)) {
		gw_refuse(&g, 405, ERR_METHOD, "exchange.method_not_allowed", "unknown method");
	} else if (g.purpose && strcmp(g.purpose, "(invalid)") == 0) {
		gw_refuse(&g, 400, ERR_INVALID, "exchange.bad_purpose", "purpose must be printable UTF-8 of at most 500 bytes");
	} else if (xreg_client(c->app, g.client, c->a, &cl, e) < 0) {
		gw_refuse(&g, 503, ERR_UNAVAILABLE, "exchange.registry_unavailable", "the registry cannot be read now");
	} else if (!cl.found) {
		char m[300];
		snprintf(m, sizeof m, "no active subsystem '%s' is registered", g.client);
		gw_refuse(&g, 401, ERR_NOT_FOUND, "exchange.unknown_client", m);
	} else {
		g.client_known = true;
		gw_forward(&g);
	}
	if (g.error)
		buf_reset(&body);
	err_clear(e);
	int rc = gw_finish(&g, e);
	out->duration_us = time_mono_us() - g.t0_us;
	if (rc < 0) {
		buf_free(&body);
		str_copy(out->error_code, sizeof out->error_code, "exchange.log_unavailable");
		return err_set(e, ERR_UNAVAILABLE, "the message log cannot be written now: %s", e->msg);
	}
	str_copy(out->message_id, sizeof out->message_id, g.id);
	if (g.error) {
		buf_free(&body);
		str_copy(out->error_code, sizeof out->error_code, g.error);
		return err_set(e, g.err, "%s", g.msg);
	}
	out->status = g.status;
	out->body = arena_strndup(c->a, body.ptr ? body.ptr : "", body.len);
	out->body_len = body.len;
	out->content_type = g.ctype ? arena_strdup(c->a, g.ctype) : NULL;
	buf_free(&body);
	return 0;
}
