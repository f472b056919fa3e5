/* outbox.c: claiming, delivering and recording outbox rows, and the threads
 * that do it in a loop (see outbox.h). */
#include "outbox/outbox.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/log.h"
#include "base/time.h"
#include "crypto/crypto.h"

enum { ERROR_WAIT_MS = 5000 };

#define US_PER_S INT64_C(1000000)

void outbox_error(struct outbox_row *row, enum outbox_outcome out, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(row->error, sizeof row->error, fmt, ap);
	va_end(ap);
	row->out = out;
}

/* ---- claim ---- */

struct claim {
	const struct outbox_kind *k;
	struct outbox_batch *b;
	bool any;
};

static int due_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct claim *c = arg;
	int64_t one = 0;
	int rc = store_get_int(tx,
			       "SELECT 1 FROM outbox WHERE kind = $2 AND done_at IS NULL AND next_at <= $1 AND "
			       "claimed_until < $1 LIMIT 1",
			       ARGS(SA_INT(c->b->now), SA_TEXT(c->k->kind)), &one, e);
	c->any = rc == 1;
	return rc < 0 ? rc : 0;
}

/* Whether candidate i may go now: it has a key, and it is the first of its key
 * among the candidates and in the table. */
static int first_of_key(struct store_tx *tx, const struct outbox_kind *k, struct outbox_row *cand, int i,
			struct err *e)
{
	if (!cand[i].key)
		return 0;
	for (int j = 0; j < i; j++)
		if (cand[j].key && strcmp(cand[j].key, cand[i].key) == 0)
			return 0;
	int64_t earlier = 0;
	int rc = store_get_int(tx, k->earlier_sql, ARGS(SA_TEXT(cand[i].key), SA_INT(cand[i].id)), &earlier, e);
	if (rc < 0)
		return rc;
	return earlier == 0;
}

static int claim_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct claim *c = arg;
	const struct outbox_kind *k = c->k;
	struct outbox_batch *b = c->b;
	b->n = 0; /* the callback may run again (PostgreSQL retries) */
	int limit = k->key ? OUTBOX_CANDIDATES : OUTBOX_BATCH;
	const char *sql = store_tx_kind(tx) == STORE_POSTGRES
				  ? "SELECT id, channel, dedupe, payload, attempts FROM outbox WHERE kind = $2 AND "
				    "done_at IS NULL AND next_at <= $1 AND claimed_until < $1 ORDER BY id LIMIT $3 "
				    "FOR UPDATE SKIP LOCKED"
				  : "SELECT id, channel, dedupe, payload, attempts FROM outbox WHERE kind = $2 AND "
				    "done_at IS NULL AND next_at <= $1 AND claimed_until < $1 ORDER BY id LIMIT $3";
	struct outbox_row *cand = arena_alloc(&b->a, sizeof *cand * (size_t)limit);
	int ncand = 0;
	struct store_q *q;
	int rc = store_query(tx, sql, ARGS(SA_INT(b->now), SA_TEXT(k->kind), SA_INT(limit)), &q, e);
	if (rc < 0)
		return rc;
	while (ncand < limit && (rc = store_step(q, e)) == 1) {
		struct outbox_row *row = &cand[ncand++];
		memset(row, 0, sizeof *row);
		row->id = store_int(q, 0);
		row->channel = store_dup(q, 1, &b->a);
		row->dedupe = store_dup(q, 2, &b->a);
		row->payload = store_dup(q, 3, &b->a);
		row->attempts = store_int(q, 4);
		if (k->key)
			row->key = k->key(&b->a, row->dedupe);
	}
	store_done(q);
	if (rc < 0)
		return rc;
	for (int i = 0; i < ncand && b->n < OUTBOX_BATCH; i++) {
		if (k->key && (rc = first_of_key(tx, k, cand, i, e)) <= 0) {
			if (rc < 0)
				return rc;
			continue;
		}
		rc = store_exec(tx, "UPDATE outbox SET claimed_until = $1 WHERE id = $2",
				ARGS(SA_INT(b->now + OUTBOX_CLAIM_S * US_PER_S), SA_INT(cand[i].id)), e);
		if (rc < 0)
			return rc;
		b->rows[b->n++] = cand[i];
	}
	return 0;
}

