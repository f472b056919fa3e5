/* sync_worker.c: pushing the 'sync' rows of the outbox to the National Public
 * Service Portal, in order per dossier, with retries (see sync.h).
 *
 * The rows are claimed, retried and given up by outbox.h, ordered by dossier:
 * a row is claimed only when no earlier row of its dossier is still undone
 * (one that waits on its backoff or is claimed elsewhere holds the later ones
 * back). Each outcome updates the dossier's sync state in the transaction that
 * records it. Several nodes may run workers on one PostgreSQL: the claim keeps
 * each row, and so each dossier's next row, with one of them. */
#include "sync/sync.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/json.h"
#include "base/log.h"
#include "base/time.h"
#include "national/national.h"
#include "outbox/outbox.h"

enum { IDLE_WAIT_MS = 300 };

#define US_PER_S INT64_C(1000000)

/* One app per process in practice; tests open several in turn. */
static pthread_mutex_t workers_mu = PTHREAD_MUTEX_INITIALIZER;
static struct outbox_workers *workers;
static struct app *workers_app;

/* "<code>:<step id>" -> the dossier's code (in a), the ordering key */
static char *dossier_of(struct arena *a, const char *dedupe)
{
	const char *colon = strrchr(dedupe, ':');
	return colon ? arena_strndup(a, dedupe, (size_t)(colon - dedupe)) : NULL;
}

/* The dossier's sync state after a row's outcome was recorded. */
static int recorded(struct store_tx *tx, const struct outbox_row *it, bool given_up, int64_t now, struct err *e)
{
	if (it->out == OUTBOX_DONE) {
		int64_t step_id = strtoll(strrchr(it->dedupe, ':') + 1, NULL, 10);
		return store_exec(tx,
				  "UPDATE dossier_sync SET pushed = pushed + 1, "
				  "pushed_step_id = CASE WHEN pushed_step_id < $2 THEN $2 ELSE pushed_step_id END, "
				  "attempts = attempts + 1, last_attempt_at = $3, synced_at = $3, updated_at = $3, "
				  "last_error = CASE WHEN failed > 0 THEN last_error ELSE NULL END, "
				  "status = CASE WHEN failed > 0 THEN 'failed' WHEN pushed + 1 + failed >= queued "
				  "THEN 'ok' ELSE 'pending' END WHERE dossier_code = $1",
				  ARGS(SA_TEXT(it->key), SA_INT(step_id), SA_INT(now)), e);
	}
	if (given_up)
		return store_exec(tx,
				  "UPDATE dossier_sync SET failed = failed + 1, attempts = attempts + 1, "
				  "last_error = $2, last_attempt_at = $3, updated_at = $3, status = 'failed' "
				  "WHERE dossier_code = $1",
				  ARGS(SA_TEXT(it->key), SA_TEXT(it->error), SA_INT(now)), e);
	return store_exec(tx,
			  "UPDATE dossier_sync SET attempts = attempts + 1, last_error = $2, "
			  "last_attempt_at = $3, updated_at = $3, "
			  "status = CASE WHEN failed > 0 THEN 'failed' ELSE 'pending' END WHERE dossier_code = $1",
			  ARGS(SA_TEXT(it->key), SA_TEXT(it->error), SA_INT(now)), e);
}

/* ---- one push ---- */

/* Removes control characters from a peer's text before it goes into a message. */
static void clean(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20)
			*s = ' ';
}

/* One call of the portal's API; true when it accepted (error_code 0). */
static bool call_service(const struct ctx *c, struct outbox_row *it, const char *service, bool updating, json_t *data,
			 const int *cancel)
{
	char *item = json_dumps(data, JSON_COMPACT);
	if (!item) {
		outbox_error(it, OUTBOX_FAIL, "%s: the queued data is not JSON", service);
		return false;
	}
	struct buf b = BUF_INIT;
	struct jw w;
	jw_init(&w, &b);
	jw_obj(&w);
	jw_kstr(&w, "service", service);
	jw_kstr(&w, "MaDongBo", it->dedupe);
	jw_kbool(&w, "isUpdating", updating);
	jw_key(&w, "data");
	jw_arr(&w);
	jw_raw(&w, item, strlen(item));
	jw_arr_end(&w);
	jw_obj_end(&w);
	free(item);
	const char *subject = json_string_value(json_object_get(data, "MaDoiTuong"));
	struct national_request rq = {
		.method = "POST",
		.path = "api/dongbo",
		.body = b.ptr,
		.body_len = b.len,
		.purpose = "Đồng bộ hồ sơ thủ tục hành chính lên Cổng Dịch vụ công quốc gia",
		.subject = subject && subject[0] ? subject : NULL,
		.cancel = cancel,
	};
	struct national_response res;
	struct err e = {0};
	int rc = national_call(c, NATIONAL_DVCQG, &rq, &res, &e);
	buf_free(&b);
	if (rc < 0) {
		if (cancel && __atomic_load_n(cancel, __ATOMIC_ACQUIRE))
			it->out = OUTBOX_ABORT;
		else
			outbox_error(it, OUTBOX_RETRY, "%s: %s", service, e.msg);
		return false;
	}
	json_t *j = json_loads(res.body ? res.body : "", 0, NULL);
	json_t *code = json_object_get(j, "error_code");
	const char *msg = json_string_value(json_object_get(j, "message"));
	bool ok_code = (json_is_integer(code) && json_integer_value(code) == 0) ||
		       (json_is_string(code) && (strcmp(json_string_value(code), "0") == 0 ||
						 strcmp(json_string_value(code), "00") == 0));
	char excerpt[240];
	snprintf(excerpt, sizeof excerpt, "%s", msg ? msg : res.body ? res.body : "");
	clean(excerpt);
	bool ok = false;
	if (res.status >= 200 && res.status <= 299 && ok_code)
		ok = true;
	else if (res.status == 408 || res.status == 429 || res.status >= 500)
		outbox_error(it, OUTBOX_RETRY, "%s: the portal answered HTTP %d: %s", service, res.status, excerpt);
	else if (res.status >= 200 && res.status <= 299)
		outbox_error(it, OUTBOX_FAIL, "%s: the portal refused it (error_code %s): %s", service,
			     json_is_integer(code) ? "non-zero" : json_is_string(code) ? json_string_value(code) : "missing",
			     excerpt);
	else
		outbox_error(it, OUTBOX_FAIL, "%s: the portal refused it (HTTP %d): %s", service, res.status, excerpt);
	json_decref(j);
	return ok;
}

