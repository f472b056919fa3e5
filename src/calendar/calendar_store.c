/* calendar_store.c: the calendar_days table (public holidays and
 * compensatory working days), the app's current calendar built from it and
 * shared between threads, admin changes (audited) and the demo holidays. */
#include "calendar/calendar_store.h"

#include <pthread.h>
#include <string.h>

#include "audit/audit.h"
#include "base/embed.h"
#include "base/json.h"
#include "base/log.h"
#include "base/text.h"
#include "base/time.h"
#include "identity/identity.h"

enum { RETRY_AFTER_FAILURE_US = 5 * 1000000 };

struct calendar_holder {
	pthread_mutex_t mu;	 /* guards cal, loaded_us, failed_us */
	pthread_mutex_t load_mu; /* one load at a time */
	struct calendar cal;
	int64_t loaded_us; /* time_mono_us of the last load; 0 = never loaded */
	int64_t failed_us; /* time_mono_us of the last failed load; 0 = none */
	int64_t (*clock)(void);
};

/* creating an app's holder races only with itself */
static pthread_mutex_t holders_mu = PTHREAD_MUTEX_INITIALIZER;

static struct calendar_holder *holder(struct app *app)
{
	pthread_mutex_lock(&holders_mu);
	struct calendar_holder *h = app->calendar;
	if (!h) {
		h = calloc(1, sizeof *h);
		if (!h)
			abort();
		pthread_mutex_init(&h->mu, NULL);
		pthread_mutex_init(&h->load_mu, NULL);
		calendar_init_default(&h->cal);
		h->clock = time_mono_us;
		app->calendar = h;
	}
	pthread_mutex_unlock(&holders_mu);
	return h;
}

const char *calendar_kind_name(enum calendar_kind k)
{
	return k == CALENDAR_WORKDAY ? "workday" : k == CALENDAR_HOLIDAY ? "holiday" : "unknown";
}

static struct calendar *calendar_new(void)
{
	struct calendar *c = malloc(sizeof *c);
	if (!c)
		abort();
	calendar_init_default(c);
	return c;
}

/* Builds cal from the table's rows, through calendar_load_json so that the
 * years with rows are known to the calendar (announced when all their rows are). */
static int build_tx(struct store_tx *tx, struct calendar *cal, struct err *e)
{
	struct store_q *q;
	int rc = store_query(tx, "SELECT day, kind, name_vi, name_en, announced FROM calendar_days ORDER BY day",
			     NOARGS, &q, e);
	struct buf doc = BUF_INIT;
	struct jw w;
	jw_init(&w, &doc);
	jw_obj(&w);
	jw_key(&w, "years");
	jw_arr(&w);
	int year = 0;
	bool announced = true;
	while (rc == 0 && (rc = store_step(q, e)) == 1) {
		int32_t day = (int32_t)store_int(q, 0);
		int y;
		unsigned m, d;
		civil_from_days(day, &y, &m, &d);
		if (y != year) {
			if (year) {
				jw_arr_end(&w);
				jw_kbool(&w, "announced", announced);
				jw_obj_end(&w);
			}
			year = y;
			announced = true;
			jw_obj(&w);
			jw_kint(&w, "year", y);
			jw_key(&w, "dates");
			jw_arr(&w);
		}
		char date[16];
		date_fmt(day, date, sizeof date);
		jw_obj(&w);
		jw_kstr(&w, "date", date);
		jw_kstr(&w, "kind", store_text(q, 1));
		jw_kstr(&w, "name_vi", store_text(q, 2));
		jw_kstr(&w, "name_en", store_text(q, 3));
		jw_obj_end(&w);
		announced = announced && store_int(q, 4) != 0;
		rc = 0;
	}
	store_done(q);
	if (year) {
		jw_arr_end(&w);
		jw_kbool(&w, "announced", announced);
		jw_obj_end(&w);
	}
	jw_arr_end(&w);
	jw_obj_end(&w);
	if (rc == 0) {
		calendar_init_default(cal);
		struct err sub;
		err_clear(&sub);
		rc = calendar_load_json(cal, doc.ptr, doc.len, &sub);
		if (rc < 0) {
			const char *what = sub.nfields ? sub.fields[0].name : "";
			rc = err_set(e, rc == ERR_TOO_LARGE ? ERR_TOO_LARGE : ERR_INTERNAL,
				     "the calendar_days rows do not make a valid calendar: %s%s%s", what,
				     *what ? ": " : "", sub.nfields ? sub.fields[0].msg : sub.msg);
		}
	}
	buf_free(&doc);
	return rc;
}

