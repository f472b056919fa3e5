/* test_outbox.c: the outbox mechanism (outbox.h) with a test kind whose
 * deliveries follow a script, on a temporary SQLite app and again on
 * PostgreSQL when TINHSO_TEST_PG_URL names a throwaway database. Covers: a
 * claim takes due rows of its kind only, in id order, at most OUTBOX_BATCH,
 * and no row twice (also with claims at once from several threads); the
 * backoff grows 2^attempts s (up to 20% earlier) to its cap; a row is given
 * up after cfg->outbox_max_attempts and at once on a permanent failure, then
 * never claimed again; stopping releases the rows not delivered, without
 * counting an attempt (a single pass, a delivery in flight, the threads); a
 * claim that expires (a crash before the record) is taken again; an ordered
 * kind keeps one row per key in flight and the rest in order; the recorded
 * hook sees each outcome once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "base/time.h"
#include "outbox/outbox.h"
#include "store/store.h"
#include "support/testapp.h"

#define US INT64_C(1000000)

static bool use_pg;

/* ---- the test kind ---- */

struct script {
	enum outbox_outcome out; /* what every delivery answers */
	int *cancel_after;	 /* set after the first delivery (a stop arriving meanwhile) */
	bool wait_cancel;	 /* deliveries wait for the stop, then give up */
	int n;			 /* deliveries made */
	int64_t ids[64];
	int recorded, given_up;
};

static void deliver(void *arg, struct outbox_row *row, const int *cancel)
{
	struct script *s = arg;
	if (s->wait_cancel) {
		while (!__atomic_load_n(cancel, __ATOMIC_ACQUIRE))
			usleep(1000);
		row->out = OUTBOX_ABORT;
		return;
	}
	if (s->n < 64)
		s->ids[s->n] = row->id;
	s->n++;
	if (s->out == OUTBOX_DONE)
		row->out = OUTBOX_DONE;
	else
		outbox_error(row, s->out, "scripted failure %d", s->n);
	if (s->cancel_after)
		__atomic_store_n(s->cancel_after, 1, __ATOMIC_RELEASE);
}

static struct script *recording; /* the script the recorded hook counts into */

static int recorded(struct store_tx *tx, const struct outbox_row *row, bool given_up, int64_t now_us, struct err *e)
{
	recording->recorded++;
	recording->given_up += given_up;
	return 0;
}

static const struct outbox_kind plain = {.kind = "test", .run_us = 5 * US, .deliver = deliver, .recorded = recorded};

/* "<key>:<n>" -> key */
static char *key_of(struct arena *a, const char *dedupe)
{
	const char *colon = strrchr(dedupe, ':');
	return colon ? arena_strndup(a, dedupe, (size_t)(colon - dedupe)) : NULL;
}

static const struct outbox_kind ordered = {
	.kind = "test",
	.run_us = 5 * US,
	.deliver = deliver,
	.recorded = recorded,
	.key = key_of,
	.earlier_sql = "SELECT count(*) FROM outbox WHERE kind = 'test' AND done_at IS NULL AND id < $2 AND "
		       "dedupe LIKE CAST($1 AS TEXT) || ':%'",
};

/* ---- fixture ---- */

struct fx {
	struct testapp t;
	struct script s;
	int64_t now;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	assert_non_null(f);
	testapp_init(&f->t, "outbox", use_pg);
	testapp_set(&f->t, "outbox_max_attempts", "100");
	testapp_open(&f->t);
	f->now = time_now_us();
	recording = &f->s;
	*state = f;
	return 0;
}

static int64_t queue_kind(struct fx *f, const char *kind, const char *dedupe, int64_t next_at)
{
	testapp_exec(&f->t,
		     "INSERT INTO outbox (kind, channel, dedupe, payload, next_at, created_at) "
		     "VALUES ($1, 'test', $2, '{}', $3, 0)",
		     ARGS(SA_TEXT(kind), SA_TEXT(dedupe), SA_INT(next_at)));
	return testapp_int(&f->t, "SELECT id FROM outbox WHERE dedupe = $1", ARGS(SA_TEXT(dedupe)));
}

static int64_t queue(struct fx *f, const char *dedupe)
{
	return queue_kind(f, "test", dedupe, f->now);
}