int outbox_claim(struct app *app, const struct outbox_kind *k, int64_t now_us, struct outbox_batch *b,
		 struct err *e)
{
	b->now = now_us;
	b->n = 0;
	struct claim c = {k, b, false};
	/* an idle poll is a read, not a write transaction */
	int rc = store_read(app->db, due_fn, &c, e);
	if (rc < 0)
		return rc;
	if (!c.any)
		return 0;
	rc = store_write(app->db, claim_fn, &c, e);
	return rc < 0 ? rc : b->n;
}

/* ---- record ---- */

static int64_t backoff_us(int64_t attempts)
{
	int64_t s = attempts >= 12 ? OUTBOX_BACKOFF_CAP_S : INT64_C(1) << attempts;
	if (s > OUTBOX_BACKOFF_CAP_S)
		s = OUTBOX_BACKOFF_CAP_S;
	int64_t us = s * US_PER_S;
	uint32_t r;
	crypto_random(&r, sizeof r);
	return us - (int64_t)(r % (uint32_t)(us / 5 + 1)); /* up to 20% earlier: workers spread out */
}

struct record {
	const struct outbox_kind *k;
	struct outbox_batch *b;
	int64_t max_attempts;
};

static int record_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct record *r = arg;
	struct outbox_batch *b = r->b;
	for (int i = 0; i < b->n; i++) {
		const struct outbox_row *row = &b->rows[i];
		int64_t attempts = row->attempts + 1;
		bool given_up = row->out == OUTBOX_FAIL || (row->out == OUTBOX_RETRY && attempts >= r->max_attempts);
		int rc;
		if (row->out == OUTBOX_ABORT)
			rc = store_exec(tx, "UPDATE outbox SET claimed_until = 0 WHERE id = $1 AND done_at IS NULL",
					ARGS(SA_INT(row->id)), e);
		else if (row->out == OUTBOX_DONE)
			rc = store_exec(tx,
					"UPDATE outbox SET done_at = $1, attempts = $2, claimed_until = 0, last_error = NULL "
					"WHERE id = $3 AND done_at IS NULL",
					ARGS(SA_INT(b->now), SA_INT(attempts), SA_INT(row->id)), e);
		else
			rc = store_exec(tx,
					"UPDATE outbox SET attempts = $1, next_at = $2, claimed_until = 0, last_error = $3, "
					"done_at = $4 WHERE id = $5 AND done_at IS NULL",
					ARGS(SA_INT(attempts), SA_INT(b->now + backoff_us(attempts)), SA_TEXT(row->error),
					     given_up ? SA_INT(b->now) : SA_NULL, SA_INT(row->id)),
					e);
		if (rc < 0)
			return rc;
		/* rc == 0: recorded by someone else meanwhile, count it once */
		if (rc > 0 && row->out != OUTBOX_ABORT && r->k->recorded &&
		    (rc = r->k->recorded(tx, row, given_up, b->now, e)) < 0)
			return rc;
	}
	return 0;
}

int outbox_record(struct app *app, const struct outbox_kind *k, struct outbox_batch *b, struct err *e)
{
	struct record r = {k, b, app->cfg->outbox_max_attempts > 0 ? app->cfg->outbox_max_attempts : 1};
	return store_write(app->db, record_fn, &r, e);
}

/* ---- a pass ---- */

static bool cancelled(const int *cancel)
{
	return cancel && __atomic_load_n(cancel, __ATOMIC_ACQUIRE);
}