static int build_fn(struct store_tx *tx, void *arg, struct err *e)
{
	return build_tx(tx, arg, e);
}

/* With h->load_mu held. */
static int load_locked(struct app *app, struct calendar_holder *h, struct err *e)
{
	struct calendar *tmp = calendar_new();
	int rc = store_read(app->db, build_fn, tmp, e);
	pthread_mutex_lock(&h->mu);
	if (rc == 0) {
		memcpy(&h->cal, tmp, sizeof *tmp);
		h->loaded_us = h->clock();
		h->failed_us = 0;
	} else {
		h->failed_us = h->clock();
	}
	pthread_mutex_unlock(&h->mu);
	free(tmp);
	return rc;
}

int calendar_store_load(struct app *app, struct err *e)
{
	struct calendar_holder *h = holder(app);
	pthread_mutex_lock(&h->load_mu);
	int rc = load_locked(app, h, e);
	pthread_mutex_unlock(&h->load_mu);
	return rc;
}

static bool needs_load(struct calendar_holder *h, int64_t now)
{
	pthread_mutex_lock(&h->mu);
	bool stale = h->loaded_us == 0 || now - h->loaded_us > (int64_t)CALENDAR_RELOAD_S * 1000000;
	bool may_try = h->failed_us == 0 || now - h->failed_us > RETRY_AFTER_FAILURE_US;
	pthread_mutex_unlock(&h->mu);
	return stale && may_try;
}

void calendar_current(struct app *app, struct calendar *out)
{
	struct calendar_holder *h = holder(app);
	if (needs_load(h, h->clock())) {
		/* the first load is waited for; later ones are done by one thread while the others use the last */
		pthread_mutex_lock(&h->mu);
		bool never = h->loaded_us == 0;
		pthread_mutex_unlock(&h->mu);
		bool got = never ? pthread_mutex_lock(&h->load_mu) == 0 : pthread_mutex_trylock(&h->load_mu) == 0;
		if (got) {
			if (needs_load(h, h->clock())) {
				struct err e;
				err_clear(&e);
				if (load_locked(app, h, &e) < 0)
					log_warn("calendar: cannot load the holidays, using the last calendar: %s",
						 e.msg);
			}
			pthread_mutex_unlock(&h->load_mu);
		}
	}
	pthread_mutex_lock(&h->mu);
	memcpy(out, &h->cal, sizeof *out);
	pthread_mutex_unlock(&h->mu);
}

void calendar_store_set_clock(struct app *app, int64_t (*mono_us)(void))
{
	struct calendar_holder *h = holder(app);
	pthread_mutex_lock(&h->mu);
	h->clock = mono_us ? mono_us : time_mono_us;
	h->loaded_us = h->failed_us = 0; /* ages on the old clock mean nothing: load again on next use */
	pthread_mutex_unlock(&h->mu);
}

void calendar_store_release(struct app *app)
{
	struct calendar_holder *h = app->calendar;
	if (!h)
		return;
	pthread_mutex_destroy(&h->mu);
	pthread_mutex_destroy(&h->load_mu);
	free(h);
	app->calendar = NULL;
}

static void reload_after_change(struct app *app)
{
	struct err e;
	err_clear(&e);
	if (calendar_store_load(app, &e) < 0)
		log_warn("calendar: changed, but reloading failed (retried later): %s", e.msg);
}

static int require_admin(const struct ctx *c, struct err *e)
{
	if (!c->who)
		return err_set(e, ERR_UNAUTHENTICATED, "log in as an administrator");
	if (c->who->role != ROLE_ADMIN)
		return err_set(e, ERR_FORBIDDEN, "only administrators may change the calendar");
	return 0;
}

void calendar_day_json(struct jw *w, const struct calendar_day *d)
{
	char date[16];
	date_fmt(d->day, date, sizeof date);
	jw_obj(w);
	jw_kstr(w, "date", date);
	jw_kstr(w, "kind", calendar_kind_name(d->kind));
	jw_kstr(w, "name_vi", d->name_vi);
	jw_kstr(w, "name_en", d->name_en);
	jw_kbool(w, "announced", d->announced);
	jw_obj_end(w);
}

static char *day_doc(struct arena *a, const struct calendar_day *d)
{
	struct buf b = BUF_INIT;
	struct jw w;
	jw_init(&w, &b);
	calendar_day_json(&w, d);
	char *s = arena_strdup(a, buf_cstr(&b));
	buf_free(&b);
	return s;
}

/* ---- demo ---- */