/* n due rows "row-00", "row-01", ...: the id of the first (the others follow it). */
static int64_t queue_n(struct fx *f, int n)
{
	char d[32];
	int64_t first = 0;
	for (int i = 0; i < n; i++) {
		snprintf(d, sizeof d, "row-%02d", i);
		int64_t id = queue(f, d);
		if (i == 0)
			first = id;
		assert_int_equal(id, first + i);
	}
	return first;
}

/* A column of the row, -1 for NULL (the store wants SQL text that stays put: literals). */
static int64_t col(struct fx *f, const char *column, int64_t id)
{
	static const char *const sql[][2] = {
		{"attempts", "SELECT attempts FROM outbox WHERE id = $1"},
		{"next_at", "SELECT next_at FROM outbox WHERE id = $1"},
		{"claimed_until", "SELECT claimed_until FROM outbox WHERE id = $1"},
		{"done_at", "SELECT COALESCE(done_at, -1) FROM outbox WHERE id = $1"},
	};
	for (size_t i = 0; i < sizeof sql / sizeof sql[0]; i++)
		if (strcmp(sql[i][0], column) == 0)
			return testapp_int(&f->t, sql[i][1], ARGS(SA_INT(id)));
	fail_msg("no column %s", column);
	return 0;
}

static int pass(struct fx *f, const struct outbox_kind *k, int64_t now, const int *cancel)
{
	struct err e = {0};
	int n = outbox_pass(&f->t.app, k, &f->s, now, cancel, &e);
	if (n < 0)
		fail_msg("outbox_pass: %s", e.msg);
	return n;
}

static int claim(struct fx *f, const struct outbox_kind *k, int64_t now, struct outbox_batch *b)
{
	struct err e = {0};
	memset(b, 0, sizeof *b);
	int n = outbox_claim(&f->t.app, k, now, b, &e);
	if (n < 0)
		fail_msg("outbox_claim: %s", e.msg);
	return n;
}

/* ---- claims ---- */

static void test_claim_exclusive(void **state)
{
	struct fx *f = *state;
	int64_t first = queue_n(f, 20);
	int64_t other = queue_kind(f, "other", "other-1", f->now);
	int64_t later = queue_kind(f, "test", "later-1", f->now + 10 * US);
	int64_t done = queue(f, "done-1");
	testapp_exec(&f->t, "UPDATE outbox SET done_at = 1 WHERE id = $1", ARGS(SA_INT(done)));

	struct outbox_batch a, b, c;
	assert_int_equal(claim(f, &plain, f->now, &a), OUTBOX_BATCH);
	for (int i = 0; i < a.n; i++) { /* the oldest first */
		assert_int_equal(a.rows[i].id, first + i);
		assert_int_equal(a.rows[i].attempts, 0);
		assert_string_equal(a.rows[i].channel, "test");
		assert_string_equal(a.rows[i].payload, "{}");
		assert_null(a.rows[i].key);
		assert_int_equal(col(f, "claimed_until", a.rows[i].id), f->now + OUTBOX_CLAIM_S * US);
	}
	assert_int_equal(claim(f, &plain, f->now, &b), 4); /* the rest, none of a's */
	for (int i = 0; i < b.n; i++)
		assert_int_equal(b.rows[i].id, first + OUTBOX_BATCH + i);
	assert_int_equal(claim(f, &plain, f->now, &c), 0);
	assert_int_equal(col(f, "claimed_until", other), 0);
	assert_int_equal(col(f, "claimed_until", later), 0);
	assert_int_equal(col(f, "claimed_until", done), 0);
	arena_free(&a.a);
	arena_free(&b.a);
	arena_free(&c.a);
}

struct claimer {
	struct fx *f;
	struct outbox_batch b;
	int n;
};

static void *claimer_main(void *arg)
{
	struct claimer *c = arg;
	struct err e = {0};
	c->n = outbox_claim(&c->f->t.app, &plain, c->f->now, &c->b, &e);
	return NULL;
}

