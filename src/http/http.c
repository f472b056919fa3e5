/* http.c: libmicrohttpd integration, routing, limits, security headers,
 * access log and metrics. See http.h for the threading model. */
#include "http/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/fiber.h"
#include "base/log.h"
#include "base/time.h"
#include "crypto/crypto.h"

enum { HIST_BUCKETS = 14, MAX_STATUS = 600, HEADER_LIMIT = 16 * 1024, MAX_HEADERS = 100,
       QUERY_VALUE_LIMIT = 4096 };
static const double hist_le[HIST_BUCKETS - 1] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
						  0.1,	  0.25,	 0.5,	 1,	2.5,   10};

struct conn_ctx;

struct http_server {
	struct MHD_Daemon *d;
	struct http_options opt;
	const struct route *routes;
	size_t nroutes;
	void *app;
	int port;
	uint32_t boot;
	atomic_uint_fast64_t rid_counter;
	atomic_int inflight;
	atomic_int paused;	/* fibers waiting, their connections suspended */
	atomic_bool draining;	/* http_stop: no fiber may pause any more */
	int64_t started_us;

	pthread_t *workers;
	int nworkers;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct conn_ctx *qhead, *qtail;
	bool stopping;

	/* metrics, per route (index nroutes = unmatched) */
	atomic_uint_fast64_t *counts; /* [(nroutes+1) * MAX_STATUS] */
	atomic_uint_fast64_t *hist;   /* [(nroutes+1) * HIST_BUCKETS] */
	atomic_uint_fast64_t *sum_us; /* [nroutes+1] */
};

enum ctx_state { CS_NEW, CS_ASYNC, CS_FIBER, CS_DONE };

struct conn_ctx {
	struct req r;
	struct arena arena;
	struct http_server *s;
	struct MHD_Connection *c;
	enum ctx_state state;
	size_t limit;
	bool too_large;
	bool bad_headers;
	bool bad_form;	   /* a form part broke a rule (count, size, I/O) */
	size_t received;   /* body bytes so far */
	struct MHD_PostProcessor *pp;
	struct http_part *cur; /* the part being received */
	FILE *cur_file;
	struct crypto_sha256_stream *cur_hash;
	int64_t t0;
	struct fiber *fiber; /* CS_FIBER: the handler's */
	bool closing;	     /* MHD is done with the connection: the fiber may not pause */
	struct conn_ctx *next;
};

/* ---- routing ---- */

/* Matches path against pattern; with r, records the parameters (only for the
 * route finally chosen: matching itself allocates nothing). */
static bool route_match(struct req *r, const char *pattern, const char *path)
{
	const char *p = pattern, *u = path;
	if (r)
		r->nparams = 0;
	while (*p && *u) {
		if (*p == '{') {
			const char *close = strchr(p, '}');
			if (!close || (r && r->nparams >= REQ_MAX_PARAMS))
				return false;
			bool rest = close[-1] == '*';
			size_t nlen = (size_t)(close - p - 1 - (rest ? 1 : 0));
			const char *end = rest ? u + strlen(u) : strchr(u, '/');
			if (!end)
				end = u + strlen(u);
			if (end == u)
				return false;
			if (r) {
				r->params[r->nparams].name = arena_strndup(r->a, p + 1, nlen);
				r->params[r->nparams].value = arena_strndup(r->a, u, (size_t)(end - u));
				r->nparams++;
			}
			p = close + 1;
			u = end;
			continue;
		}
		if (*p != *u)
			return false;
		p++;
		u++;
	}
	return *p == 0 && *u == 0;
}

/* Finds the route; sets *method_mismatch when the path exists under another method. */
static const struct route *route_find(struct http_server *s, struct req *r, bool *method_mismatch, struct buf *allow)
{
	*method_mismatch = false;
	const char *m = strcmp(r->method, "HEAD") == 0 ? "GET" : r->method;
	const struct route *hit = NULL;
	for (size_t i = 0; i < s->nroutes; i++) {
		const struct route *rt = &s->routes[i];
		if (!route_match(NULL, rt->pattern, r->path))
			continue;
		if (strcmp(rt->method, m) == 0) {
			hit = rt;
			break;
		}
		*method_mismatch = true;
		if (allow->len)
			buf_puts(allow, ", ");
		buf_puts(allow, rt->method);
	}
	if (hit)
		route_match(r, hit->pattern, r->path);
	return hit;
}

/* ---- request accessors ---- */

const char *req_param(struct req *r, const char *name)
{
	for (int i = 0; i < r->nparams; i++)
		if (strcmp(r->params[i].name, name) == 0)
			return r->params[i].value;
	return NULL;
}

const char *req_query(struct req *r, const char *name)
{
	return MHD_lookup_connection_value(((struct conn_ctx *)r->conn)->c, MHD_GET_ARGUMENT_KIND, name);
}

const char *req_header(struct req *r, const char *name)
{
	return MHD_lookup_connection_value(((struct conn_ctx *)r->conn)->c, MHD_HEADER_KIND, name);
}

