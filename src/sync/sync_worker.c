/* sync_worker.c: pushing the 'sync' rows of the outbox to the National Public
 * Service Portal, in order per dossier, with retries (see sync.h).
 *
 * A pass claims, in one transaction, the due rows that are first in their
 * dossier's queue (no earlier row of that dossier is still undone: one that
 * waits on its backoff or is claimed elsewhere holds the later ones back),
 * marks them claimed for a minute (claimed_until; on PostgreSQL the select
 * also skips rows another node has locked), pushes each outside any
 * transaction, and records the outcomes and the dossiers' sync state in
 * another. Several nodes may run workers on one PostgreSQL: the claim keeps
 * each row, and so each dossier's next row, with one of them. */
#include "sync/sync.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/buf.h"
#include "base/json.h"
#include "base/log.h"
#include "base/time.h"
#include "crypto/crypto.h"
#include "national/national.h"

enum {
	BATCH = 16,
	CANDIDATES = 64,
	CLAIM_S = 60,
	BACKOFF_CAP_S = 3600,
	IDLE_WAIT_MS = 300,
	ERROR_WAIT_MS = 5000,
};

#define US_PER_S INT64_C(1000000)

struct sync_worker {
	struct app *app;
	pthread_mutex_t mu;
	pthread_cond_t cv; /* CLOCK_MONOTONIC */
	bool running;
	int cancel; /* read by libcurl's progress callback (atomic) */
	pthread_t thread;
};

/* One app per process in practice; tests open several in turn. */
static pthread_mutex_t workers_mu = PTHREAD_MUTEX_INITIALIZER;
static struct sync_worker *worker_of_app;

enum outcome {
	OUT_DONE,
	OUT_RETRY,
	OUT_FAIL,
	OUT_ABORT,
};

struct item {
	int64_t id, attempts, step_id;
	char *dedupe, *payload, *dossier;
	enum outcome out;
	char error[400];
};

static void item_error(struct item *it, enum outcome out, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void item_error(struct item *it, enum outcome out, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(it->error, sizeof it->error, fmt, ap);
	va_end(ap);
	it->out = out;
}

struct batch {
	struct arena a;
	int64_t now, max_attempts;
	struct item items[BATCH];
	int n;
};

/* "<code>:<step id>" -> code (in a), step id */
static char *split_dedupe(struct arena *a, const char *dedupe, int64_t *step_id)
{
	const char *colon = strrchr(dedupe, ':');
	if (!colon)
		return NULL;
	*step_id = strtoll(colon + 1, NULL, 10);
	return arena_strndup(a, dedupe, (size_t)(colon - dedupe));
}

static int claim_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct batch *b = arg;
	b->n = 0; /* the callback may run again (PostgreSQL retries) */
	const char *sql = store_tx_kind(tx) == STORE_POSTGRES
				  ? "SELECT id, dedupe, payload, attempts FROM outbox WHERE kind = 'sync' AND "
				    "done_at IS NULL AND next_at <= $1 AND claimed_until < $1 ORDER BY id LIMIT 64 "
				    "FOR UPDATE SKIP LOCKED"
				  : "SELECT id, dedupe, payload, attempts FROM outbox WHERE kind = 'sync' AND "
				    "done_at IS NULL AND next_at <= $1 AND claimed_until < $1 ORDER BY id LIMIT 64";
	struct item cand[CANDIDATES];
	int ncand = 0;
	struct store_q *q;
	int rc = store_query(tx, sql, ARGS(SA_INT(b->now)), &q, e);
	while (rc == 0 && (rc = store_step(q, e)) == 1) {
		if (ncand == CANDIDATES) {
			rc = 0;
			break;
		}
		struct item *it = &cand[ncand];
		memset(it, 0, sizeof *it);
		it->id = store_int(q, 0);
		it->dedupe = store_dup(q, 1, &b->a);
		it->payload = store_dup(q, 2, &b->a);
		it->attempts = store_int(q, 3);
		it->dossier = split_dedupe(&b->a, it->dedupe, &it->step_id);
		if (it->dossier)
			ncand++;
		rc = 0;
	}
	store_done(q);
	if (rc < 0)
		return rc;
	for (int i = 0; i < ncand && b->n < BATCH; i++) {
		struct item *it = &cand[i];
		bool taken = false;
		for (int j = 0; j < i && !taken; j++)
			taken = strcmp(cand[j].dossier, it->dossier) == 0;
		if (taken)
			continue; /* an earlier row of this dossier is in the candidates */
		int64_t earlier = 0;
		rc = store_get_int(tx,
				   "SELECT count(*) FROM dossier_steps s JOIN outbox o ON o.dedupe = s.dossier_code || "
				   "':' || CAST(s.id AS TEXT) WHERE s.dossier_code = $1 AND o.kind = 'sync' AND "
				   "o.done_at IS NULL AND o.id < $2",
				   ARGS(SA_TEXT(it->dossier), SA_INT(it->id)), &earlier, e);
		if (rc < 0)
			return rc;
		if (earlier > 0)
			continue;
		rc = store_exec(tx, "UPDATE outbox SET claimed_until = $1 WHERE id = $2",
				ARGS(SA_INT(b->now + CLAIM_S * US_PER_S), SA_INT(it->id)), e);
		if (rc < 0)
			return rc;
		b->items[b->n++] = *it;
	}
	return 0;
}

