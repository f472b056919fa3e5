/* maintenance.h: the housekeeping thread of `serve`: every few minutes it
 * deletes expired sessions and idempotency keys older than a day, so tables
 * that grow with use stay bounded. */
#ifndef TINHSO_MAINTENANCE_H
#define TINHSO_MAINTENANCE_H

#include "app/app.h"

/* One pass; returns the rows deleted. */
int maintenance_run(struct app *app, struct err *e);
int maintenance_start(struct app *app, struct err *e);
void maintenance_stop(struct app *app);

#endif