const char *req_cookie(struct req *r, const char *name)
{
	return MHD_lookup_connection_value(((struct conn_ctx *)r->conn)->c, MHD_COOKIE_KIND, name);
}

struct query_each {
	void (*fn)(void *cls, const char *key, const char *value);
	void *cls;
	int n;
};

static enum MHD_Result query_each_cb(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct query_each *q = cls;
	q->fn(q->cls, key, value);
	q->n++;
	return MHD_YES;
}

int req_query_each(struct req *r, void (*fn)(void *cls, const char *key, const char *value), void *cls)
{
	struct query_each q = {fn, cls, 0};
	MHD_get_connection_values(((struct conn_ctx *)r->conn)->c, MHD_GET_ARGUMENT_KIND, query_each_cb, &q);
	return q.n;
}

bool req_is_safe_method(const struct req *r)
{
	return strcmp(r->method, "GET") == 0 || strcmp(r->method, "HEAD") == 0;
}

int req_json(struct req *r, json_t **out)
{
	const char *ct = req_header(r, "Content-Type");
	if (!ct || strncasecmp(ct, "application/json", 16) != 0 || (ct[16] && ct[16] != ';' && ct[16] != ' '))
		return err_set(&r->err, ERR_UNSUPPORTED_MEDIA, "Content-Type must be application/json");
	if (r->json) {
		*out = r->json;
		return 0;
	}
	int rc = json_parse(r->body.ptr ? r->body.ptr : "", r->body.len, &r->json, &r->err);
	*out = r->json;
	return rc;
}

int req_query_int(struct req *r, const char *name, int64_t min, int64_t max, int64_t *out, bool *present)
{
	const char *v = req_query(r, name);
	if (present)
		*present = v != NULL;
	if (!v)
		return 0;
	char *end;
	long long n = strtoll(v, &end, 10);
	if (!*v || *end || n < min || n > max) {
		err_field(&r->err, name, "must be an integer from %lld to %lld", (long long)min, (long long)max);
		return err_fields_done(&r->err);
	}
	*out = n;
	return 0;
}

int req_query_time(struct req *r, const char *name, bool end_of_day, int64_t *out_us, bool *present)
{
	const char *v = req_query(r, name);
	if (present)
		*present = v != NULL;
	if (!v)
		return 0;
	int64_t us;
	int32_t days;
	if (time_parse_rfc3339(v, &us)) {
		*out_us = us;
		return 0;
	}
	if (date_parse(v, &days)) {
		*out_us = ((int64_t)days * 86400 - TIME_OFFSET_S) * 1000000 + (end_of_day ? INT64_C(86400) * 1000000 - 1 : 0);
		return 0;
	}
	err_field(&r->err, name, "must be an RFC 3339 time or a date YYYY-MM-DD");
	return err_fields_done(&r->err);
}

int req_page(struct req *r, int *page, int *per_page)
{
	int64_t p = 1, pp = 50;
	int rc = req_query_int(r, "page", 1, 1000000, &p, NULL);
	if (rc == 0)
		rc = req_query_int(r, "per_page", 1, 200, &pp, NULL);
	*page = (int)p;
	*per_page = (int)pp;
	return rc;
}

/* ---- response ---- */

struct jw *res_json(struct req *r, int status)
{
	r->status = status;
	r->content_type = "application/json; charset=utf-8";
	buf_reset(&r->out);
	jw_init(&r->jw, &r->out);
	return &r->jw;
}

void res_header(struct req *r, const char *name, const char *value)
{
	if (r->nheaders >= REQ_MAX_HEADERS)
		return;
	r->headers[r->nheaders].name = arena_strdup(r->a, name);
	r->headers[r->nheaders].value = arena_strdup(r->a, value);
	r->nheaders++;
}

void res_text(struct req *r, int status, const char *content_type, const char *body, size_t n)
{
	r->status = status;
	r->content_type = content_type;
	buf_reset(&r->out);
	buf_append(&r->out, body, n);
}

void res_file(struct req *r, int status, const char *content_type, int fd, uint64_t size)
{
	r->status = status;
	r->content_type = content_type;
	buf_reset(&r->out);
	if (r->file_fd >= 0)
		close(r->file_fd);
	r->file_fd = fd;
	r->file_size = size;
}

void res_error(struct req *r)
{
	if (r->file_fd >= 0) {
		close(r->file_fd);
		r->file_fd = -1;
	}
	struct http_server *srv = r->conn ? ((struct conn_ctx *)r->conn)->s : NULL;
	if (srv && srv->opt.error_page && srv->opt.error_page(r))
		return;
	struct err *e = &r->err;
	int code = e->code ? e->code : ERR_INTERNAL;
	int status = err_http_status(code);
	if (status >= 500 && code == ERR_INTERNAL) {
		/* the detail is for the operators' log, not for the client */
		log_error("internal error at %s:%d: %s", e->file ? e->file : "?", e->line, e->msg);
	}
	struct jw *w = res_json(r, status);
	jw_obj(w);
	jw_key(w, "error");
	jw_obj(w);
	jw_kstr(w, "code", err_name(code));
	if (code == ERR_INTERNAL)
		jw_kstr(w, "message", "internal error; the operators have the details under this request id");
	else
		jw_kstr(w, "message", e->msg[0] ? e->msg : err_name(code));
	if (e->nfields) {
		jw_key(w, "details");
		jw_obj(w);
		jw_key(w, "fields");
		jw_obj(w);
		for (int i = 0; i < e->nfields; i++)
			jw_kstr(w, e->fields[i].name, e->fields[i].msg);
		jw_obj_end(w);
		jw_obj_end(w);
	}
	jw_obj_end(w);
	jw_kstr(w, "request_id", r->rid);
	jw_obj_end(w);
	if (e->retry_after > 0) {
		char ra[16];
		snprintf(ra, sizeof ra, "%d", e->retry_after);
		res_header(r, "Retry-After", ra);
	}
}

