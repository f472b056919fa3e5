/* calendar_store.h: the province's calendar as data: public holidays and
 * compensatory working days in the calendar_days table, loaded into the app
 * (struct calendar of calendar.h), edited by admins (audited), demo data from
 * data/demo/holidays.json.
 *
 * The app keeps one current calendar (app->calendar, a struct
 * calendar_holder private to calendar_store.c, guarded by a mutex). Each node
 * reloads it from the database when it is older than CALENDAR_RELOAD_S, so
 * nodes sharing a database converge within that time; the node that made a
 * change reloads at once. Years with rows in the table are "known" to the
 * calendar (calendar_knows_year), announced when every row of the year is. */
#ifndef TINHSO_CALENDAR_STORE_H
#define TINHSO_CALENDAR_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "app/app.h"
#include "base/json.h"
#include "calendar/calendar.h"

enum { CALENDAR_RELOAD_S = 60 };

/* Loads the calendar from the database into the app (replaces the current
 * one; allocates the holder on first use). Errors: the store's, or
 * ERR_INTERNAL when the rows do not make a valid calendar (then the current
 * calendar is kept). */
int calendar_store_load(struct app *app, struct err *e);
/* Copies the app's current calendar into out (reloading it first when it is
 * older than CALENDAR_RELOAD_S, so that nodes sharing a database converge;
 * loading it when it never was). Never fails: when the database cannot be
 * read, the last calendar is used (the default one if none was ever loaded)
 * and a warning is logged. Thread-safe. */
void calendar_current(struct app *app, struct calendar *out);
/* Loads data/demo/holidays.json into the table (idempotent: dates already
 * there are kept); returns the days added. Admins only. Audited (one
 * calendar.demo_load entry when something was added). Reloads the app's calendar. */
int calendar_load_demo(const struct ctx *c, struct err *e);
/* Frees what calendar_store_load allocated in the app. */
void calendar_store_release(struct app *app);
/* For tests: the monotonic clock (microseconds) the reload age is measured
 * with; NULL restores time_mono_us. The calendar is loaded again on its next
 * use. Set it before threads share the app. */
void calendar_store_set_clock(struct app *app, int64_t (*mono_us)(void));

/* One row of calendar_days. */
struct calendar_day {
	int32_t day;	   /* days since 1970-01-01 */
	enum calendar_kind kind;
	char *name_vi, *name_en;
	bool announced;
};

/* Admins: marks a date (YYYY-MM-DD) as a holiday ("holiday") or a
 * compensatory working day ("workday": only on a day that is not a working
 * weekday). Names 1..CALENDAR_MAX_NAME bytes. ERR_INVALID naming date, kind,
 * name_vi, name_en; ERR_CONFLICT when the date is already marked;
 * ERR_TOO_LARGE when the calendar would be full. Audited
 * (calendar.day_add); the app's calendar is reloaded. out (strings in c->a)
 * may be NULL. */
int calendar_day_add(const struct ctx *c, const char *date, const char *kind, const char *name_vi,
		     const char *name_en, bool announced, struct calendar_day *out, struct err *e);
/* Admins: removes the mark of a date; ERR_NOT_FOUND when it has none.
 * Audited (calendar.day_delete); the app's calendar is reloaded. */
int calendar_day_delete(const struct ctx *c, const char *date, struct err *e);

const char *calendar_kind_name(enum calendar_kind k); /* "holiday" | "workday" */
/* {"date", "kind", "name_vi", "name_en", "announced"} */
void calendar_day_json(struct jw *w, const struct calendar_day *d);

#endif
