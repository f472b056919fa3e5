/* monitor.c: watching the exchange: per service and per client counters and
 * latency histograms (this node, since start) for /metrics, the statistics
 * API over the message log (all nodes, any period), and the plan's
 * connectivity figure. */
#include <stdlib.h>
#include <string.h>

#include "app/api.h"
#include "base/log.h"
#include "base/time.h"
#include "exchange/exchange_internal.h"
#include "identity/identity.h"

enum { XB = 14, XSTATS_MAX_KEYS = 4096, CONNECTIVITY_TARGET = 70 };
static const double xb_le[XB - 1] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
				     0.1,    0.25,  0.5,	1,     2.5,   10};

struct xcounter {
	char *key;
	bool client; /* false: a service */
	uint64_t ok, refused, failed;
	uint64_t hist[XB];
	uint64_t sum_us;
};

struct xstats {
	pthread_mutex_t mu;
	struct xcounter *c;
	size_t cap, n;
};

void xstats_init(struct exchange_state *st)
{
	st->stats = calloc(1, sizeof *st->stats);
	if (!st->stats)
		abort();
	pthread_mutex_init(&st->stats->mu, NULL);
	st->stats->cap = 64;
	st->stats->c = calloc(st->stats->cap, sizeof *st->stats->c);
	if (!st->stats->c)
		abort();
}

void xstats_free(struct exchange_state *st)
{
	struct xstats *s = st->stats;
	if (!s)
		return;
	for (size_t i = 0; i < s->cap; i++)
		free(s->c[i].key);
	free(s->c);
	pthread_mutex_destroy(&s->mu);
	free(s);
	st->stats = NULL;
}

static uint64_t hash_key(const char *k, bool client)
{
	uint64_t h = client ? 0x9e3779b97f4a7c15ull : 1469598103934665603ull;
	for (; *k; k++)
		h = (h ^ (unsigned char)*k) * 1099511628211ull;
	return h;
}

static struct xcounter *counter(struct xstats *s, const char *key, bool client)
{
	size_t i = hash_key(key, client) & (s->cap - 1);
	while (s->c[i].key) {
		if (s->c[i].client == client && strcmp(s->c[i].key, key) == 0)
			return &s->c[i];
		i = (i + 1) & (s->cap - 1);
	}
	if (s->n >= XSTATS_MAX_KEYS)
		return NULL;
	if ((s->n + 1) * 2 > s->cap) {
		size_t cap = s->cap * 2;
		struct xcounter *c = calloc(cap, sizeof *c);
		if (!c)
			abort();
		for (size_t j = 0; j < s->cap; j++)
			if (s->c[j].key) {
				size_t k = hash_key(s->c[j].key, s->c[j].client) & (cap - 1);
				while (c[k].key)
					k = (k + 1) & (cap - 1);
				c[k] = s->c[j];
			}
		free(s->c);
		s->c = c;
		s->cap = cap;
		return counter(s, key, client);
	}
	s->c[i].key = strdup(key);
	if (!s->c[i].key)
		abort();
	s->c[i].client = client;
	s->n++;
	return &s->c[i];
}

static void count(struct xcounter *c, int outcome, int64_t us)
{
	if (!c)
		return;
	if (outcome == 0)
		c->ok++;
	else if (outcome == 1)
		c->refused++;
	else
		c->failed++;
	int b = 0;
	while (b < XB - 1 && (double)us / 1e6 > xb_le[b])
		b++;
	c->hist[b]++;
	c->sum_us += (uint64_t)(us > 0 ? us : 0);
}

void xstats_record(struct exchange_state *st, const char *service, const char *client, bool known_service,
		   bool known_client, int status, bool gateway_error, int64_t duration_us)
{
	int outcome = status >= 500 ? 2 : gateway_error ? 1 : 0;
	struct xstats *s = st->stats;
	pthread_mutex_lock(&s->mu);
	count(counter(s, known_service && service ? service : "(unknown)", false), outcome, duration_us);
	count(counter(s, known_client && client ? client : "(unknown)", true), outcome, duration_us);
	pthread_mutex_unlock(&s->mu);
}

