/* app.c: opening and closing what a running tinhso shares. */
#include "app/app.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/log.h"
#include "base/time.h"
#include "base/ratelimit.h"
#include "calendar/calendar_store.h"
#include "identity/identity.h"

static void mkdir_parent(const char *path)
{
	const char *slash = strrchr(path, '/');
	if (!slash || slash == path)
		return;
	char dir[4096];
	size_t n = (size_t)(slash - path);
	if (n >= sizeof dir)
		return;
	memcpy(dir, path, n);
	dir[n] = 0;
	mkdir(dir, 0750);
}

int app_open(struct app *app, struct config *cfg, bool need_keys, struct err *e)
{
	memset(app, 0, sizeof *app);
	app->cfg = cfg;
	app->started_us = time_now_us();
	int lvl = log_level_parse(cfg->log_level);
	if (lvl < 0)
		return err_set(e, ERR_CONFIG, "log_level: '%s' is not one of debug, info, warn, error, off",
			       cfg->log_level);
	log_level = lvl;
	int rc = crypto_init(e);
	if (rc < 0)
		return rc;
	app->nlevels = config_levels(cfg, app->levels, APP_MAX_LEVELS);
	if (app->nlevels < 1)
		return err_set(e, ERR_CONFIG, "levels: at least one administrative level is needed");
	app->pw.ops = (uint64_t)cfg->argon2_ops;
	app->pw.mem_bytes = (size_t)cfg->argon2_mem_kib * 1024;
	if (need_keys) {
		rc = keys_load(&app->keys, cfg->data, e);
		if (rc < 0)
			return rc;
	}
	if (strncmp(cfg->db, "sqlite:", 7) == 0)
		mkdir_parent(cfg->db + 7);
	struct store_options so = {
		.pool_size = (int)cfg->db_pool, .busy_timeout_ms = 5000, .batch_max = (int)cfg->batch_max};
	rc = store_open(&app->db, cfg->db, &so, e);
	if (rc < 0)
		return rc;
	rc = store_migrate(app->db, e);
	if (rc < 0) {
		store_close(app->db);
		app->db = NULL;
		return rc;
	}
	identity_app_init(app);
	if ((rc = calendar_store_load(app, e)) < 0) {
		store_close(app->db);
		app->db = NULL;
		return rc;
	}
	app->lookup_limit = ratelimit_new((int)cfg->lookup_per_minute, 60);
	return 0;
}

void app_close(struct app *app)
{
	identity_app_release(app);
	calendar_store_release(app);
	ratelimit_free(app->lookup_limit);
	app->lookup_limit = NULL;
	free(atomic_exchange(&app->bound_url, NULL));
	store_close(app->db);
	app->db = NULL;
}

bool app_level_valid(const struct app *app, const char *level, int *idx)
{
	for (int i = 0; i < app->nlevels; i++)
		if (strcmp(app->levels[i], level) == 0) {
			if (idx)
				*idx = i;
			return true;
		}
	return false;
}

const char *app_public_url(struct app *app, struct arena *a)
{
	if (app->cfg->public_url[0]) {
		size_t n = strlen(app->cfg->public_url);
		while (n && app->cfg->public_url[n - 1] == '/')
			n--;
		return arena_strndup(a, app->cfg->public_url, n);
	}
	char *bound = atomic_load(&app->bound_url);
	if (bound)
		return arena_strdup(a, bound);
	return arena_printf(a, "http://%s", app->cfg->listen);
}
