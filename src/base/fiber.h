/* fiber.h: fibers: a function run on a stack of its own, which can pause while
 * it waits for another thread and be resumed later, so the thread that runs it
 * serves others meanwhile. The HTTP layer runs write handlers in fibers on its
 * event threads, and the SQLite writer wakes them when their commit is durable:
 * no thread hand-off per request, only one per committed group.
 *
 * The owner (the code calling fiber_run) gives two hooks: pause, called by the
 * fiber on its way out (it must make sure the fiber is run again only after
 * its wake; HTTP suspends the connection), or refusing (the waiter then blocks
 * its thread instead; HTTP refuses while it shuts down), and wake, called by
 * whoever ends the wait (HTTP resumes the connection, and its event thread
 * calls fiber_run).
 *
 * A waiter inside a fiber does, in this order:
 *   if (fiber_pause_begin(f)) {  the pause hook agreed: nothing runs f meanwhile
 *       ... hand f to the thread that will call fiber_wake(f) ...
 *       fiber_yield(f);          back to the owner; returns once woken and re-run
 *   } else { ... wait blocking the thread ... }
 * Inside a fiber never wait for a condition that another fiber must signal:
 * both may belong to the same thread, which would wait forever. */
#ifndef TINHSO_FIBER_H
#define TINHSO_FIBER_H

#include <stdbool.h>

struct fiber;

typedef void (*fiber_fn)(void *arg);
typedef void (*fiber_hook)(void *arg);
typedef bool (*fiber_pause_hook)(void *arg);

/* A new fiber that will run fn(arg); NULL when no stack can be had (the
 * caller runs fn some other way). */
struct fiber *fiber_new(fiber_fn fn, void *arg, fiber_pause_hook pause, fiber_hook wake, void *hook_arg);

/* Runs f on the calling thread until fn returns (true) or f yields (false).
 * Call it again only after f was woken: fiber_woken(f). */
bool fiber_run(struct fiber *f);
bool fiber_woken(struct fiber *f);

/* Frees a finished fiber (its stack goes back to a cache). */
void fiber_free(struct fiber *f);

/* The fiber running on this thread, NULL outside fibers. */
struct fiber *fiber_self(void);

bool fiber_pause_begin(struct fiber *f);
void fiber_yield(struct fiber *f);
/* Any thread, once per pause, possibly before f has yielded. The wake hook
 * must be the last thing to touch f and the owner's data: once it has let the
 * owner run f again, f may finish and be freed. */
void fiber_wake(struct fiber *f);

#endif