static void push(void *arg, struct outbox_row *it, const int *cancel)
{
	struct app *app = arg;
	json_t *p = json_loads(it->payload, 0, NULL);
	json_t *hoso = json_object_get(p, "hoso"), *tiendo = json_object_get(p, "tiendo");
	if (!json_is_object(hoso) || !json_is_object(tiendo)) {
		outbox_error(it, OUTBOX_FAIL, "the queued payload has no hoso and tiendo");
		json_decref(p);
		return;
	}
	bool updating = json_is_true(json_object_get(p, "updating"));
	struct arena a = ARENA_INIT;
	struct ctx c = {.app = app, .a = &a, .actor = "system:dvcqg-sync"};
	it->out = OUTBOX_DONE;
	if (call_service(&c, it, "DongBoHoSoMC", updating, hoso, cancel))
		call_service(&c, it, "CapNhatTienDoHoSoMC", true, tiendo, cancel);
	arena_free(&a);
	json_decref(p);
}

static int push_batch(void *arg, int64_t now_us, const int *cancel, struct err *e)
{
	struct app *app = arg;
	struct arena probe = ARENA_INIT;
	bool configured = national_base(app->cfg, NATIONAL_DVCQG, &probe) != NULL;
	arena_free(&probe);
	if (!configured)
		return 0;
	const struct outbox_kind k = {
		.kind = "sync",
		.run_us = 2 * app->cfg->national_timeout_ms * 1000 + 5 * US_PER_S, /* two calls */
		.deliver = push,
		.key = dossier_of,
		.earlier_sql = "SELECT count(*) FROM dossier_steps s JOIN outbox o ON o.dedupe = s.dossier_code || "
			       "':' || CAST(s.id AS TEXT) WHERE s.dossier_code = $1 AND o.kind = 'sync' AND "
			       "o.done_at IS NULL AND o.id < $2",
		.recorded = recorded,
	};
	return outbox_pass(app, &k, app, now_us, cancel, e);
}

int sync_push_batch(struct app *app, int64_t now_us, struct err *e)
{
	return push_batch(app, now_us, NULL, e);
}

/* ---- the thread ---- */

int sync_start(struct app *app, struct err *e)
{
	if (strcmp(app->cfg->national_via, "gateway") == 0) {
		/* the national systems answer through the LGSP: make sure they are on it */
		struct err re = {0};
		int made = national_register(app, &re);
		if (made < 0)
			log_warn("national: registering the national systems on the LGSP failed: %s", re.msg);
		else if (made > 0)
			log_info("national: %d registry entries created for the national systems on the LGSP", made);
	}
	pthread_mutex_lock(&workers_mu);
	if (workers) {
		pthread_mutex_unlock(&workers_mu);
		return err_set(e, ERR_INTERNAL, "sync: already started");
	}
	int rc = outbox_workers_start(&workers, "sync", 1, IDLE_WAIT_MS, push_batch, app, e);
	if (rc == 0)
		workers_app = app;
	pthread_mutex_unlock(&workers_mu);
	if (rc < 0)
		return rc;
	struct arena a = ARENA_INIT;
	char *base = national_base(app->cfg, NATIONAL_DVCQG, &a);
	log_info("sync: pushing dossiers to the national portal at %s", base ? base : "(none configured: queued only)");
	arena_free(&a);
	return 0;
}

void sync_stop(struct app *app)
{
	pthread_mutex_lock(&workers_mu);
	struct outbox_workers *w = workers_app == app ? workers : NULL;
	if (w) {
		workers = NULL;
		workers_app = NULL;
	}
	pthread_mutex_unlock(&workers_mu);
	outbox_workers_free(w);
}