struct jw *res_list_begin(struct req *r, int status)
{
	struct jw *w = res_json(r, status);
	jw_obj(w);
	jw_key(w, "items");
	jw_arr(w);
	return w;
}

void res_list_end(struct req *r, int64_t total, int page, int per_page)
{
	struct jw *w = &r->jw;
	jw_arr_end(w);
	jw_kint(w, "total", total);
	jw_kint(w, "page", page);
	jw_kint(w, "per_page", per_page);
	jw_obj_end(w);
}

struct http_server *req_server(struct req *r)
{
	return ((struct conn_ctx *)r->conn)->s;
}

/* ---- the pipeline ---- */

static const char csp[] = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
			  "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

static enum MHD_Result queue_response(struct conn_ctx *x)
{
	struct req *r = &x->r;
	struct MHD_Response *resp;
	if (r->file_fd >= 0) {
		resp = MHD_create_response_from_fd(r->file_size, r->file_fd);
		if (!resp)
			close(r->file_fd);
		r->file_fd = -1; /* MHD closes it with the response */
	} else if (r->out.len) {
		resp = MHD_create_response_from_buffer_with_free_callback(r->out.len, r->out.ptr, free);
		r->out.ptr = NULL; /* MHD owns it now */
		r->out.len = r->out.cap = 0;
	} else {
		resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	}
	if (!resp)
		return MHD_NO;
	if (r->content_type)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->content_type);
	MHD_add_response_header(resp, "X-Request-Id", r->rid);
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(resp, "Referrer-Policy", "same-origin");
	MHD_add_response_header(resp, "X-Frame-Options", "DENY");
	MHD_add_response_header(resp, "Content-Security-Policy", csp);
	if (r->tls)
		MHD_add_response_header(resp, "Strict-Transport-Security", "max-age=31536000; includeSubDomains");
	bool has_cache = false;
	for (int i = 0; i < r->nheaders; i++) {
		MHD_add_response_header(resp, r->headers[i].name, r->headers[i].value);
		if (strcasecmp(r->headers[i].name, "Cache-Control") == 0)
			has_cache = true;
	}
	if (!has_cache && !(r->route && (r->route->flags & ROUTE_PUBLIC_CACHE)))
		MHD_add_response_header(resp, "Cache-Control", "no-store");
	enum MHD_Result ret = MHD_queue_response(x->c, (unsigned)r->status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static void run_handler(struct conn_ctx *x)
{
	struct req *r = &x->r;
	log_set_request_id(r->rid);
	int rc = r->route->fn(r);
	if (rc < 0) {
		if (!r->err.code)
			err_set(&r->err, rc, "%s", err_name(rc));
		res_error(r);
	} else if (r->status == 0) {
		err_set(&r->err, ERR_INTERNAL, "handler for %s %s produced no response", r->method, r->route->pattern);
		res_error(r);
	}
	log_set_request_id(NULL);
}

static void *worker_main(void *arg)
{
	struct http_server *s = arg;
	pthread_mutex_lock(&s->mu);
	for (;;) {
		while (!s->qhead && !s->stopping)
			pthread_cond_wait(&s->cv, &s->mu);
		if (!s->qhead)
			break;
		struct conn_ctx *x = s->qhead;
		s->qhead = x->next;
		if (!s->qhead)
			s->qtail = NULL;
		pthread_mutex_unlock(&s->mu);
		run_handler(x);
		x->state = CS_DONE;
		MHD_resume_connection(x->c);
		pthread_mutex_lock(&s->mu);
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

/* ---- write handlers in fibers on the event thread ---- */

static void fiber_main(void *arg) { run_handler(arg); }

/* The fiber waits (for a commit): suspend its connection, unless the server is
 * shutting down (then the waiter blocks the thread instead: http_stop must see
 * no paused fiber once it has waited for them). */
static bool fiber_on_pause(void *arg)
{
	struct conn_ctx *x = arg;
	if (x->closing)
		return false;
	atomic_fetch_add(&x->s->paused, 1);
	if (atomic_load(&x->s->draining)) {
		atomic_fetch_sub(&x->s->paused, 1);
		return false;
	}
	MHD_suspend_connection(x->c);
	return true;
}

/* From the thread that ended the wait: MHD calls on_request again, which runs
 * the fiber on. The last touch of x: it may be gone as soon as this returns. */
static void fiber_on_wake(void *arg)
{
	struct conn_ctx *x = arg;
	MHD_resume_connection(x->c);
}

static enum MHD_Result fiber_step(struct conn_ctx *x)
{
	log_set_request_id(x->r.rid);
	bool done = fiber_run(x->fiber);
	log_set_request_id(NULL);
	if (!done)
		return MHD_YES; /* paused again: the connection is suspended */
	fiber_free(x->fiber);
	x->fiber = NULL;
	x->state = CS_DONE;
	return queue_response(x);
}

static enum MHD_Result count_header(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	size_t *acc = cls;
	acc[0] += strlen(key) + (value ? strlen(value) : 0) + 4;
	acc[1]++;
	return MHD_YES;
}

struct query_check {
	struct req *r;
	bool bad;
};

static enum MHD_Result check_query(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct query_check *q = cls;
	if (q->bad)
		return MHD_NO;
	size_t vl = value ? strlen(value) : 0;
	if (!utf8_valid(key, strlen(key))) {
		err_set(&q->r->err, ERR_BAD_REQUEST, "a query parameter name is not valid UTF-8");
		q->bad = true;
	} else if (!utf8_valid(value ? value : "", vl) || vl > QUERY_VALUE_LIMIT) {
		err_field(&q->r->err, key, vl > QUERY_VALUE_LIMIT ? "is too long" : "is not valid UTF-8");
		err_fields_done(&q->r->err);
		q->r->err.code = ERR_BAD_REQUEST;
		q->bad = true;
	}
	return q->bad ? MHD_NO : MHD_YES;
}

static void client_ip(struct conn_ctx *x)
{
	struct req *r = &x->r;
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(x->c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	str_copy(r->client_ip, sizeof r->client_ip, "unknown");
	if (ci && ci->client_addr) {
		const struct sockaddr *sa = ci->client_addr;
		if (sa->sa_family == AF_INET)
			inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, r->client_ip, sizeof r->client_ip);
		else if (sa->sa_family == AF_INET6)
			inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, r->client_ip,
				  sizeof r->client_ip);
	}
	if (x->s->opt.trust_proxy) {
		const char *xff = req_header(r, "X-Forwarded-For");
		if (xff) {
			const char *last = strrchr(xff, ',');
			last = last ? last + 1 : xff;
			while (*last == ' ')
				last++;
			unsigned char tmp[16];
			if (inet_pton(AF_INET, last, tmp) == 1 || inet_pton(AF_INET6, last, tmp) == 1)
				str_copy(r->client_ip, sizeof r->client_ip, last);
		}
	}
}

static void request_id(struct conn_ctx *x)
{
	struct req *r = &x->r;
	const char *in = req_header(r, "X-Request-Id");
	if (in) {
		size_t n = strlen(in);
		bool ok = n >= 8 && n < sizeof r->rid;
		for (size_t i = 0; ok && i < n; i++)
			ok = (in[i] >= '0' && in[i] <= '9') || (in[i] >= 'a' && in[i] <= 'z') ||
			     (in[i] >= 'A' && in[i] <= 'Z') || in[i] == '-' || in[i] == '_';
		if (ok) {
			str_copy(r->rid, sizeof r->rid, in);
			return;
		}
	}
	uint64_t n = atomic_fetch_add(&x->s->rid_counter, 1);
	snprintf(r->rid, sizeof r->rid, "%08x%012llx", x->s->boot, (unsigned long long)n);
}

const char *req_form(struct req *r, const char *name)
{
	for (int i = 0; i < r->nparts; i++)
		if (!r->parts[i].filename && strcmp(r->parts[i].name, name) == 0)
			return buf_cstr(&r->parts[i].value);
	return NULL;
}

static void part_finish(struct conn_ctx *x)
{
	if (x->cur_file) {
		if (fflush(x->cur_file) != 0 || fsync(fileno(x->cur_file)) != 0)
			x->bad_form = true;
		fclose(x->cur_file);
		x->cur_file = NULL;
	}
	if (x->cur_hash) {
		crypto_sha256_end(x->cur_hash, x->cur->sha256);
		x->cur_hash = NULL;
	}
	x->cur = NULL;
}

static enum MHD_Result on_part(void *cls, enum MHD_ValueKind kind, const char *key, const char *filename,
			       const char *content_type, const char *transfer_encoding, const char *data, uint64_t off,
			       size_t size)
{
	struct conn_ctx *x = cls;
	struct req *r = &x->r;
	if (x->bad_form)
		return MHD_NO;
	if (off == 0 || !x->cur || strcmp(x->cur->name, key) != 0) {
		part_finish(x);
		if (r->nparts >= REQ_MAX_PARTS) {
			err_set(&r->err, ERR_TOO_LARGE, "more than %d form parts", REQ_MAX_PARTS);
			x->bad_form = true;
			return MHD_NO;
		}
		if (!r->parts)
			r->parts = arena_alloc(r->a, sizeof *r->parts * REQ_MAX_PARTS);
		struct http_part *p = &r->parts[r->nparts++];
		p->name = arena_strdup(r->a, key);
		p->filename = filename ? arena_strdup(r->a, filename) : NULL;
		p->content_type = content_type ? arena_strdup(r->a, content_type) : NULL;
		x->cur = p;
		if (filename) {
			if (!x->s->opt.upload_dir) {
				err_set(&r->err, ERR_BAD_REQUEST, "this endpoint takes no files");
				x->bad_form = true;
				return MHD_NO;
			}
			char rnd[32];
			crypto_random_token(16, rnd, sizeof rnd);
			p->path = arena_printf(r->a, "%s/up-%s", x->s->opt.upload_dir, rnd);
			int fd = open(p->path, O_WRONLY | O_CREAT | O_EXCL, 0600);
			x->cur_file = fd >= 0 ? fdopen(fd, "wb") : NULL;
			if (!x->cur_file) {
				log_error("cannot create upload file %s: %s", p->path, strerror(errno));
				err_set(&r->err, ERR_UNAVAILABLE, "cannot store the upload now");
				p->path = NULL;
				x->bad_form = true;
				return MHD_NO;
			}
			x->cur_hash = crypto_sha256_begin();
		}
	}
	struct http_part *p = x->cur;
	if (!size)
		return MHD_YES;
	p->size += (int64_t)size;
	if (p->filename) {
		if (fwrite(data, 1, size, x->cur_file) != size) {
			err_set(&r->err, ERR_UNAVAILABLE, "cannot store the upload now");
			x->bad_form = true;
			return MHD_NO;
		}
		crypto_sha256_update(x->cur_hash, data, size);
	} else {
		if (p->value.len + size > REQ_MAX_FIELD) {
			err_set(&r->err, ERR_TOO_LARGE, "form field '%s' is larger than %d bytes", key, REQ_MAX_FIELD);
			x->bad_form = true;
			return MHD_NO;
		}
		buf_append(&p->value, data, size);
	}
	return MHD_YES;
}

static void parts_release(struct conn_ctx *x)
{
	struct req *r = &x->r;
	if (x->pp) {
		MHD_destroy_post_processor(x->pp);
		x->pp = NULL;
	}
	part_finish(x);
	for (int i = 0; i < r->nparts; i++) {
		if (r->parts[i].path)
			unlink(r->parts[i].path); /* not claimed by the handler */
		buf_free(&r->parts[i].value);
	}
	r->nparts = 0;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
				  const char *version, const char *upload_data, size_t *upload_size, void **con_cls)
{
	struct http_server *s = cls;
	struct conn_ctx *x = *con_cls;
	if (!x) {
		x = calloc(1, sizeof *x);
		if (!x)
			abort();
		*con_cls = x;
		x->s = s;
		x->c = c;
		x->t0 = time_mono_us();
		struct req *r = &x->r;
		r->a = &x->arena;
		r->conn = x;
		r->file_fd = -1;
		r->app = s->app;
		r->method = arena_strdup(r->a, method);
		r->path = arena_strdup(r->a, url);
		r->tls = s->opt.tls_cert_pem != NULL;
		atomic_fetch_add(&s->inflight, 1);
		request_id(x);
		client_ip(x);
		size_t acc[2] = {0, 0};
		MHD_get_connection_values(c, MHD_HEADER_KIND, count_header, acc);
		if (acc[0] > HEADER_LIMIT || acc[1] > MAX_HEADERS) {
			x->bad_headers = true;
			return MHD_YES;
		}
		bool mismatch;
		struct buf allow = BUF_INIT;
		r->route = route_find(s, r, &mismatch, &allow);
		if (!r->route && mismatch) {
			err_set(&r->err, ERR_METHOD, "method %s is not allowed on %s", method, url);
			res_header(r, "Allow", allow.ptr);
		}
		buf_free(&allow);
		x->limit = r->route && (r->route->flags & (ROUTE_UPLOAD | ROUTE_RAW_LARGE)) ? s->opt.max_upload
											  : s->opt.max_body;
		if (r->route && (r->route->flags & ROUTE_UPLOAD)) {
			const char *ct = req_header(r, MHD_HTTP_HEADER_CONTENT_TYPE);
			if (ct && (strncasecmp(ct, "multipart/form-data", 19) == 0 ||
				   strncasecmp(ct, "application/x-www-form-urlencoded", 33) == 0)) {
				x->pp = MHD_create_post_processor(c, 64 * 1024, on_part, x);
				r->form_body = x->pp != NULL;
			}
		}
		const char *cl = req_header(r, MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl && strtoull(cl, NULL, 10) > x->limit)
			x->too_large = true;
		else if (cl && !x->pp && strtoull(cl, NULL, 10) > 0 && strtoull(cl, NULL, 10) <= (16u << 20))
			buf_grow(&r->body, (size_t)strtoull(cl, NULL, 10)); /* one allocation, no regrowth */
		return MHD_YES;
	}
	struct req *r = &x->r;
	if (*upload_size) {
		if (!x->too_large && !x->bad_headers) {
			x->received += *upload_size;
			if (x->received > x->limit) {
				x->too_large = true;
				buf_free(&r->body);
				parts_release(x);
			} else if (x->pp) {
				if (!x->bad_form && MHD_post_process(x->pp, upload_data, *upload_size) != MHD_YES &&
				    !x->bad_form) {
					err_set(&r->err, ERR_BAD_REQUEST, "malformed form body");
					x->bad_form = true;
				}
			} else {
				buf_append(&r->body, upload_data, *upload_size);
			}
		}
		*upload_size = 0; /* consumed (or discarded) */
		return MHD_YES;
	}
	if (x->state == CS_DONE)
		return queue_response(x);
	if (x->state == CS_ASYNC)
		return MHD_YES; /* spurious call while suspended */
	if (x->state == CS_FIBER) {
		if (!fiber_woken(x->fiber))
			return MHD_YES; /* spurious call while suspended */
		atomic_fetch_sub(&s->paused, 1);
		return fiber_step(x);
	}

	if (x->bad_headers) {
		err_set(&r->err, ERR_HEADERS_TOO_LARGE, "request headers larger than %d bytes or more than %d fields",
			HEADER_LIMIT, MAX_HEADERS);
		res_error(r);
		return queue_response(x);
	}
	if (x->too_large && r->route && (r->route->flags & ROUTE_RAW_LARGE)) {
		r->body_too_large = true;
	} else if (x->too_large) {
		err_set(&r->err, ERR_TOO_LARGE, "request body larger than %zu bytes", x->limit);
		res_error(r);
		return queue_response(x);
	}
	if (x->pp) {
		MHD_destroy_post_processor(x->pp);
		x->pp = NULL;
		part_finish(x);
		if (x->bad_form) {
			if (!r->err.code)
				err_set(&r->err, ERR_BAD_REQUEST, "malformed form body");
			res_error(r);
			return queue_response(x);
		}
	}
	if (!utf8_valid(r->path, strlen(r->path))) {
		err_set(&r->err, ERR_BAD_REQUEST, "the request path is not valid UTF-8");
		res_error(r);
		return queue_response(x);
	}
	struct query_check qc = {r, false};
	MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, check_query, &qc);
	if (qc.bad) {
		res_error(r);
		return queue_response(x);
	}
	if (!r->route) {
		if (r->err.code == ERR_METHOD) {
			res_error(r);
			return queue_response(x);
		}
		if (s->opt.fallback) {
			int rc = s->opt.fallback(r);
			if (rc >= 0 && r->status)
				return queue_response(x);
			if (rc < 0 && rc != ERR_NOT_FOUND) {
				res_error(r);
				return queue_response(x);
			}
		}
		err_clear(&r->err);
		err_set(&r->err, ERR_NOT_FOUND, "no such resource: %s %s", method, url);
		res_error(r);
		return queue_response(x);
	}
	if (req_is_safe_method(r) && !(r->route->flags & ROUTE_BLOCKING)) {
		run_handler(x);
		return queue_response(x);
	}
	/* writes wait on the database: in a fiber, or on a worker, connection suspended */
	if (s->opt.fibers && !(r->route->flags & ROUTE_BLOCKING) &&
	    (x->fiber = fiber_new(fiber_main, x, fiber_on_pause, fiber_on_wake, x)) != NULL) {
		x->state = CS_FIBER;
		return fiber_step(x);
	}
	x->state = CS_ASYNC;
	MHD_suspend_connection(c);
	pthread_mutex_lock(&s->mu);
	if (s->qtail)
		s->qtail->next = x;
	else
		s->qhead = x;
	s->qtail = x;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
	return MHD_YES;
}

static int route_index(struct http_server *s, const struct route *rt)
{
	return rt ? (int)(rt - s->routes) : (int)s->nroutes;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
	struct http_server *s = cls;
	struct conn_ctx *x = *con_cls;
	if (!x)
		return;
	if (x->fiber) {
		if (!fiber_woken(x->fiber)) {
			/* never: a suspended connection is not closed, and http_stop waits
			 * for paused fibers; freeing it would free a stack the database
			 * writer is about to wake */
			log_error("httpd: connection closed while its handler waits (%s); its memory is kept", x->r.rid);
			*con_cls = NULL;
			atomic_fetch_sub(&s->inflight, 1);
			return;
		}
		/* the client left while the fiber waited; its wake resumed the
		 * connection and MHD found it closed: finish the handler here, its
		 * further waits blocking this thread (x->closing), the answer unsent */
		atomic_fetch_sub(&s->paused, 1);
		x->closing = true;
		log_set_request_id(x->r.rid);
		while (!fiber_run(x->fiber))
			;
		log_set_request_id(NULL);
		fiber_free(x->fiber);
		x->fiber = NULL;
	}
	struct req *r = &x->r;
	int64_t dur = time_mono_us() - x->t0;
	int ri = route_index(s, r->route);
	int status = r->status > 0 && r->status < MAX_STATUS ? r->status : 0;
	atomic_fetch_add(&s->counts[ri * MAX_STATUS + status], 1);
	atomic_fetch_add(&s->sum_us[ri], (uint64_t)dur);
	int b = 0;
	while (b < HIST_BUCKETS - 1 && (double)dur / 1e6 > hist_le[b])
		b++;
	atomic_fetch_add(&s->hist[ri * HIST_BUCKETS + b], 1);
	if (s->opt.access_log && !(r->route && (r->route->flags & ROUTE_NO_LOG))) {
		struct buf lb = BUF_INIT;
		struct jw w;
		jw_init(&w, &lb);
		jw_obj(&w);
		jw_ktime(&w, "ts", time_now_us());
		jw_kstr(&w, "level", "info");
		jw_kstr(&w, "type", "access");
		jw_kstr(&w, "request_id", r->rid);
		jw_kstr(&w, "method", r->method);
		jw_key(&w, "path");
		jw_str(&w, utf8_valid(r->path, strlen(r->path)) ? r->path : "(invalid UTF-8)");
		jw_kstr(&w, "route", r->route ? r->route->pattern : NULL);
		jw_kint(&w, "status", r->status);
		jw_key(&w, "ms"); /* milliseconds with 3 decimals, without printf */
		jw_int(&w, dur / 1000);
		char frac[5] = {'.', (char)('0' + dur / 100 % 10), (char)('0' + dur / 10 % 10), (char)('0' + dur % 10), 0};
		buf_puts(&lb, frac);
		jw_kstr(&w, "ip", r->client_ip);
		if (r->actor)
			jw_kstr(&w, "actor", r->actor);
		if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
			jw_kstr(&w, "aborted", "connection closed before the response completed");
		jw_obj_end(&w);
		log_access_line(lb.ptr, (unsigned)lb.len);
		buf_free(&lb);
	}
	if (r->json)
		json_decref(r->json);
	if (r->file_fd >= 0)
		close(r->file_fd);
	parts_release(x);
	buf_free(&r->body);
	buf_free(&r->out);
	arena_free(&x->arena);
	free(x);
	*con_cls = NULL;
	atomic_fetch_sub(&s->inflight, 1);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	vsnprintf(msg, sizeof msg, fmt, ap);
	size_t n = strlen(msg);
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = 0;
	log_warn("httpd: %s", msg);
}

int http_start(struct http_server **out, const struct http_options *opt, const struct route *routes, size_t nroutes,
	       void *app, struct err *e)
{
	struct http_server *s = calloc(1, sizeof *s);
	if (!s)
		abort();
	s->opt = *opt;
	s->routes = routes;
	s->nroutes = nroutes;
	s->app = app;
	s->started_us = time_now_us();
	crypto_random(&s->boot, sizeof s->boot);
	s->counts = calloc((nroutes + 1) * MAX_STATUS, sizeof *s->counts);
	s->hist = calloc((nroutes + 1) * HIST_BUCKETS, sizeof *s->hist);
	s->sum_us = calloc(nroutes + 1, sizeof *s->sum_us);
	if (!s->counts || !s->hist || !s->sum_us)
		abort();
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	s->nworkers = opt->workers > 0 ? opt->workers : 16;
	s->workers = calloc((size_t)s->nworkers, sizeof *s->workers);
	for (int i = 0; i < s->nworkers; i++)
		if (pthread_create(&s->workers[i], NULL, worker_main, s) != 0)
			abort();

	int threads = opt->threads > 0 ? opt->threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
	if (threads < 1)
		threads = 1;
	struct sockaddr_in6 sa6;
	struct sockaddr_in sa4;
	struct sockaddr *sa;
	unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_TURBO | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
	memset(&sa4, 0, sizeof sa4);
	memset(&sa6, 0, sizeof sa6);
	if (inet_pton(AF_INET, opt->host, &sa4.sin_addr) == 1) {
		sa4.sin_family = AF_INET;
		sa4.sin_port = htons((uint16_t)opt->port);
		sa = (struct sockaddr *)&sa4;
	} else if (inet_pton(AF_INET6, opt->host, &sa6.sin6_addr) == 1) {
		sa6.sin6_family = AF_INET6;
		sa6.sin6_port = htons((uint16_t)opt->port);
		sa = (struct sockaddr *)&sa6;
		flags |= MHD_USE_IPv6;
	} else {
		http_stop(s, 0);
		return err_set(e, ERR_CONFIG, "listen: '%s' is not an IP address", opt->host);
	}
	if (opt->tls_cert_pem)
		flags |= MHD_USE_TLS;
	struct MHD_OptionItem ops[] = {
		{MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)mhd_log, NULL},
		{MHD_OPTION_SOCK_ADDR, 0, sa},
		{MHD_OPTION_THREAD_POOL_SIZE, threads, NULL},
		{MHD_OPTION_CONNECTION_LIMIT, opt->max_connections, NULL},
		{MHD_OPTION_PER_IP_CONNECTION_LIMIT, opt->max_per_ip, NULL},
		{MHD_OPTION_CONNECTION_TIMEOUT, opt->conn_timeout, NULL},
		/* MHD clears a connection's pool for every request: keep it small. Headers
		 * above HEADER_LIMIT get our JSON 431; far above it, MHD's own 431. */
		{MHD_OPTION_CONNECTION_MEMORY_LIMIT, 20 * 1024, NULL},
		{MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, s},
		{MHD_OPTION_LISTENING_ADDRESS_REUSE, 1, NULL},
		{opt->tls_cert_pem ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, (void *)opt->tls_cert_pem},
		{opt->tls_cert_pem ? MHD_OPTION_HTTPS_MEM_KEY : MHD_OPTION_END, 0, (void *)opt->tls_key_pem},
		{MHD_OPTION_END, 0, NULL},
	};
	s->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s, MHD_OPTION_ARRAY, ops, MHD_OPTION_END);
	if (!s->d) {
		http_stop(s, 0);
		return err_set(e, ERR_UNAVAILABLE, "cannot listen on %s:%d (address in use or not permitted)", opt->host,
			       opt->port);
	}
	const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
	s->port = di ? di->port : opt->port;
	*out = s;
	return 0;
}

