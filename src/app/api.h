/* api.h: glue between the HTTP layer and the domain for JSON handlers:
 * building the call context (who is calling) from a request, the CSRF rule for
 * cookie sessions, and the route tables each module contributes. */
#ifndef TINHSO_API_H
#define TINHSO_API_H

#include <stddef.h>

#include "app/app.h"
#include "http/http.h"

enum api_auth {
	API_ANON,     /* anyone; c->who set when a valid session comes along */
	API_REQUIRED, /* 401 without a valid session */
};

/* Fills c from r: app, arena, request id, client IP, and the principal from
 * "Authorization: Bearer <token>" or the session cookie. A cookie-authenticated
 * unsafe request must carry the session's CSRF token (X-CSRF-Token header, or a
 * csrf_token form field for pages) or it is refused (403). Sets r->actor. */
int api_ctx(struct req *r, struct ctx *c, enum api_auth need);

/* The session cookie's name. */
#define API_SESSION_COOKIE "tinhso_session"

/* Each module's JSON routes (X_api.c). */
extern const struct route agency_routes[];
extern const size_t agency_nroutes;
extern const struct route identity_routes[];
extern const size_t identity_nroutes;
extern const struct route audit_routes[];
extern const size_t audit_nroutes;
extern const struct route procedure_routes[];
extern const size_t procedure_nroutes;
extern const struct route calendar_routes[];
extern const size_t calendar_nroutes;
extern const struct route dossier_routes[];
extern const size_t dossier_nroutes;
extern const struct route payment_routes[];
extern const size_t payment_nroutes;
extern const struct route rating_routes[];
extern const size_t rating_nroutes;
extern const struct route national_routes[];
extern const size_t national_nroutes;
extern const struct route sync_routes[];
extern const size_t sync_nroutes;
extern const struct route exchange_routes[];
extern const size_t exchange_nroutes;
extern const struct route ops_routes[];
extern const size_t ops_nroutes;

/* Writes the app's part of /metrics (database counters, process memory). */
void app_metrics_write(struct app *app, struct buf *out);

#endif