static void write_family(struct buf *out, struct xstats *s, bool client)
{
	const char *label = client ? "client" : "service";
	const char *fam = client ? "tinhso_exchange_client" : "tinhso_exchange_service";
	buf_printf(out,
		   "# HELP %s_requests_total LGSP gateway exchanges by %s and outcome (ok: the backend answered; "
		   "refused: the gateway refused; failed: 5xx).\n# TYPE %s_requests_total counter\n",
		   fam, label, fam);
	for (size_t i = 0; i < s->cap; i++) {
		struct xcounter *c = &s->c[i];
		if (!c->key || c->client != client)
			continue;
		buf_printf(out, "%s_requests_total{%s=\"%s\",outcome=\"ok\"} %llu\n", fam, label, c->key,
			   (unsigned long long)c->ok);
		buf_printf(out, "%s_requests_total{%s=\"%s\",outcome=\"refused\"} %llu\n", fam, label, c->key,
			   (unsigned long long)c->refused);
		buf_printf(out, "%s_requests_total{%s=\"%s\",outcome=\"failed\"} %llu\n", fam, label, c->key,
			   (unsigned long long)c->failed);
	}
	buf_printf(out,
		   "# HELP %s_duration_seconds LGSP gateway time per exchange by %s (arrival to logged answer).\n"
		   "# TYPE %s_duration_seconds histogram\n",
		   fam, label, fam);
	for (size_t i = 0; i < s->cap; i++) {
		struct xcounter *c = &s->c[i];
		if (!c->key || c->client != client)
			continue;
		uint64_t cum = 0;
		for (int b = 0; b < XB; b++) {
			cum += c->hist[b];
			if (b < XB - 1)
				buf_printf(out, "%s_duration_seconds_bucket{%s=\"%s\",le=\"%g\"} %llu\n", fam, label, c->key,
					   xb_le[b], (unsigned long long)cum);
			else
				buf_printf(out, "%s_duration_seconds_bucket{%s=\"%s\",le=\"+Inf\"} %llu\n", fam, label,
					   c->key, (unsigned long long)cum);
		}
		buf_printf(out, "%s_duration_seconds_sum{%s=\"%s\"} %.6f\n", fam, label, c->key, (double)c->sum_us / 1e6);
		buf_printf(out, "%s_duration_seconds_count{%s=\"%s\"} %llu\n", fam, label, c->key,
			   (unsigned long long)cum);
	}
}

void exchange_metrics_write(struct app *app, struct buf *out)
{
	struct exchange_state *st = exchange_state(app);
	struct xstats *s = st->stats;
	pthread_mutex_lock(&s->mu);
	write_family(out, s, false);
	write_family(out, s, true);
	pthread_mutex_unlock(&s->mu);
	uint64_t commits, records, commit_us;
	xlog_counters(app, &commits, &records, &commit_us);
	buf_printf(out,
		   "# HELP tinhso_exchange_log_commits_total Message-log transactions committed by the writer.\n"
		   "# TYPE tinhso_exchange_log_commits_total counter\ntinhso_exchange_log_commits_total %llu\n"
		   "# HELP tinhso_exchange_log_records_total Message-log records written by the writer "
		   "(records / commits = mean group size).\n"
		   "# TYPE tinhso_exchange_log_records_total counter\ntinhso_exchange_log_records_total %llu\n"
		   "# HELP tinhso_exchange_log_commit_seconds_total Time spent committing message-log groups "
		   "(durable writes included).\n"
		   "# TYPE tinhso_exchange_log_commit_seconds_total counter\ntinhso_exchange_log_commit_seconds_total %.6f\n",
		   (unsigned long long)commits, (unsigned long long)records, (double)commit_us / 1e6);
	int64_t depth = async_queue_depth(app);
	if (depth >= 0)
		buf_printf(out,
			   "# HELP tinhso_exchange_async_queued Asynchronous messages waiting for acknowledgement.\n"
			   "# TYPE tinhso_exchange_async_queued gauge\ntinhso_exchange_async_queued %lld\n",
			   (long long)depth);
}

/* ---- GET /api/v1/exchange/stats ---- */

static double pct_ms(const struct xcounter *c, double p)
{
	uint64_t total = 0;
	for (int b = 0; b < XB; b++)
		total += c->hist[b];
	if (!total)
		return 0;
	uint64_t want = (uint64_t)((double)total * p + 0.999999), cum = 0;
	for (int b = 0; b < XB; b++) {
		cum += c->hist[b];
		if (cum >= want)
			return b < XB - 1 ? xb_le[b] * 1000 : 10000;
	}
	return 10000;
}

struct stats_ctx {
	struct jw *w;
	int64_t from, to;
};