int outbox_pass(struct app *app, const struct outbox_kind *k, void *arg, int64_t now_us, const int *cancel,
		struct err *e)
{
	struct outbox_batch *b = calloc(1, sizeof *b);
	if (!b)
		abort();
	int64_t claimed_mono = time_mono_us(); /* the claim runs from now_us: measure from before it */
	int rc = outbox_claim(app, k, now_us, b, e);
	if (rc > 0) {
		for (int i = 0; i < b->n; i++) {
			struct outbox_row *row = &b->rows[i];
			/* the rest of a slow batch is released for the next round */
			bool late = time_mono_us() - claimed_mono > OUTBOX_CLAIM_S * US_PER_S - k->run_us;
			if (late || cancelled(cancel))
				row->out = OUTBOX_ABORT;
			else
				k->deliver(arg, row, cancel);
			if (row->out == OUTBOX_RETRY || row->out == OUTBOX_FAIL)
				log_warn("%s: outbox %lld %s (attempt %lld) %s: %s", k->kind, (long long)row->id,
					 row->dedupe, (long long)row->attempts + 1,
					 row->out == OUTBOX_FAIL ? "given up" : "failed", row->error);
		}
		rc = outbox_record(app, k, b, e);
		if (rc < 0)
			log_error("%s: recording %d deliveries failed (they will go again): %s", k->kind, b->n, e->msg);
	}
	int n = b->n;
	arena_free(&b->a);
	free(b);
	return rc < 0 ? rc : n;
}

/* ---- threads ---- */

struct outbox_workers {
	int stop; /* atomic: the passes' and deliveries' cancel flag */
	pthread_mutex_t mu;
	pthread_cond_t cv; /* CLOCK_MONOTONIC */
	const char *name;
	int idle_ms, nthreads;
	outbox_pass_fn pass;
	void *arg;
	pthread_t *threads;
};

bool outbox_workers_stopping(struct outbox_workers *w)
{
	return __atomic_load_n(&w->stop, __ATOMIC_ACQUIRE) != 0;
}

void outbox_workers_wait(struct outbox_workers *w, int64_t ms)
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
	while (!outbox_workers_stopping(w) && pthread_cond_timedwait(&w->cv, &w->mu, &ts) != ETIMEDOUT)
		;
	pthread_mutex_unlock(&w->mu);
}

static void *worker_main(void *arg)
{
	struct outbox_workers *w = arg;
	while (!outbox_workers_stopping(w)) {
		struct err e = {0};
		int n = w->pass(w->arg, time_now_us(), &w->stop, &e);
		if (n < 0) {
			log_warn("%s: claiming outbox rows failed: %s", w->name, e.msg);
			outbox_workers_wait(w, ERROR_WAIT_MS);
		} else if (n < OUTBOX_BATCH) {
			outbox_workers_wait(w, w->idle_ms);
		}
	}
	return NULL;
}

int outbox_workers_start(struct outbox_workers **out, const char *name, int nthreads, int idle_ms,
			 outbox_pass_fn pass, void *arg, struct err *e)
{
	struct outbox_workers *w = calloc(1, sizeof *w);
	if (!w)
		abort();
	w->name = name;
	w->idle_ms = idle_ms;
	w->pass = pass;
	w->arg = arg;
	pthread_mutex_init(&w->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->cv, &ca);
	pthread_condattr_destroy(&ca);
	w->threads = calloc((size_t)(nthreads > 0 ? nthreads : 1), sizeof *w->threads);
	if (!w->threads)
		abort();
	for (int i = 0; i < nthreads; i++) {
		int rc = pthread_create(&w->threads[i], NULL, worker_main, w);
		if (rc != 0) {
			outbox_workers_free(w);
			*out = NULL;
			return err_set(e, ERR_INTERNAL, "%s: cannot start a worker thread: %s", name, strerror(rc));
		}
		w->nthreads++;
	}
	*out = w;
	return 0;
}

void outbox_workers_stop(struct outbox_workers *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->mu);
	__atomic_store_n(&w->stop, 1, __ATOMIC_RELEASE);
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	for (int i = 0; i < w->nthreads; i++)
		pthread_join(w->threads[i], NULL);
	w->nthreads = 0;
}

void outbox_workers_free(struct outbox_workers *w)
{
	if (!w)
		return;
	outbox_workers_stop(w);
	free(w->threads);
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
	free(w);
}
