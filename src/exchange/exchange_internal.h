/* exchange_internal.h: what the files of src/exchange/ share among
 * themselves (not for other modules: they use exchange.h). */
#ifndef TINHSO_EXCHANGE_INTERNAL_H
#define TINHSO_EXCHANGE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "exchange/exchange.h"
#include "http/http.h"
#include "store/store.h"

/* ---- the registry as the gateway sees it (registry.c) ---- */

/* What one call needs from the registry, copied into the caller's arena. */
struct xreg_service {
	bool found;
	char *backend_url, *methods, *description;
	bool personal_data;
	int timeout_ms;
};
struct xreg_client {
	bool found;
	unsigned char pk[32];
	char *endpoint;
};
/* Looks the service up (enabled services of enabled subsystems and members). */
int xreg_service(struct app *app, const char *service, struct arena *a, struct xreg_service *out, struct err *e);
/* Looks a subsystem up ("member/subsystem"; enabled only). */
int xreg_client(struct app *app, const char *client, struct arena *a, struct xreg_client *out, struct err *e);
/* True when client holds a right to service. */
int xreg_allowed(struct app *app, const char *service, const char *client, bool *out, struct err *e);
/* Drops the cached copy (after a registry change on this node). */
void xreg_invalidate(struct app *app);
void xreg_free(struct exchange_state *st);

/* Splits "a/b" or "a/b/c" into parts in a; false when the shape is wrong. */
bool xname_split(const char *s, int parts, struct arena *a, char **out);
/* [A-Za-z0-9._-]{1,64} */
bool xcode_valid(const char *s);

/* ---- shared state (exchange.c helpers in gateway.c) ---- */

struct nonce_cache;
struct xstats;
struct msglog_writer;
struct async_state;

struct exchange_state {
	struct app *app;
	pthread_mutex_t reg_mu;
	void *reg;		/* struct registry_snap *, registry.c */
	int64_t reg_version;
	int64_t reg_checked_us;
	struct nonce_cache *nonces;
	struct xstats *stats;
	struct msglog_writer *log;   /* NULL when no writer thread runs */
	struct async_state *async;   /* NULL when no delivery threads run */
};

/* The state of app, created on first use (threads only by exchange_start). */
struct exchange_state *exchange_state(struct app *app);

/* ---- message log (msglog.c) ---- */

struct xlog_rec {
	char id[33];
	int64_t at;
	const char *client, *service, *method, *path, *query, *purpose, *subject, *request_time, *nonce;
	char request_digest[65];
	const char *request_signature;
	int status;
	char response_digest[65];
	const char *response_signature;
	const char *error;
	int64_t duration_us;
};
/* A new message id (32 hex). */
void xlog_new_id(char out[33]);
/* Appends rec durably (group commit through the writer thread when running,
 * else its own transaction). Returns after the commit. Strings must be valid
 * UTF-8 without NUL. */
int xlog_append(struct app *app, const struct xlog_rec *rec, struct err *e);
int xlog_start(struct exchange_state *st, struct err *e);
void xlog_stop(struct exchange_state *st);

/* Writer counters for /metrics: transactions committed, records written,
 * microseconds spent in those commits (store_write, fsync included). */
void xlog_counters(struct app *app, uint64_t *commits, uint64_t *records, uint64_t *commit_us);

/* ---- statistics (monitor.c) ---- */
void xstats_init(struct exchange_state *st);
void xstats_record(struct exchange_state *st, const char *service, const char *client, bool known_service,
		   bool known_client, int status, bool gateway_error, int64_t duration_us);
void xstats_free(struct exchange_state *st);

/* ---- signed requests from subsystems (gateway.c) ---- */

/* Checks the X-Road-* headers and the signature of a request r (also used by
 * the asynchronous endpoints). On success *client is the caller. On failure
 * writes nothing and returns the refusal: *code the exchange.* code, *status
 * the HTTP status, message in e. */
struct xauth {
	const char *client, *time, *nonce, *purpose, *subject, *signature;
	const char *query; /* canonical */
	char body_digest[65];
	const char *code;
	int status;
};
int xauth_request(struct req *r, struct app *app, struct xauth *out, struct err *e);
/* The replay cache: remembers (client, nonce) for a request timed req_s.
 * 0 fresh (remembered now), 1 replay, 2 stale (its time bucket was dropped to
 * keep the bound), 3 full (the bound is reached within the current bucket). */
int xnonce_check(struct exchange_state *st, const char *client, const char *nonce, int64_t req_s, int64_t now_s);
/* Writes the gateway's JSON error (DESIGN.md §4 shape) with X-Road-Error. */
void xerror_respond(struct req *r, int status, const char *code, const char *message, const char *message_id);

/* ---- asynchronous exchange (async.c) ---- */
int async_start(struct exchange_state *st, struct err *e);
void async_stop(struct exchange_state *st);
void async_wake(struct app *app);
int64_t async_queue_depth(struct app *app);

/* Route handlers (exchange_api.c registers them). */
int gateway_handle(struct req *r);
int async_h_send(struct req *r);
int async_h_status(struct req *r);
int async_h_inbox(struct req *r);
int async_h_ack(struct req *r);
int async_h_admin_list(struct req *r);
int monitor_h_stats(struct req *r);
int monitor_h_connectivity(struct req *r);

#endif
