/* app.h: what a running tinhso shares (struct app: settings, database, keys)
 * and what every domain call carries (struct ctx: who is acting, in which
 * request, with which arena). Pages, the JSON API and the CLI all build a ctx
 * and call the same domain functions with it. */
#ifndef TINHSO_APP_H
#define TINHSO_APP_H

#include <stdbool.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/config.h"
#include "crypto/crypto.h"
#include "store/store.h"

struct principal;
struct login_throttle;

enum { APP_MAX_LEVELS = 8 };

struct app {
	struct config *cfg;
	struct store *db;
	struct keys keys;
	struct pwhash_params pw;
	char levels[APP_MAX_LEVELS][32]; /* administrative levels, top first */
	int nlevels;
	struct login_throttle *throttle; /* identity's login slow-down state */
	void *session_cache;		 /* identity's session cache */
	struct calendar_holder *calendar; /* calendar_store's current calendar */
	struct notify_state *notify;	 /* notify's workers */
	struct exchange_state *exchange; /* LGSP: registry cache, replay cache, log writer, delivery */
	struct ratelimit *lookup_limit;	 /* public lookups per client address */
	char *_Atomic bound_url;	 /* serve: http://host:port actually bound, when public_url is unset */
	int64_t started_us;
};

struct ctx {
	struct app *app;
	struct arena *a;		 /* for anything returned to the caller */
	const struct principal *who;	 /* NULL for anonymous callers */
	const char *actor;		 /* audit actor: "user:12:nguyenvana", "cli:root", "system" */
	const char *request_id;		 /* NULL outside HTTP */
	const char *client_ip;		 /* NULL outside HTTP */
};

/* Opens the store and migrates, loads keys, fills the app from cfg. */
int app_open(struct app *app, struct config *cfg, bool need_keys, struct err *e);
void app_close(struct app *app);
/* The base URL the public reaches the portal at (cfg public_url, else the
 * address serve bound, else http://listen). */
const char *app_public_url(struct app *app, struct arena *a);
/* True when level is one of the configured levels; its index in *idx (0 = top). */
bool app_level_valid(const struct app *app, const char *level, int *idx);

#endif