int http_port(const struct http_server *s) { return s->port; }

void http_stop(struct http_server *s, int drain_ms)
{
	if (!s)
		return;
	if (s->d) {
		MHD_socket fd = MHD_quiesce_daemon(s->d);
		if (fd != MHD_INVALID_SOCKET)
			close(fd);
		int64_t until = time_mono_us() + (int64_t)drain_ms * 1000;
		while (atomic_load(&s->inflight) > 0 && time_mono_us() < until)
			usleep(10000);
		/* fibers waiting for the database are woken by it in bounded time;
		 * from now on none pauses (they block their thread instead) */
		atomic_store(&s->draining, true);
		while (atomic_load(&s->paused) > 0)
			usleep(1000);
		MHD_stop_daemon(s->d);
	}
	pthread_mutex_lock(&s->mu);
	s->stopping = true;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	for (int i = 0; i < s->nworkers; i++)
		pthread_join(s->workers[i], NULL);
	free(s->workers);
	free(s->counts);
	free(s->hist);
	free(s->sum_us);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	free(s);
	log_flush(); /* the last access lines */
}

static void route_label(struct http_server *s, int ri, struct buf *out)
{
	if (ri == (int)s->nroutes) {
		buf_puts(out, "unmatched");
		return;
	}
	buf_printf(out, "%s %s", s->routes[ri].method, s->routes[ri].pattern);
}