static int stats_group(struct store_tx *tx, struct jw *w, const char *sql, const char *label, int64_t from,
		       int64_t to, struct err *e)
{
	struct store_q *q;
	int rc = store_query(tx, sql, ARGS(SA_INT(from), SA_INT(to)), &q, e);
	if (rc < 0)
		return rc;
	jw_key(w, label[0] == 's' ? "services" : "clients");
	jw_arr(w);
	while ((rc = store_step(q, e)) == 1) {
		jw_obj(w);
		jw_kstr(w, label, store_text(q, 0));
		jw_kint(w, "requests", store_int(q, 1));
		jw_kint(w, "refused", store_int(q, 2));
		jw_kint(w, "failed", store_int(q, 3));
		jw_key(w, "mean_ms");
		jw_double(w, (double)store_int(q, 4) / 1000.0);
		jw_key(w, "max_ms");
		jw_double(w, (double)store_int(q, 5) / 1000.0);
		jw_obj_end(w);
	}
	store_done(q);
	jw_arr_end(w);
	return rc < 0 ? rc : 0;
}

static int stats_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct stats_ctx *s = arg;
	int rc = stats_group(tx, s->w,
			     "SELECT service, COUNT(*), SUM(CASE WHEN error IS NOT NULL AND status < 500 THEN 1 ELSE 0 END), "
			     "SUM(CASE WHEN status >= 500 THEN 1 ELSE 0 END), CAST(AVG(duration_us) AS BIGINT), "
			     "MAX(duration_us) FROM exchange_log WHERE at >= $1 AND at < $2 GROUP BY service ORDER BY service",
			     "service", s->from, s->to, e);
	if (rc == 0)
		rc = stats_group(tx, s->w,
				 "SELECT client, COUNT(*), SUM(CASE WHEN error IS NOT NULL AND status < 500 THEN 1 ELSE 0 END), "
				 "SUM(CASE WHEN status >= 500 THEN 1 ELSE 0 END), CAST(AVG(duration_us) AS BIGINT), "
				 "MAX(duration_us) FROM exchange_log WHERE at >= $1 AND at < $2 GROUP BY client ORDER BY client",
				 "client", s->from, s->to, e);
	return rc;
}

static int require_admin(struct req *r, struct ctx *c)
{
	int rc = api_ctx(r, c, API_REQUIRED);
	if (rc < 0)
		return rc;
	if (c->who->role != ROLE_ADMIN)
		return err_set(&r->err, ERR_FORBIDDEN, "only administrators may see exchange statistics");
	return 0;
}

int monitor_h_stats(struct req *r)
{
	struct ctx c;
	int rc = require_admin(r, &c);
	if (rc < 0)
		return rc;
	int64_t now = time_now_us();
	struct stats_ctx s = {NULL, now - INT64_C(86400000000), now + 1};
	/* 'to' is inclusive (a date means to the end of that day); the query's bound is exclusive */
	bool to_given = false;
	if ((rc = req_query_time(r, "from", false, &s.from, NULL)) < 0 ||
	    (rc = req_query_time(r, "to", true, &s.to, &to_given)) < 0)
		return rc;
	if (to_given)
		s.to++;
	struct jw *w = res_json(r, 200);
	s.w = w;
	jw_obj(w);
	jw_ktime(w, "from", s.from);
	jw_ktime(w, "to", s.to);
	rc = store_read(c.app->db, stats_fn, &s, &r->err);
	if (rc < 0)
		return rc;
	/* this node since it started: latency percentiles from the histograms */
	struct exchange_state *st = exchange_state(c.app);
	jw_key(w, "node");
	jw_obj(w);
	jw_ktime(w, "since", c.app->started_us);
	for (int client = 0; client < 2; client++) {
		jw_key(w, client ? "clients" : "services");
		jw_arr(w);
		pthread_mutex_lock(&st->stats->mu);
		for (size_t i = 0; i < st->stats->cap; i++) {
			struct xcounter *x = &st->stats->c[i];
			if (!x->key || x->client != (client == 1))
				continue;
			jw_obj(w);
			jw_kstr(w, client ? "client" : "service", x->key);
			jw_kint(w, "requests", (int64_t)(x->ok + x->refused + x->failed));
			jw_kint(w, "refused", (int64_t)x->refused);
			jw_kint(w, "failed", (int64_t)x->failed);
			jw_key(w, "p50_ms_le");
			jw_double(w, pct_ms(x, 0.5));
			jw_key(w, "p95_ms_le");
			jw_double(w, pct_ms(x, 0.95));
			jw_obj_end(w);
		}
		pthread_mutex_unlock(&st->stats->mu);
		jw_arr_end(w);
	}
	jw_obj_end(w);
	jw_obj_end(w);
	return 0;
}