static int64_t backoff_us(int64_t attempts)
{
	int64_t s = attempts >= 12 ? BACKOFF_CAP_S : INT64_C(1) << attempts;
	if (s > BACKOFF_CAP_S)
		s = BACKOFF_CAP_S;
	int64_t us = s * US_PER_S;
	uint32_t r;
	crypto_random(&r, sizeof r);
	return us - (int64_t)(r % (uint32_t)(us / 5 + 1));
}

static int mark_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct batch *b = arg;
	for (int i = 0; i < b->n; i++) {
		struct item *it = &b->items[i];
		int64_t attempts = it->attempts + 1;
		int rc;
		if (it->out == OUT_ABORT) {
			rc = store_exec(tx, "UPDATE outbox SET claimed_until = 0 WHERE id = $1 AND done_at IS NULL",
					ARGS(SA_INT(it->id)), e);
			if (rc < 0)
				return rc;
			continue;
		}
		bool give_up = it->out == OUT_FAIL || (it->out == OUT_RETRY && attempts >= b->max_attempts);
		if (it->out == OUT_DONE)
			rc = store_exec(tx,
					"UPDATE outbox SET done_at = $1, attempts = $2, claimed_until = 0, last_error = NULL "
					"WHERE id = $3 AND done_at IS NULL",
					ARGS(SA_INT(b->now), SA_INT(attempts), SA_INT(it->id)), e);
		else
			rc = store_exec(tx,
					"UPDATE outbox SET attempts = $1, next_at = $2, claimed_until = 0, last_error = $3, "
					"done_at = $4 WHERE id = $5 AND done_at IS NULL",
					ARGS(SA_INT(attempts), SA_INT(b->now + backoff_us(attempts)), SA_TEXT(it->error),
					     give_up ? SA_INT(b->now) : SA_NULL, SA_INT(it->id)),
					e);
		if (rc < 0)
			return rc;
		if (rc == 0)
			continue; /* recorded by someone else meanwhile: count it once */
		if (it->out == OUT_DONE)
			rc = store_exec(tx,
					"UPDATE dossier_sync SET pushed = pushed + 1, "
					"pushed_step_id = CASE WHEN pushed_step_id < $2 THEN $2 ELSE pushed_step_id END, "
					"attempts = attempts + 1, last_attempt_at = $3, synced_at = $3, updated_at = $3, "
					"last_error = CASE WHEN failed > 0 THEN last_error ELSE NULL END, "
					"status = CASE WHEN failed > 0 THEN 'failed' WHEN pushed + 1 + failed >= queued "
					"THEN 'ok' ELSE 'pending' END WHERE dossier_code = $1",
					ARGS(SA_TEXT(it->dossier), SA_INT(it->step_id), SA_INT(b->now)), e);
		else if (give_up)
			rc = store_exec(tx,
					"UPDATE dossier_sync SET failed = failed + 1, attempts = attempts + 1, "
					"last_error = $2, last_attempt_at = $3, updated_at = $3, status = 'failed' "
					"WHERE dossier_code = $1",
					ARGS(SA_TEXT(it->dossier), SA_TEXT(it->error), SA_INT(b->now)), e);
		else
			rc = store_exec(tx,
					"UPDATE dossier_sync SET attempts = attempts + 1, last_error = $2, "
					"last_attempt_at = $3, updated_at = $3, "
					"status = CASE WHEN failed > 0 THEN 'failed' ELSE 'pending' END WHERE dossier_code = $1",
					ARGS(SA_TEXT(it->dossier), SA_TEXT(it->error), SA_INT(b->now)), e);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* ---- one push ---- */

/* Removes control characters from a peer's text before it goes into a message. */
static void clean(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20)
			*s = ' ';
}

