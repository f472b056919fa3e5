/* maintenance.c: see maintenance.h. */
#include "app/maintenance.h"

#include <pthread.h>
#include <stdbool.h>
#include <time.h>

#include "base/log.h"
#include "base/time.h"
#include "identity/identity.h"

enum { MAINTENANCE_EVERY_S = 300 };

static pthread_t thread;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static bool running, stopping;

struct idem_ctx {
	int64_t before, deleted;
};

static int idem_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct idem_ctx *x = arg;
	int rc = store_exec(tx, "DELETE FROM idempotency WHERE created_at < $1", ARGS(SA_INT(x->before)), e);
	if (rc < 0)
		return rc;
	x->deleted = rc;
	return 0;
}

int maintenance_run(struct app *app, struct err *e)
{
	int64_t sessions = 0;
	int rc = identity_sessions_purge(app, &sessions, e);
	if (rc < 0)
		return rc;
	/* a retried submission comes within minutes; a day is generous */
	struct idem_ctx x = {time_now_us() - 86400LL * 1000000, 0};
	rc = store_write(app->db, idem_fn, &x, e);
	if (rc < 0)
		return rc;
	if (sessions || x.deleted)
		log_info("maintenance: %lld expired sessions and %lld old idempotency keys deleted", (long long)sessions,
			 (long long)x.deleted);
	return (int)(sessions + x.deleted);
}

static void *maintenance_main(void *arg)
{
	struct app *app = arg;
	pthread_mutex_lock(&mu);
	while (!stopping) {
		pthread_mutex_unlock(&mu);
		struct err e = {0};
		if (maintenance_run(app, &e) < 0)
			log_warn("maintenance pass failed: %s", e.msg);
		pthread_mutex_lock(&mu);
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += MAINTENANCE_EVERY_S;
		while (!stopping && pthread_cond_timedwait(&cv, &mu, &until) == 0)
			;
	}
	pthread_mutex_unlock(&mu);
	return NULL;
}

int maintenance_start(struct app *app, struct err *e)
{
	pthread_mutex_lock(&mu);
	stopping = false;
	int rc = running ? 0 : pthread_create(&thread, NULL, maintenance_main, app);
	if (rc == 0)
		running = true;
	pthread_mutex_unlock(&mu);
	return rc == 0 ? 0 : err_set(e, ERR_INTERNAL, "cannot start the maintenance thread");
}

void maintenance_stop(struct app *app)
{
	(void)app;
	pthread_mutex_lock(&mu);
	if (!running) {
		pthread_mutex_unlock(&mu);
		return;
	}
	stopping = true;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
	pthread_join(thread, NULL);
	running = false;
}