struct demo_ctx {
	const struct ctx *c;
	struct calendar_day *days;
	int n;
	int added;
};

static int demo_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct demo_ctx *d = arg;
	d->added = 0;
	struct buf doc = BUF_INIT;
	struct jw w;
	jw_init(&w, &doc);
	jw_obj(&w);
	jw_key(&w, "added");
	jw_arr(&w);
	int rc = 0;
	for (int i = 0; i < d->n && rc >= 0; i++) {
		const struct calendar_day *x = &d->days[i];
		rc = store_exec(
		    tx,
		    "INSERT INTO calendar_days (day, kind, name_vi, name_en, announced) VALUES ($1, $2, $3, $4, "
		    "$5) ON CONFLICT (day) DO NOTHING",
		    ARGS(SA_INT(x->day), SA_TEXT(calendar_kind_name(x->kind)), SA_TEXT(x->name_vi), SA_TEXT(x->name_en),
			 SA_BOOL(x->announced)),
		    e);
		if (rc == 1) {
			char date[16];
			date_fmt(x->day, date, sizeof date);
			jw_str(&w, date);
			d->added++;
		}
	}
	jw_arr_end(&w);
	jw_obj_end(&w);
	if (rc >= 0 && d->added)
		rc = audit_append(tx, d->c, "calendar.demo_load", "calendar:*", doc.ptr, e);
	buf_free(&doc);
	return rc < 0 ? rc : 0;
}

int calendar_load_demo(const struct ctx *c, struct err *e)
{
	int rc = require_admin(c, e);
	if (rc < 0)
		return rc;
	const struct embedded_file *f = embed_find(embedded_demo, "holidays.json");
	if (!f)
		return err_set(e, ERR_INTERNAL, "demo data holidays.json is not built in");
	/* the calendar's own loader is the judge of the file */
	struct calendar *check = calendar_new();
	rc = calendar_load_json(check, f->data, f->len, e);
	free(check);
	if (rc < 0)
		return err_set(e, ERR_INTERNAL, "demo data holidays.json: %s", e->msg);
	json_t *root;
	if ((rc = json_parse(f->data, f->len, &root, e)) < 0)
		return rc;
	json_t *years = json_object_get(root, "years"), *y, *dt;
	size_t i, k, n = 0;
	json_array_foreach(years, i, y) n += json_array_size(json_object_get(y, "dates"));
	struct demo_ctx d = {c, arena_alloc(c->a, sizeof *d.days * (n ? n : 1)), 0, 0};
	json_array_foreach(years, i, y)
	{
		bool announced = json_is_true(json_object_get(y, "announced"));
		json_array_foreach(json_object_get(y, "dates"), k, dt)
		{
			struct calendar_day *x = &d.days[d.n++];
			date_parse(json_string_value(json_object_get(dt, "date")), &x->day);
			const char *kind = json_string_value(json_object_get(dt, "kind"));
			x->kind = kind && strcmp(kind, "workday") == 0 ? CALENDAR_WORKDAY : CALENDAR_HOLIDAY;
			x->name_vi = arena_strdup(c->a, json_string_value(json_object_get(dt, "name_vi")));
			x->name_en = arena_strdup(c->a, json_string_value(json_object_get(dt, "name_en")));
			x->announced = announced;
		}
	}
	json_decref(root);
	if ((rc = store_write(c->app->db, demo_fn, &d, e)) < 0)
		return rc;
	if ((rc = calendar_store_load(c->app, e)) < 0)
		return rc;
	return d.added;
}

/* ---- admin changes ---- */

static bool parse_date(const char *s, int32_t *day)
{
	return s && strlen(s) == 10 && date_parse(s, day) && *day >= days_from_civil(1900, 1, 1) &&
	       *day <= days_from_civil(9999, 12, 31);
}

static int weekday_of(int32_t day) /* Monday 0 .. Sunday 6; 1970-01-01 was a Thursday */
{
	return (int)(((int64_t)day % 7 + 7 + 3) % 7);
}

struct day_ctx {
	const struct ctx *c;
	struct calendar_day *d;
	const char *date;
};