/* ---- GET /api/v1/exchange/connectivity ---- */

struct conn_ctx_ {
	struct app *app;
	struct jw *w;
	struct arena *a;
};

static int connectivity_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct conn_ctx_ *x = arg;
	struct store_q *q;
	int rc = store_query(
		tx,
		"SELECT a.code, a.name, "
		"CASE WHEN EXISTS (SELECT 1 FROM exchange_access r JOIN exchange_members m ON m.code = r.service_member "
		"JOIN exchange_services v ON v.member = r.service_member AND v.subsystem = r.service_subsystem AND "
		"v.code = r.service_code WHERE m.agency = a.code AND m.disabled = 0 AND v.disabled = 0) THEN 1 ELSE 0 END, "
		"CASE WHEN EXISTS (SELECT 1 FROM exchange_access r JOIN exchange_members m ON m.code = r.client_member "
		"WHERE m.agency = a.code AND m.disabled = 0) THEN 1 ELSE 0 END "
		"FROM agencies a WHERE a.kind = 'department' AND a.level = $1 ORDER BY a.code",
		ARGS(SA_TEXT(x->app->levels[0])), &q, e);
	if (rc < 0)
		return rc;
	struct dep {
		char *code, *name;
		bool provides, consumes;
	} *deps = NULL;
	int n = 0, cap = 0;
	while ((rc = store_step(q, e)) == 1) {
		if (n == cap) {
			cap = cap ? cap * 2 : 32;
			struct dep *bigger = arena_alloc(x->a, sizeof *bigger * (size_t)cap);
			if (n)
				memcpy(bigger, deps, sizeof *deps * (size_t)n);
			deps = bigger;
		}
		deps[n].code = store_dup(q, 0, x->a);
		deps[n].name = store_dup(q, 1, x->a);
		deps[n].provides = store_int(q, 2) != 0;
		deps[n].consumes = store_int(q, 3) != 0;
		n++;
	}
	store_done(q);
	if (rc < 0)
		return rc;
	int connected = 0, providers = 0, consumers = 0;
	for (int i = 0; i < n; i++) {
		connected += deps[i].provides || deps[i].consumes;
		providers += deps[i].provides;
		consumers += deps[i].consumes;
	}
	double pct = n ? 100.0 * connected / n : 0;
	struct jw *w = x->w;
	jw_obj(w);
	jw_kstr(w, "level", x->app->levels[0]);
	jw_kint(w, "departments", n);
	jw_kint(w, "connected", connected);
	jw_kint(w, "providers", providers);
	jw_kint(w, "consumers", consumers);
	jw_key(w, "percent");
	jw_double(w, (double)(int64_t)(pct * 10 + 0.5) / 10);
	jw_kint(w, "target_percent", CONNECTIVITY_TARGET);
	jw_kbool(w, "meets_target", n > 0 && pct >= CONNECTIVITY_TARGET);
	jw_kstr(w, "rule",
		"a department is connected when, as a member of the platform, it provides a service that at least one "
		"client may call, or holds a right to call at least one service");
	for (int pass = 0; pass < 2; pass++) {
		jw_key(w, pass ? "not_connected" : "connected_departments");
		jw_arr(w);
		for (int i = 0; i < n; i++) {
			bool conn = deps[i].provides || deps[i].consumes;
			if (conn == (pass == 1))
				continue;
			jw_obj(w);
			jw_kstr(w, "code", deps[i].code);
			jw_kstr(w, "name", deps[i].name);
			if (!pass) {
				jw_kbool(w, "provides", deps[i].provides);
				jw_kbool(w, "consumes", deps[i].consumes);
			}
			jw_obj_end(w);
		}
		jw_arr_end(w);
	}
	jw_obj_end(w);
	return 0;
}

int monitor_h_connectivity(struct req *r)
{
	struct ctx c;
	int rc = api_ctx(r, &c, API_ANON);
	if (rc < 0)
		return rc;
	if (c.app->nlevels < 1)
		return err_set(&r->err, ERR_INTERNAL, "no administrative levels are configured");
	struct conn_ctx_ x = {c.app, res_json(r, 200), r->a};
	return store_read(c.app->db, connectivity_fn, &x, &r->err);
}
