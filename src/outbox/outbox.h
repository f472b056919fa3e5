/* outbox.h: delivering the rows of the outbox table: work to do outside the
 * database (notifications, the national portal's sync), queued in the
 * transaction of the change that caused it.
 *
 * A pass claims a batch of due rows of one kind in one transaction
 * (done_at IS NULL, next_at <= now, claimed_until < now; claimed_until is then
 * set OUTBOX_CLAIM_S ahead, which keeps other workers and nodes off them; on
 * PostgreSQL the select also skips rows another node has locked), delivers
 * each outside any transaction, and records the outcomes in another:
 *   OUTBOX_DONE   done_at set, attempts + 1, last_error cleared;
 *   OUTBOX_RETRY  attempts + 1, next_at = now + min(2^attempts s, 1 h) minus up
 *                 to 20% (workers spread out), last_error kept; given up
 *                 (done_at set) once attempts reaches cfg->outbox_max_attempts;
 *   OUTBOX_FAIL   given up at once (a permanent refusal);
 *   OUTBOX_ABORT  not tried (stopping, or too little of the claim left): the
 *                 claim is released and the attempt not counted.
 * A crash between a delivery and its record delivers the row again once its
 * claim has expired: each kind's receivers must tolerate a repeat (the row's
 * dedupe key travels with it for that). A kind may ask for order: rows with
 * the same ordering key go one at a time, in id order. */
#ifndef TINHSO_OUTBOX_H
#define TINHSO_OUTBOX_H

#include <stdbool.h>
#include <stdint.h>

#include "app/app.h"
#include "base/arena.h"
#include "store/store.h"

enum {
	OUTBOX_BATCH = 16,	/* rows claimed by one pass at most */
	OUTBOX_CANDIDATES = 64, /* rows looked at by one pass of an ordered kind */
	OUTBOX_CLAIM_S = 60,	/* a claimed row is left alone this long */
	OUTBOX_BACKOFF_CAP_S = 3600,
};

enum outbox_outcome { OUTBOX_DONE, OUTBOX_RETRY, OUTBOX_FAIL, OUTBOX_ABORT };

struct outbox_row {
	int64_t id, attempts;		  /* attempts made before this one */
	char *channel, *dedupe, *payload; /* in the batch's arena */
	char *key;			  /* the ordering key (ordered kinds), else NULL */
	enum outbox_outcome out;	  /* set by the delivery; OUTBOX_DONE when it sets nothing */
	char error[400];		  /* why, with OUTBOX_RETRY and OUTBOX_FAIL */
};

/* Sets row->out and row->error. */
void outbox_error(struct outbox_row *row, enum outbox_outcome out, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

struct outbox_kind {
	const char *kind; /* the rows' kind ('notify', 'sync'); also names it in the log */
	/* The longest one delivery can take: a delivery starts only while the claim
	 * has that much time left, so no other worker takes the row meanwhile. */
	int64_t run_us;
	/* Delivers one row, outside any transaction: sets row->out (outbox_error).
	 * cancel (NULL in single passes) becomes non-zero when the workers stop: a
	 * delivery in flight should then give up with OUTBOX_ABORT. */
	void (*deliver)(void *arg, struct outbox_row *row, const int *cancel);
	/* Optional order: key gives a row's ordering key (in a), or NULL for a row
	 * to leave alone; earlier_sql counts the rows of the kind not yet done with
	 * key $1 and an id below $2. A row is claimed only when that count is 0 and
	 * no earlier row of its key is among the candidates. */
	char *(*key)(struct arena *a, const char *dedupe);
	const char *earlier_sql;
	/* Optional: called in the transaction that records a row's outcome (not for
	 * OUTBOX_ABORT, nor when another worker recorded it first); given_up when
	 * the row is done without success. */
	int (*recorded)(struct store_tx *tx, const struct outbox_row *row, bool given_up, int64_t now_us,
			struct err *e);
};

struct outbox_batch {
	struct arena a;
	int64_t now;
	int n;
	struct outbox_row rows[OUTBOX_BATCH];
};

/* Claims up to OUTBOX_BATCH due rows of k->kind at now_us into b (after a read
 * that finds none due, without a write transaction). Returns b->n, or the
 * store's error. Free b->a when done. */
int outbox_claim(struct app *app, const struct outbox_kind *k, int64_t now_us, struct outbox_batch *b,
		 struct err *e);
/* Records the outcome of each claimed row (row->out) in one transaction, as
 * the comment at the top says, at b->now. A row done meanwhile is left as it
 * is. Returns 0 or the store's error (the rows then go again after their claim). */
int outbox_record(struct app *app, const struct outbox_kind *k, struct outbox_batch *b, struct err *e);

/* One pass: claim, deliver each row (OUTBOX_ABORT for the rest once cancel is
 * set or the claim runs short), record. Returns the number of rows claimed. */
int outbox_pass(struct app *app, const struct outbox_kind *k, void *arg, int64_t now_us, const int *cancel,
		struct err *e);

/* ---- worker threads ---- */

/* Threads that run pass in a loop (pass returns the rows it claimed, or an
 * error: the thread then waits 5 s; fewer than OUTBOX_BATCH: idle_ms) until
 * outbox_workers_stop. cancel is the flag the passes and their deliveries
 * watch. nthreads may be 0 (no threads, the stop signal alone). */
typedef int (*outbox_pass_fn)(void *arg, int64_t now_us, const int *cancel, struct err *e);
struct outbox_workers;
int outbox_workers_start(struct outbox_workers **out, const char *name, int nthreads, int idle_ms,
			 outbox_pass_fn pass, void *arg, struct err *e);
/* Sleeps up to ms, or until outbox_workers_stop (for companion threads). */
void outbox_workers_wait(struct outbox_workers *w, int64_t ms);
bool outbox_workers_stopping(struct outbox_workers *w);
/* Sets the stop flag, wakes every waiter and joins the pass threads (a pass in
 * flight releases its rows). Companion threads still waiting return at once.
 * Safe twice, and with NULL. */
void outbox_workers_stop(struct outbox_workers *w);
/* Stops (if need be) and frees. NULL is fine. */
void outbox_workers_free(struct outbox_workers *w);

#endif