/* One call of the portal's API; true when it accepted (error_code 0). */
static bool call_service(const struct ctx *c, struct item *it, const char *service, bool updating, json_t *data,
			 const int *cancel)
{
	char *item = json_dumps(data, JSON_COMPACT);
	if (!item) {
		item_error(it, OUT_FAIL, "%s: the queued data is not JSON", service);
		return false;
	}
	struct buf b = BUF_INIT;
	struct jw w;
	jw_init(&w, &b);
	jw_obj(&w);
	jw_kstr(&w, "service", service);
	jw_kstr(&w, "MaDongBo", it->dedupe);
	jw_kbool(&w, "isUpdating", updating);
	jw_key(&w, "data");
	jw_arr(&w);
	jw_raw(&w, item, strlen(item));
	jw_arr_end(&w);
	jw_obj_end(&w);
	free(item);
	const char *subject = json_string_value(json_object_get(data, "MaDoiTuong"));
	struct national_request rq = {
		.method = "POST",
		.path = "api/dongbo",
		.body = b.ptr,
		.body_len = b.len,
		.purpose = "Đồng bộ hồ sơ thủ tục hành chính lên Cổng Dịch vụ công quốc gia",
		.subject = subject && subject[0] ? subject : NULL,
		.cancel = cancel,
	};
	struct national_response res;
	struct err e = {0};
	int rc = national_call(c, NATIONAL_DVCQG, &rq, &res, &e);
	buf_free(&b);
	if (rc < 0) {
		if (cancel && __atomic_load_n(cancel, __ATOMIC_ACQUIRE))
			it->out = OUT_ABORT;
		else
			item_error(it, OUT_RETRY, "%s: %s", service, e.msg);
		return false;
	}
	json_t *j = json_loads(res.body ? res.body : "", 0, NULL);
	json_t *code = json_object_get(j, "error_code");
	const char *msg = json_string_value(json_object_get(j, "message"));
	bool ok_code = (json_is_integer(code) && json_integer_value(code) == 0) ||
		       (json_is_string(code) && (strcmp(json_string_value(code), "0") == 0 ||
						 strcmp(json_string_value(code), "00") == 0));
	char excerpt[240];
	snprintf(excerpt, sizeof excerpt, "%s", msg ? msg : res.body ? res.body : "");
	clean(excerpt);
	bool ok = false;
	if (res.status >= 200 && res.status <= 299 && ok_code)
		ok = true;
	else if (res.status == 408 || res.status == 429 || res.status >= 500)
		item_error(it, OUT_RETRY, "%s: the portal answered HTTP %d: %s", service, res.status, excerpt);
	else if (res.status >= 200 && res.status <= 299)
		item_error(it, OUT_FAIL, "%s: the portal refused it (error_code %s): %s", service,
			   json_is_integer(code) ? "non-zero" : json_is_string(code) ? json_string_value(code) : "missing",
			   excerpt);
	else
		item_error(it, OUT_FAIL, "%s: the portal refused it (HTTP %d): %s", service, res.status, excerpt);
	json_decref(j);
	return ok;
}

static void push(struct app *app, struct item *it, const int *cancel)
{
	json_t *p = json_loads(it->payload, 0, NULL);
	json_t *hoso = json_object_get(p, "hoso"), *tiendo = json_object_get(p, "tiendo");
	if (!json_is_object(hoso) || !json_is_object(tiendo)) {
		item_error(it, OUT_FAIL, "the queued payload has no hoso and tiendo");
		json_decref(p);
		return;
	}
	bool updating = json_is_true(json_object_get(p, "updating"));
	struct arena a = ARENA_INIT;
	struct ctx c = {.app = app, .a = &a, .actor = "system:dvcqg-sync"};
	it->out = OUT_DONE;
	if (call_service(&c, it, "DongBoHoSoMC", updating, hoso, cancel))
		call_service(&c, it, "CapNhatTienDoHoSoMC", true, tiendo, cancel);
	arena_free(&a);
	json_decref(p);
}

struct due_probe {
	int64_t now;
	bool any;
};

static int due_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct due_probe *p = arg;
	int64_t one = 0;
	int rc = store_get_int(tx,
			       "SELECT 1 FROM outbox WHERE kind = 'sync' AND done_at IS NULL AND next_at <= $1 AND "
			       "claimed_until < $1 LIMIT 1",
			       ARGS(SA_INT(p->now)), &one, e);
	p->any = rc == 1;
	return rc < 0 ? rc : 0;
}

