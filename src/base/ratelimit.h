/* ratelimit.h: a fixed-window counter per key (a client address), bounded in
 * memory, for public endpoints that must not be used to enumerate (lookup). */
#ifndef TINHSO_RATELIMIT_H
#define TINHSO_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

struct ratelimit;

/* At most limit hits per key in each window of window_s seconds. */
struct ratelimit *ratelimit_new(int limit, int window_s);
void ratelimit_free(struct ratelimit *rl);
/* Counts a hit; false when over the limit, with *retry_after seconds to wait. */
bool ratelimit_hit(struct ratelimit *rl, const char *key, int64_t now_s, int *retry_after);

#endif