static void test_claims_at_once(void **state)
{
	struct fx *f = *state;
	int64_t first = queue_n(f, 40);
	struct claimer *c = calloc(4, sizeof *c);
	assert_non_null(c);
	pthread_t th[4];
	for (int i = 0; i < 4; i++) {
		c[i].f = f;
		assert_int_equal(pthread_create(&th[i], NULL, claimer_main, &c[i]), 0);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	bool seen[40] = {false};
	int total = 0;
	for (int i = 0; i < 4; i++) {
		assert_true(c[i].n >= 0 && c[i].n <= OUTBOX_BATCH);
		for (int j = 0; j < c[i].n; j++) {
			int64_t k = c[i].b.rows[j].id - first;
			assert_true(k >= 0 && k < 40);
			assert_false(seen[k]); /* no row claimed twice */
			seen[k] = true;
		}
		total += c[i].n;
		arena_free(&c[i].b.a);
	}
	assert_int_equal(total, 40);
	assert_int_equal(testapp_int(&f->t, "SELECT COUNT(*) FROM outbox WHERE claimed_until > 0", NOARGS), 40);
	free(c);
}

/* A claim not recorded (the worker died) keeps the row until it expires. */
static void test_claim_expires(void **state)
{
	struct fx *f = *state;
	int64_t id = queue(f, "crash-1");
	struct outbox_batch b;
	assert_int_equal(claim(f, &plain, f->now, &b), 1);
	arena_free(&b.a);
	assert_int_equal(claim(f, &plain, f->now + (OUTBOX_CLAIM_S - 1) * US, &b), 0);
	arena_free(&b.a);
	f->s.out = OUTBOX_DONE;
	assert_int_equal(pass(f, &plain, f->now + (OUTBOX_CLAIM_S + 1) * US, NULL), 1);
	assert_int_equal(f->s.n, 1);
	assert_int_equal(f->s.ids[0], id);
	assert_int_equal(col(f, "attempts", id), 1); /* the lost claim was not an attempt */
	assert_true(col(f, "done_at", id) > 0);
	assert_int_equal(col(f, "claimed_until", id), 0);
}

/* ---- outcomes ---- */

static void test_backoff_grows(void **state)
{
	struct fx *f = *state;
	int64_t id = queue(f, "flaky-1");
	f->s.out = OUTBOX_RETRY;
	int64_t t = f->now;
	for (int attempt = 1; attempt <= 14; attempt++) {
		assert_int_equal(pass(f, &plain, t, NULL), 1);
		assert_int_equal(col(f, "attempts", id), attempt);
		assert_int_equal(col(f, "done_at", id), -1);
		assert_int_equal(col(f, "claimed_until", id), 0);
		int64_t cap = attempt >= 12 ? OUTBOX_BACKOFF_CAP_S : INT64_C(1) << attempt;
		if (cap > OUTBOX_BACKOFF_CAP_S)
			cap = OUTBOX_BACKOFF_CAP_S;
		int64_t wait = col(f, "next_at", id) - t;
		assert_true(wait <= cap * US);
		assert_true(wait >= cap * US - cap * US / 5);
		char *err = testapp_text(&f->t, "SELECT last_error FROM outbox WHERE id = $1", ARGS(SA_INT(id)));
		assert_non_null(strstr(err, "scripted failure"));
		assert_int_equal(pass(f, &plain, t + wait - 1, NULL), 0); /* not due before next_at */
		t += wait;
	}
	assert_int_equal(f->s.n, 14);
	assert_int_equal(f->s.recorded, 14);
	assert_int_equal(f->s.given_up, 0);
	f->s.out = OUTBOX_DONE;
	assert_int_equal(pass(f, &plain, t, NULL), 1);
	assert_int_equal(col(f, "attempts", id), 15);
	assert_true(col(f, "done_at", id) > 0);
	assert_int_equal(testapp_int(&f->t, "SELECT COUNT(*) FROM outbox WHERE id = $1 AND last_error IS NULL",
				     ARGS(SA_INT(id))),
			 1);
}

static void test_give_up(void **state)
{
	struct fx *f = *state;
	testapp_set(&f->t, "outbox_max_attempts", "3");
	int64_t id = queue(f, "flaky-1");
	f->s.out = OUTBOX_RETRY;
	int64_t t = f->now, at = 0;
	for (int attempt = 1; attempt <= 3; attempt++) {
		at = t;
		assert_int_equal(pass(f, &plain, at, NULL), 1);
		assert_int_equal(col(f, "attempts", id), attempt);
		t = col(f, "next_at", id);
	}
	assert_int_equal(col(f, "done_at", id), at); /* given up at the third: done, the error kept */
	assert_int_equal(f->s.recorded, 3);
	assert_non_null(testapp_text(&f->t, "SELECT last_error FROM outbox WHERE id = $1", ARGS(SA_INT(id))));
	assert_int_equal(f->s.given_up, 1);
	assert_int_equal(pass(f, &plain, t + 365 * 86400 * US, NULL), 0); /* never again */

	/* a permanent failure gives up at once */
	int64_t now_id = queue(f, "refused-1");
	f->s.out = OUTBOX_FAIL;
	assert_int_equal(pass(f, &plain, f->now, NULL), 1);
	assert_int_equal(col(f, "attempts", now_id), 1);
	assert_true(col(f, "done_at", now_id) > 0);
	assert_int_equal(f->s.given_up, 2);
	assert_int_equal(pass(f, &plain, t + 365 * 86400 * US, NULL), 0);
}

/* The recorded hook runs once per outcome: not for a row done meanwhile. */
static void test_recorded_once(void **state)
{
	struct fx *f = *state;
	int64_t a = queue(f, "a-1"), b = queue(f, "b-1");
	struct outbox_batch batch;
	assert_int_equal(claim(f, &plain, f->now, &batch), 2);
	testapp_exec(&f->t, "UPDATE outbox SET done_at = 5, attempts = 9 WHERE id = $1", ARGS(SA_INT(a)));
	batch.rows[0].out = OUTBOX_DONE;
	outbox_error(&batch.rows[1], OUTBOX_RETRY, "later");
	struct err e = {0};
	assert_int_equal(outbox_record(&f->t.app, &plain, &batch, &e), 0);
	arena_free(&batch.a);
	assert_int_equal(f->s.recorded, 1);
	assert_int_equal(col(f, "done_at", a), 5); /* left as someone else recorded it */
	assert_int_equal(col(f, "attempts", a), 9);
	assert_int_equal(col(f, "attempts", b), 1);
}

/* ---- stopping ---- */

static void test_release_on_stop(void **state)
{
	struct fx *f = *state;
	int64_t ids[3] = {queue(f, "s-1"), queue(f, "s-2"), queue(f, "s-3")};
	/* stopping before the pass: nothing is tried, every claim released */
	int stop = 1;
	assert_int_equal(pass(f, &plain, f->now, &stop), 3);
	assert_int_equal(f->s.n, 0);
	assert_int_equal(f->s.recorded, 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(col(f, "attempts", ids[i]), 0);
		assert_int_equal(col(f, "claimed_until", ids[i]), 0);
		assert_int_equal(col(f, "done_at", ids[i]), -1);
	}
	/* a stop during the first delivery: that one is recorded, the rest released */
	stop = 0;
	f->s.out = OUTBOX_DONE;
	f->s.cancel_after = &stop;
	assert_int_equal(pass(f, &plain, f->now, &stop), 3);
	assert_int_equal(f->s.n, 1);
	assert_true(col(f, "done_at", ids[0]) > 0);
	for (int i = 1; i < 3; i++) {
		assert_int_equal(col(f, "attempts", ids[i]), 0);
		assert_int_equal(col(f, "claimed_until", ids[i]), 0);
	}
	/* released rows go at once in the next pass */
	f->s.cancel_after = NULL;
	assert_int_equal(pass(f, &plain, f->now, NULL), 2);
	assert_int_equal(testapp_int(&f->t, "SELECT COUNT(*) FROM outbox WHERE done_at IS NULL", NOARGS), 0);
}

/* A delivery starts only while the claim has room for its longest run. */
static void test_claim_too_short(void **state)
{
	struct fx *f = *state;
	int64_t id = queue(f, "slow-1");
	struct outbox_kind slow = plain;
	slow.run_us = OUTBOX_CLAIM_S * US + 1;
	assert_int_equal(pass(f, &slow, f->now, NULL), 1);
	assert_int_equal(f->s.n, 0);
	assert_int_equal(col(f, "claimed_until", id), 0);
	assert_int_equal(col(f, "attempts", id), 0);
}

static int workers_pass(void *arg, int64_t now_us, const int *cancel, struct err *e)
{
	struct fx *f = arg;
	return outbox_pass(&f->t.app, &plain, &f->s, now_us, cancel, e);
}

/* The threads: a delivery in flight at the stop gives up and its row is released. */
static void test_workers_stop(void **state)
{
	struct fx *f = *state;
	int64_t id = queue(f, "w-1");
	f->s.wait_cancel = true;
	struct outbox_workers *w;
	struct err e = {0};
	assert_int_equal(outbox_workers_start(&w, "test", 2, 50, workers_pass, f, &e), 0);
	for (int i = 0; i < 500 && col(f, "claimed_until", id) == 0; i++)
		usleep(10000);
	assert_true(col(f, "claimed_until", id) > 0); /* claimed, its delivery waiting */
	assert_false(outbox_workers_stopping(w));
	outbox_workers_stop(w);
	assert_true(outbox_workers_stopping(w));
	outbox_workers_wait(w, 60000); /* returns at once once stopped */
	assert_int_equal(col(f, "claimed_until", id), 0);
	assert_int_equal(col(f, "attempts", id), 0);
	assert_int_equal(col(f, "done_at", id), -1);
	outbox_workers_stop(w); /* twice is harmless */
	outbox_workers_free(w);
	outbox_workers_free(NULL);

	/* and the rows go once the threads run freely */
	f->s.wait_cancel = false;
	f->s.out = OUTBOX_DONE;
	assert_int_equal(outbox_workers_start(&w, "test", 1, 50, workers_pass, f, &e), 0);
	for (int i = 0; i < 500 && col(f, "done_at", id) == -1; i++)
		usleep(10000);
	outbox_workers_free(w);
	assert_true(col(f, "done_at", id) > 0);
}

/* ---- order ---- */

static void test_ordered(void **state)
{
	struct fx *f = *state;
	int64_t a1 = queue(f, "A:1"), a2 = queue(f, "A:2"), b1 = queue(f, "B:1"), a3 = queue(f, "A:3");
	int64_t bad = queue(f, "no-key");
	struct outbox_batch b;
	assert_int_equal(claim(f, &ordered, f->now, &b), 2); /* one per key; a row without a key waits */
	assert_int_equal(b.rows[0].id, a1);
	assert_string_equal(b.rows[0].key, "A");
	assert_int_equal(b.rows[1].id, b1);
	assert_string_equal(b.rows[1].key, "B");
	/* A:1 fails for now, B:1 goes */
	outbox_error(&b.rows[0], OUTBOX_RETRY, "later");
	b.rows[1].out = OUTBOX_DONE;
	struct err e = {0};
	assert_int_equal(outbox_record(&f->t.app, &ordered, &b, &e), 0);
	arena_free(&b.a);
	/* A:2 and A:3 wait while A:1 waits on its backoff */
	assert_int_equal(claim(f, &ordered, f->now, &b), 0);
	arena_free(&b.a);
	int64_t t = col(f, "next_at", a1);
	f->s.out = OUTBOX_DONE;
	for (int i = 0; i < 3; i++) /* then one after the other */
		assert_int_equal(pass(f, &ordered, t, NULL), 1);
	assert_int_equal(pass(f, &ordered, t, NULL), 0);
	assert_int_equal(f->s.n, 3);
	assert_int_equal(f->s.ids[0], a1);
	assert_int_equal(f->s.ids[1], a2);
	assert_int_equal(f->s.ids[2], a3);
	assert_int_equal(col(f, "claimed_until", bad), 0);
	assert_int_equal(col(f, "done_at", bad), -1);
	/* the same rows without the order go together */
	testapp_exec(&f->t, "UPDATE outbox SET done_at = NULL WHERE kind = 'test'", NOARGS);
	assert_int_equal(claim(f, &plain, t, &b), 5);
	arena_free(&b.a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_claim_exclusive, setup, testapp_teardown),
		cmocka_unit_test_setup_teardown(test_claims_at_once, setup, testapp_teardown),
		cmocka_unit_test_setup_teardown(test_claim_expires, setup, testapp_teardown),
		cmocka_unit_test_setup_teardown(test_backoff_grows, setup, testapp_teardown),
		cmocka_unit_test_setup_teardown(test_give_up, setup, testapp_teardown),
		cmocka_unit_test_setup_teardown(test_recorded_once, setup, testapp_teardown),
		cmocka_unit_test_setup_teardown(test_release_on_stop, setup, testapp_teardown),
		cmocka_unit_test_setup_teardown(test_claim_too_short, setup, testapp_teardown),
		cmocka_unit_test_setup_teardown(test_workers_stop, setup, testapp_teardown),
		cmocka_unit_test_setup_teardown(test_ordered, setup, testapp_teardown),
	};
	log_level = LOG_OFF;
	int failed = cmocka_run_group_tests_name("outbox on SQLite", tests, NULL, NULL);
	if (testapp_pg_url()) {
		use_pg = true;
		failed += cmocka_run_group_tests_name("outbox on PostgreSQL", tests, NULL, NULL);
	} else {
		printf("TINHSO_TEST_PG_URL is not set: the PostgreSQL run is skipped\n");
	}
	return failed;
}
