/* ratelimit.c: open-addressing table of (key hash, window start, count); a
 * full table evicts the oldest window, so memory stays bounded. */
#include "base/ratelimit.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

enum { RL_SLOTS = 8192 };

struct rl_slot {
	uint64_t h;
	int64_t start;
	int count;
};

struct ratelimit {
	pthread_mutex_t mu;
	int limit, window;
	struct rl_slot slots[RL_SLOTS];
};

static uint64_t fnv(const char *s)
{
	uint64_t h = 1469598103934665603ULL;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h ? h : 1;
}

struct ratelimit *ratelimit_new(int limit, int window_s)
{
	struct ratelimit *rl = calloc(1, sizeof *rl);
	if (!rl)
		abort();
	pthread_mutex_init(&rl->mu, NULL);
	rl->limit = limit;
	rl->window = window_s;
	return rl;
}

void ratelimit_free(struct ratelimit *rl)
{
	if (!rl)
		return;
	pthread_mutex_destroy(&rl->mu);
	free(rl);
}

bool ratelimit_hit(struct ratelimit *rl, const char *key, int64_t now, int *retry_after)
{
	uint64_t h = fnv(key);
	pthread_mutex_lock(&rl->mu);
	struct rl_slot *victim = NULL, *slot = NULL;
	for (int i = 0; i < 16; i++) {
		struct rl_slot *s = &rl->slots[(h + (uint64_t)i) % RL_SLOTS];
		if (s->h == h) {
			slot = s;
			break;
		}
		if (!victim || s->h == 0 || s->start < victim->start)
			victim = s;
		if (s->h == 0)
			break;
	}
	if (!slot) {
		slot = victim;
		slot->h = h;
		slot->start = now;
		slot->count = 0;
	}
	if (now - slot->start >= rl->window) {
		slot->start = now;
		slot->count = 0;
	}
	bool ok = ++slot->count <= rl->limit;
	if (!ok && retry_after)
		*retry_after = (int)(slot->start + rl->window - now);
	if (retry_after && *retry_after < 1)
		*retry_after = 1;
	pthread_mutex_unlock(&rl->mu);
	return ok;
}
