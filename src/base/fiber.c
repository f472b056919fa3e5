/* fiber.c: fibers (see fiber.h). Each has an mmap'ed stack with a guard page
 * below it, so an overflow faults instead of corrupting memory; finished
 * fibers' stacks are kept in a small cache for the next ones. Under
 * AddressSanitizer every switch is announced to it.
 *
 * Switching: on x86-64 a dozen instructions (fiber_switch below) save the
 * callee-saved registers on the stack being left and load them from the other
 * one. Elsewhere, ucontext: its swapcontext also saves and restores the signal
 * mask, one system call per switch (five per HTTP write), which fibers never
 * change. */
#include "base/fiber.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
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
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
enum { FIBER_STACK = 2 << 20 }; /* instrumented frames are larger */
#else
enum { FIBER_STACK = 512 << 10 };
#endif
enum { FIBER_CACHE = 64 };

#if defined(__x86_64__)
#define FIBER_ASM 1
#endif

struct fiber {
#ifdef FIBER_ASM
	void *sp, *owner_sp; /* saved stack pointers: the fiber's, its owner's */
#else
	ucontext_t ctx, owner;
#endif
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

#ifdef FIBER_ASM
/* fiber_switch(save, to): x86-64 System V. Pushes the callee-saved registers,
 * MXCSR and the x87 control word, stores the stack pointer in *save, takes
 * `to` as the stack pointer and pops the same from it; its `ret` returns into
 * the code that switched away from that stack, or, the first time, into
 * trampoline (ctx_init lays out that first frame). */
void tinhso_fiber_switch(void **save, void *to) __attribute__((visibility("hidden")));
__asm__(".text\n"
	".globl tinhso_fiber_switch\n"
	".hidden tinhso_fiber_switch\n"
	".type tinhso_fiber_switch, @function\n"
	"tinhso_fiber_switch:\n"
	"\tpushq %rbp\n"
	"\tpushq %rbx\n"
	"\tpushq %r12\n"
	"\tpushq %r13\n"
	"\tpushq %r14\n"
	"\tpushq %r15\n"
	"\tsubq $8, %rsp\n"
	"\tstmxcsr (%rsp)\n"
	"\tfnstcw 4(%rsp)\n"
	"\tmovq %rsp, (%rdi)\n"
	"\tmovq %rsi, %rsp\n"
	"\tldmxcsr (%rsp)\n"
	"\tfldcw 4(%rsp)\n"
	"\taddq $8, %rsp\n"
	"\tpopq %r15\n"
	"\tpopq %r14\n"
	"\tpopq %r13\n"
	"\tpopq %r12\n"
	"\tpopq %rbx\n"
	"\tpopq %rbp\n"
	"\tret\n"
	".size tinhso_fiber_switch, .-tinhso_fiber_switch\n"
	".section .note.GNU-stack,\"\",@progbits\n"
	".text\n");
#endif

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
#ifdef FIBER_ASM
	void *gone;
	tinhso_fiber_switch(&gone, f->owner_sp);
#else
	setcontext(&f->owner);
#endif
}

/* The fiber's first frame: the first switch into it enters trampoline. */
static void ctx_init(struct fiber *f)
{
	char *bottom = f->map + page_size(), *top = f->map + f->map_size;
#ifdef FIBER_ASAN
	/* a stack from the cache keeps the poisoned redzones of the frames its
	 * last fiber left when it switched away for good */
	__asan_unpoison_memory_region(bottom, (size_t)(top - bottom));
#endif
#ifdef FIBER_ASM
	(void)bottom;
	uint64_t *sp = (uint64_t *)((uintptr_t)top & ~(uintptr_t)15);
	*--sp = 0;				  /* trampoline's return address: it never returns */
	*--sp = (uint64_t)(uintptr_t)trampoline; /* where fiber_switch's ret goes */
	for (int i = 0; i < 6; i++)
		*--sp = 0; /* rbp rbx r12 r13 r14 r15 */
	*--sp = 0x037F00001F80ull; /* MXCSR 0x1F80 and x87 control word 0x037F: the defaults */
	f->sp = sp;
#else
	getcontext(&f->ctx);
	f->ctx.uc_stack.ss_sp = bottom;
	f->ctx.uc_stack.ss_size = (size_t)(top - bottom);
	f->ctx.uc_link = NULL;
	makecontext(&f->ctx, trampoline, 0);
#endif
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
		ctx_init(f);
		f->started = true;
	}
	struct fiber *outer = current;
	current = f;
#ifdef FIBER_ASAN
	__sanitizer_start_switch_fiber(&f->fake_owner, f->map + page_size(), f->map_size - page_size());
#endif
#ifdef FIBER_ASM
	tinhso_fiber_switch(&f->owner_sp, f->sp);
#else
	swapcontext(&f->owner, &f->ctx);
#endif
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
#ifdef FIBER_ASM
	tinhso_fiber_switch(&f->sp, f->owner_sp);
#else
	swapcontext(&f->ctx, &f->owner);
#endif
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
