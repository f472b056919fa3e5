/* fiber.c: fibers on ucontext (see fiber.h). Each has an mmap'ed stack with a
 * guard page below it, so an overflow faults instead of corrupting memory;
 * finished fibers' stacks are kept in a small cache for the next ones. Under
 * AddressSanitizer every switch is announced to it. */
#include "base/fiber.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define FIBER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FIBER_ASAN 1
#endif
#endif

#ifdef FIBER_ASAN
#include <sanitizer/common_interface_defs.h>
enum { FIBER_STACK = 2 << 20 }; /* instrumented frames are larger */
#else
enum { FIBER_STACK = 512 << 10 };
#endif
enum { FIBER_CACHE = 64 };

struct fiber {
	ucontext_t ctx, owner;
	char *map; /* the mapping: guard page, then the stack */
	size_t map_size;
	fiber_fn fn;
	void *arg;
	fiber_pause_hook pause;
	fiber_hook wake;
	void *hook_arg;
	atomic_bool woken;
	bool started, finished;
#ifdef FIBER_ASAN
	void *fake_owner, *fake_fiber;
	const void *owner_bottom;
	size_t owner_size;
#endif
};

static _Thread_local struct fiber *current;

static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;
static char *cache[FIBER_CACHE];
static int ncache;

static size_t page_size(void)
{
	long p = sysconf(_SC_PAGESIZE);
	return p > 0 ? (size_t)p : 4096;
}

static char *stack_get(size_t *size)
{
	*size = FIBER_STACK + page_size();
	pthread_mutex_lock(&cache_mu);
	char *m = ncache ? cache[--ncache] : NULL;
	pthread_mutex_unlock(&cache_mu);
	if (m)
		return m;
	m = mmap(NULL, *size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
	if (m == MAP_FAILED)
		return NULL;
	if (mprotect(m, page_size(), PROT_NONE) != 0) {
		munmap(m, *size);
		return NULL;
	}
	return m;
}

static void stack_put(char *m, size_t size)
{
	pthread_mutex_lock(&cache_mu);
	if (ncache < FIBER_CACHE) {
		cache[ncache++] = m;
		m = NULL;
	}
	pthread_mutex_unlock(&cache_mu);
	if (m)
		munmap(m, size);
}

/* Called inside the fiber right after each switch into it. */
static void entered(struct fiber *f)
{
#ifdef FIBER_ASAN
	__sanitizer_finish_switch_fiber(f->fake_fiber, &f->owner_bottom, &f->owner_size);
#else
	(void)f;
#endif
}

static void trampoline(void)
{
	struct fiber *f = current;
	entered(f);
	f->fn(f->arg);
	f->finished = true;
#ifdef FIBER_ASAN
	__sanitizer_start_switch_fiber(NULL, f->owner_bottom, f->owner_size); /* this fiber's frames are gone */
#endif
	setcontext(&f->owner);
}

struct fiber *fiber_new(fiber_fn fn, void *arg, fiber_pause_hook pause, fiber_hook wake, void *hook_arg)
{
	struct fiber *f = calloc(1, sizeof *f);
	if (!f)
		return NULL;
	f->map = stack_get(&f->map_size);
	if (!f->map) {
		free(f);
		return NULL;
	}
	f->fn = fn;
	f->arg = arg;
	f->pause = pause;
	f->wake = wake;
	f->hook_arg = hook_arg;
	return f;
}

bool fiber_run(struct fiber *f)
{
	if (!f->started) {
		getcontext(&f->ctx);
		f->ctx.uc_stack.ss_sp = f->map + page_size();
		f->ctx.uc_stack.ss_size = f->map_size - page_size();
		f->ctx.uc_link = NULL;
		makecontext(&f->ctx, trampoline, 0);
		f->started = true;
	}
	struct fiber *outer = current;
	current = f;
#ifdef FIBER_ASAN
	__sanitizer_start_switch_fiber(&f->fake_owner, f->map + page_size(), f->map_size - page_size());
#endif
	swapcontext(&f->owner, &f->ctx);
#ifdef FIBER_ASAN
	__sanitizer_finish_switch_fiber(f->fake_owner, NULL, NULL);
#endif
	current = outer;
	return f->finished;
}

bool fiber_woken(struct fiber *f)
{
	return atomic_load(&f->woken);
}
void fiber_free(struct fiber *f)
{
	if (!f)
		return;
	stack_put(f->map, f->map_size);
	free(f);
}

struct fiber *fiber_self(void)
{
	return current;
}

bool fiber_pause_begin(struct fiber *f)
{
	atomic_store(&f->woken, false);
	return f->pause(f->hook_arg);
}

void fiber_yield(struct fiber *f)
{
#ifdef FIBER_ASAN
	__sanitizer_start_switch_fiber(&f->fake_fiber, f->owner_bottom, f->owner_size);
#endif
	swapcontext(&f->ctx, &f->owner);
	entered(f);
}

void fiber_wake(struct fiber *f)
{
	/* the wake hook lets the owner run f again, which may then finish and be
	 * freed: nothing here touches f after it */
	fiber_hook wake = f->wake;
	void *arg = f->hook_arg;
	atomic_store(&f->woken, true);
	wake(arg);
}