void http_metrics_write(struct http_server *s, struct buf *out)
{
	struct buf label = BUF_INIT;
	buf_puts(out, "# HELP tinhso_http_requests_total HTTP requests by route and status.\n"
		      "# TYPE tinhso_http_requests_total counter\n");
	for (int ri = 0; ri <= (int)s->nroutes; ri++)
		for (int st = 0; st < MAX_STATUS; st++) {
			uint64_t n = atomic_load(&s->counts[ri * MAX_STATUS + st]);
			if (!n)
				continue;
			buf_reset(&label);
			route_label(s, ri, &label);
			buf_printf(out, "tinhso_http_requests_total{route=\"%s\",status=\"%d\"} %llu\n", label.ptr, st,
				   (unsigned long long)n);
		}
	buf_puts(out, "# HELP tinhso_http_request_duration_seconds Time from request start to response queued.\n"
		      "# TYPE tinhso_http_request_duration_seconds histogram\n");
	for (int ri = 0; ri <= (int)s->nroutes; ri++) {
		uint64_t cum = 0, total = 0;
		for (int b = 0; b < HIST_BUCKETS; b++)
			total += atomic_load(&s->hist[ri * HIST_BUCKETS + b]);
		if (!total)
			continue;
		buf_reset(&label);
		route_label(s, ri, &label);
		for (int b = 0; b < HIST_BUCKETS; b++) {
			cum += atomic_load(&s->hist[ri * HIST_BUCKETS + b]);
			if (b < HIST_BUCKETS - 1)
				buf_printf(out, "tinhso_http_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} %llu\n",
					   label.ptr, hist_le[b], (unsigned long long)cum);
			else
				buf_printf(out, "tinhso_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %llu\n",
					   label.ptr, (unsigned long long)cum);
		}
		buf_printf(out, "tinhso_http_request_duration_seconds_sum{route=\"%s\"} %.6f\n", label.ptr,
			   (double)atomic_load(&s->sum_us[ri]) / 1e6);
		buf_printf(out, "tinhso_http_request_duration_seconds_count{route=\"%s\"} %llu\n", label.ptr,
			   (unsigned long long)total);
	}
	buf_printf(out, "# HELP tinhso_http_requests_in_flight Requests being served.\n"
			"# TYPE tinhso_http_requests_in_flight gauge\ntinhso_http_requests_in_flight %d\n",
		   atomic_load(&s->inflight));
	buf_printf(out, "# HELP tinhso_uptime_seconds Seconds since the server started.\n"
			"# TYPE tinhso_uptime_seconds gauge\ntinhso_uptime_seconds %.3f\n",
		   (double)(time_now_us() - s->started_us) / 1e6);
	buf_free(&label);
}