static int add_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct day_ctx *x = arg;
	const struct calendar_day *d = x->d;
	char *kind = NULL;
	int rc = store_get_text(tx, "SELECT kind FROM calendar_days WHERE day = $1", ARGS(SA_INT(d->day)), x->c->a,
				&kind, e);
	if (rc < 0)
		return rc;
	if (rc == 1)
		return err_set(e, ERR_CONFLICT, "%s is already marked (%s); delete that mark first", x->date, kind);
	rc =
	    store_exec(tx,
		       "INSERT INTO calendar_days (day, kind, name_vi, name_en, announced) VALUES ($1, $2, $3, $4, $5) "
		       "ON CONFLICT (day) DO NOTHING",
		       ARGS(SA_INT(d->day), SA_TEXT(calendar_kind_name(d->kind)), SA_TEXT(d->name_vi),
			    SA_TEXT(d->name_en), SA_BOOL(d->announced)),
		       e);
	if (rc < 0)
		return rc;
	if (rc == 0)
		return err_set(e, ERR_CONFLICT, "%s was marked meanwhile", x->date);
	/* the table must still make a calendar (at most CALENDAR_MAX_MARKS dates ...) */
	struct calendar *tmp = calendar_new();
	rc = build_tx(tx, tmp, e);
	free(tmp);
	if (rc < 0)
		return rc;
	return audit_append(tx, x->c, "calendar.day_add", arena_printf(x->c->a, "calendar:%s", x->date),
			    day_doc(x->c->a, d), e);
}

int calendar_day_add(const struct ctx *c, const char *date, const char *kind, const char *name_vi, const char *name_en,
		     bool announced, struct calendar_day *out, struct err *e)
{
	int rc = require_admin(c, e);
	if (rc < 0)
		return rc;
	struct calendar_day d = {0};
	bool date_ok = parse_date(date, &d.day);
	if (!date_ok)
		err_field(e, "date", "must be a date YYYY-MM-DD");
	if (kind && strcmp(kind, "holiday") == 0)
		d.kind = CALENDAR_HOLIDAY;
	else if (kind && strcmp(kind, "workday") == 0)
		d.kind = CALENDAR_WORKDAY;
	else
		err_field(e, "kind", "must be holiday or workday");
	if (!name_vi || !text_valid(name_vi, CALENDAR_MAX_NAME))
		err_field(e, "name_vi", "is required: 1 to %d bytes of text", CALENDAR_MAX_NAME);
	if (!name_en || !text_valid(name_en, CALENDAR_MAX_NAME))
		err_field(e, "name_en", "is required: 1 to %d bytes of text", CALENDAR_MAX_NAME);
	if (date_ok && d.kind == CALENDAR_WORKDAY && weekday_of(d.day) < 5)
		err_field(e, "date", "is a working weekday already: a compensatory working day falls on a weekend");
	if ((rc = err_fields_done(e)) < 0)
		return rc;
	d.name_vi = arena_strdup(c->a, name_vi);
	d.name_en = arena_strdup(c->a, name_en);
	d.announced = announced;
	struct day_ctx x = {c, &d, date};
	if ((rc = store_write(c->app->db, add_fn, &x, e)) < 0)
		return rc;
	reload_after_change(c->app);
	if (out)
		*out = d;
	return 0;
}

static int delete_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct day_ctx *x = arg;
	struct store_q *q;
	int rc = store_query(tx, "SELECT kind, name_vi, name_en, announced FROM calendar_days WHERE day = $1",
			     ARGS(SA_INT(x->d->day)), &q, e);
	if (rc == 0 && (rc = store_step(q, e)) == 1) {
		x->d->kind = strcmp(store_text(q, 0), "workday") == 0 ? CALENDAR_WORKDAY : CALENDAR_HOLIDAY;
		x->d->name_vi = store_dup(q, 1, x->c->a);
		x->d->name_en = store_dup(q, 2, x->c->a);
		x->d->announced = store_int(q, 3) != 0;
	}
	store_done(q);
	if (rc < 0)
		return rc;
	if (rc == 0)
		return err_set(e, ERR_NOT_FOUND, "%s is neither a holiday nor a compensatory working day", x->date);
	if ((rc = store_exec(tx, "DELETE FROM calendar_days WHERE day = $1", ARGS(SA_INT(x->d->day)), e)) < 0)
		return rc;
	return audit_append(tx, x->c, "calendar.day_delete", arena_printf(x->c->a, "calendar:%s", x->date),
			    day_doc(x->c->a, x->d), e);
}

int calendar_day_delete(const struct ctx *c, const char *date, struct err *e)
{
	int rc = require_admin(c, e);
	if (rc < 0)
		return rc;
	struct calendar_day d = {0};
	if (!parse_date(date, &d.day)) {
		err_field(e, "date", "must be a date YYYY-MM-DD");
		return err_fields_done(e);
	}
	struct day_ctx x = {c, &d, date};
	if ((rc = store_write(c->app->db, delete_fn, &x, e)) < 0)
		return rc;
	reload_after_change(c->app);
	return 0;
}
