/* test_fiber.c: fibers (base/fiber.h): run to the end, pause and resume from
 * another thread, many interleaved on one thread, deep stacks, and the
 * registers and floating-point state each side keeps across switches. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <fenv.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>

#include "base/fiber.h"

/* ---- the owner's hooks, as HTTP's: pause agrees, wake records it ---- */

struct owner {
	atomic_int wakes;
	bool refuse;
};

static bool on_pause(void *arg)
{
	struct owner *o = arg;
	return !o->refuse;
}

static void on_wake(void *arg)
{
	struct owner *o = arg;
	atomic_fetch_add(&o->wakes, 1);
}

/* Pauses the running fiber and has it woken at once (by this thread, as the
 * SQLite writer does from its own: a wake may come before the yield). */
static void pause_here(void)
{
	struct fiber *f = fiber_self();
	assert_non_null(f);
	if (fiber_pause_begin(f)) {
		fiber_wake(f);
		fiber_yield(f);
	}
}

/* ---- run to the end ---- */

static void fn_sum(void *arg)
{
	int *v = arg;
	for (int i = 1; i <= 100; i++)
		*v += i;
}

static void test_run_to_end(void **state)
{
	(void)state;
	struct owner o = {0};
	int v = 0;
	struct fiber *f = fiber_new(fn_sum, &v, on_pause, on_wake, &o);
	assert_non_null(f);
	assert_null(fiber_self());
	assert_true(fiber_run(f));
	assert_int_equal(v, 5050);
	assert_null(fiber_self());
	fiber_free(f);
}

/* ---- pause, wake from another thread, resume ---- */

struct waiter {
	struct fiber *f;
	int step;
	double x; /* kept in registers and on the fiber's stack across the pause */
};

static void *waker_main(void *arg)
{
	fiber_wake(arg);
	return NULL;
}

static void fn_wait(void *arg)
{
	struct waiter *w = arg;
	double x = 1.5;
	long regs[6] = {11, 22, 33, 44, 55, 66};
	for (w->step = 1; w->step <= 3; w->step++) {
		struct fiber *f = fiber_self();
		assert_true(fiber_pause_begin(f));
		pthread_t t;
		assert_int_equal(pthread_create(&t, NULL, waker_main, f), 0);
		pthread_detach(t);
		fiber_yield(f);
		x *= 2;
		for (int i = 0; i < 6; i++)
			regs[i] += i;
	}
	w->x = x + (double)(regs[0] + regs[5]); /* 12 + (11 + 81) */
}

static void test_pause_and_wake(void **state)
{
	(void)state;
	struct owner o = {0};
	struct waiter w = {0};
	struct fiber *f = fiber_new(fn_wait, &w, on_pause, on_wake, &o);
	assert_non_null(f);
	w.f = f;
	int runs = 1;
	/* the owner's own callee-saved state must survive the fiber's switches */
	volatile long mine = 12345;
	double owner_x = 0.25;
	while (!fiber_run(f)) {
		while (!fiber_woken(f))
			sched_yield();
		owner_x *= 3;
		runs++;
	}
	assert_int_equal(runs, 4);
	assert_int_equal(atomic_load(&o.wakes), 3);
	assert_true(w.x == 12.0 + 92.0);
	assert_int_equal(mine, 12345);
	assert_true(owner_x == 0.25 * 27);
	fiber_free(f);
}

/* ---- a refused pause: the waiter does not yield ---- */

static void fn_refused(void *arg)
{
	int *v = arg;
	struct fiber *f = fiber_self();
	*v = fiber_pause_begin(f) ? 1 : 2;
}

static void test_pause_refused(void **state)
{
	(void)state;
	struct owner o = {.refuse = true};
	int v = 0;
	struct fiber *f = fiber_new(fn_refused, &v, on_pause, on_wake, &o);
	assert_true(fiber_run(f));
	assert_int_equal(v, 2);
	fiber_free(f);
}

/* ---- many fibers interleaved on one thread ---- */

enum { MANY = 50, ROUNDS = 20 };

struct counter {
	int id;
	uint64_t acc;
};

static void fn_count(void *arg)
{
	struct counter *c = arg;
	uint64_t local = (uint64_t)c->id;
	for (int r = 0; r < ROUNDS; r++) {
		local = local * 31 + (uint64_t)r;
		pause_here();
	}
	c->acc = local;
}

static void test_many_interleaved(void **state)
{
	(void)state;
	struct owner o = {0};
	struct counter c[MANY];
	struct fiber *f[MANY];
	for (int i = 0; i < MANY; i++) {
		c[i] = (struct counter){i, 0};
		f[i] = fiber_new(fn_count, &c[i], on_pause, on_wake, &o);
		assert_non_null(f[i]);
	}
	int done = 0, guard = 0;
	bool finished[MANY] = {0};
	while (done < MANY && guard++ < MANY * (ROUNDS + 2)) {
		for (int i = 0; i < MANY; i++)
			if (!finished[i] && fiber_run(f[i])) {
				finished[i] = true;
				done++;
			}
	}
	assert_int_equal(done, MANY);
	for (int i = 0; i < MANY; i++) {
		uint64_t want = (uint64_t)i;
		for (int r = 0; r < ROUNDS; r++)
			want = want * 31 + (uint64_t)r;
		assert_true(c[i].acc == want);
		fiber_free(f[i]);
	}
	assert_int_equal(atomic_load(&o.wakes), MANY * ROUNDS);
}

/* ---- a deep stack: 256 KiB of frames, with a pause at the bottom ---- */

static int deep(int n)
{
	volatile unsigned char pad[1024];
	memset((char *)pad, n & 0xff, sizeof pad);
	if (n == 0) {
		pause_here();
		return pad[0];
	}
	return deep(n - 1) + pad[10] - (n & 0xff) + 1;
}

static void fn_deep(void *arg)
{
	int *v = arg;
	*v = deep(256);
}

static void test_deep_stack(void **state)
{
	(void)state;
	struct owner o = {0};
	int v = -1;
	struct fiber *f = fiber_new(fn_deep, &v, on_pause, on_wake, &o);
	assert_false(fiber_run(f));
	assert_true(fiber_run(f));
	assert_int_equal(v, 256);
	fiber_free(f);
}

/* ---- floating-point control state stays with each side ---- */

static void fn_round(void *arg)
{
	int *seen = arg;
	assert_int_equal(fesetround(FE_UPWARD), 0);
	pause_here();
	seen[0] = fegetround();
	volatile double a = 1.0, b = 3.0;
	volatile double q = a / b;
	seen[1] = q * 3.0 > 1.0; /* rounded up */
}

static void test_float_state(void **state)
{
	(void)state;
	struct owner o = {0};
	int seen[2] = {0, 0};
	assert_int_equal(fegetround(), FE_TONEAREST);
	struct fiber *f = fiber_new(fn_round, seen, on_pause, on_wake, &o);
	assert_false(fiber_run(f));
	assert_int_equal(fegetround(), FE_TONEAREST); /* the fiber's mode did not leak out */
	assert_true(fiber_run(f));
	assert_int_equal(seen[0], FE_UPWARD); /* and came back with it */
	assert_int_equal(seen[1], 1);
	assert_int_equal(fegetround(), FE_TONEAREST);
	fiber_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_run_to_end),	       cmocka_unit_test(test_pause_and_wake),
	    cmocka_unit_test(test_pause_refused),      cmocka_unit_test(test_many_interleaved),
	    cmocka_unit_test(test_deep_stack),	       cmocka_unit_test(test_float_state),
	};
	return cmocka_run_group_tests_name("fiber", tests, NULL, NULL);
}