static int push_batch(struct app *app, int64_t now_us, const int *cancel, struct err *e)
{
	struct arena probe = ARENA_INIT;
	bool configured = national_base(app->cfg, NATIONAL_DVCQG, &probe) != NULL;
	arena_free(&probe);
	if (!configured)
		return 0;
	/* an idle poll is a read, not a write transaction */
	struct due_probe dp = {now_us, false};
	int prc = store_read(app->db, due_fn, &dp, e);
	if (prc < 0)
		return prc;
	if (!dp.any)
		return 0;
	struct batch *b = calloc(1, sizeof *b);
	if (!b)
		abort();
	b->now = now_us;
	b->max_attempts = app->cfg->outbox_max_attempts > 0 ? app->cfg->outbox_max_attempts : 1;
	int64_t claimed_mono = time_mono_us();
	int rc = store_write(app->db, claim_fn, b, e);
	if (rc >= 0 && b->n > 0) {
		for (int i = 0; i < b->n; i++) {
			struct item *it = &b->items[i];
			/* two calls of at most national_timeout_ms each must fit in the claim */
			int64_t room = CLAIM_S * US_PER_S - 2 * app->cfg->national_timeout_ms * 1000 - 5 * US_PER_S;
			bool late = time_mono_us() - claimed_mono > room;
			if (late || (cancel && __atomic_load_n(cancel, __ATOMIC_ACQUIRE)))
				it->out = OUT_ABORT;
			else
				push(app, it, cancel);
			if (it->out == OUT_RETRY || it->out == OUT_FAIL)
				log_warn("sync: %s (attempt %lld) %s: %s", it->dedupe, (long long)it->attempts + 1,
					 it->out == OUT_FAIL ? "given up" : "failed", it->error);
		}
		rc = store_write(app->db, mark_fn, b, e);
		if (rc < 0)
			log_error("sync: recording %d pushes failed (they will be pushed again): %s", b->n, e->msg);
	}
	int n = b->n;
	arena_free(&b->a);
	free(b);
	return rc < 0 ? rc : n;
}

int sync_push_batch(struct app *app, int64_t now_us, struct err *e)
{
	return push_batch(app, now_us, NULL, e);
}

/* ---- the thread ---- */

static bool stopping(struct sync_worker *w)
{
	return __atomic_load_n(&w->cancel, __ATOMIC_ACQUIRE) != 0;
}

static void wait_ms(struct sync_worker *w, int64_t ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += (time_t)(ms / 1000);
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&w->mu);
	while (!stopping(w) && pthread_cond_timedwait(&w->cv, &w->mu, &ts) != ETIMEDOUT)
		;
	pthread_mutex_unlock(&w->mu);
}

static void *worker_main(void *arg)
{
	struct sync_worker *w = arg;
	while (!stopping(w)) {
		struct err e = {0};
		int n = push_batch(w->app, time_now_us(), &w->cancel, &e);
		if (n < 0) {
			log_warn("sync: claiming outbox rows failed: %s", e.msg);
			wait_ms(w, ERROR_WAIT_MS);
		} else if (n < BATCH) {
			wait_ms(w, IDLE_WAIT_MS);
		}
	}
	return NULL;
}

int sync_start(struct app *app, struct err *e)
{
	if (strcmp(app->cfg->national_via, "gateway") == 0) {
		/* the national systems answer through the LGSP: make sure they are on it */
		struct err re = {0};
		int made = national_register(app, &re);
		if (made < 0)
			log_warn("national: registering the national systems on the LGSP failed: %s", re.msg);
		else if (made > 0)
			log_info("national: %d registry entries created for the national systems on the LGSP", made);
	}
	pthread_mutex_lock(&workers_mu);
	if (worker_of_app) {
		pthread_mutex_unlock(&workers_mu);
		return err_set(e, ERR_INTERNAL, "sync: already started");
	}
	struct sync_worker *w = calloc(1, sizeof *w);
	if (!w)
		abort();
	w->app = app;
	pthread_mutex_init(&w->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->cv, &ca);
	pthread_condattr_destroy(&ca);
	int rc = pthread_create(&w->thread, NULL, worker_main, w);
	if (rc != 0) {
		pthread_cond_destroy(&w->cv);
		pthread_mutex_destroy(&w->mu);
		free(w);
		pthread_mutex_unlock(&workers_mu);
		return err_set(e, ERR_INTERNAL, "sync: cannot start the push thread: %s", strerror(rc));
	}
	w->running = true;
	worker_of_app = w;
	pthread_mutex_unlock(&workers_mu);
	struct arena a = ARENA_INIT;
	char *base = national_base(app->cfg, NATIONAL_DVCQG, &a);
	log_info("sync: pushing dossiers to the national portal at %s", base ? base : "(none configured: queued only)");
	arena_free(&a);
	return 0;
}

void sync_stop(struct app *app)
{
	pthread_mutex_lock(&workers_mu);
	struct sync_worker *w = worker_of_app && worker_of_app->app == app ? worker_of_app : NULL;
	if (w)
		worker_of_app = NULL;
	pthread_mutex_unlock(&workers_mu);
	if (!w)
		return;
	pthread_mutex_lock(&w->mu);
	__atomic_store_n(&w->cancel, 1, __ATOMIC_RELEASE);
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	if (w->running)
		pthread_join(w->thread, NULL);
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
	free(w);
}
