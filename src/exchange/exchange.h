/* exchange.h: LGSP, the provincial integration and data-sharing platform, on
 * the model of Estonia's X-Road. This header is the contract for everything
 * outside src/exchange/ (the one-stop core, the national-portal sync, the CLI,
 * cmd_serve, the ops handler).
 *
 * Vocabulary
 *   member     an organisation on the platform: a provincial agency (code =
 *              its agency code, e.g. "000.00.12.H23", agency set) or an
 *              outside organisation such as a ministry running a national
 *              database (any code of [A-Za-z0-9._-], agency NULL).
 *   subsystem  one information system of a member ("MOTCUA", "CSDLDC"); it
 *              holds an Ed25519 key pair, and the platform keeps its public
 *              key. Named "member/subsystem" (the client id).
 *   service    something a subsystem provides: code, description, backend
 *              URL (where the platform forwards), allowed methods, optional
 *              OpenAPI document, and whether it carries personal data. Named
 *              "member/subsystem/service".
 *   access     a right: client subsystem C may call service S.
 * Every registry change is audited (audit_append, same transaction), action
 * "exchange.<entity>.<create|update|delete>".
 *
 * Synchronous calls (the gateway, gateway.c)
 *   ANY /x/{member}/{subsystem}/{service}[/{path...}][?query]
 * with the headers
 *   X-Road-Client     "member/subsystem" of the caller
 *   X-Road-Time       RFC 3339 ("2025-03-14T09:30:00+07:00") or unix milliseconds;
 *                     refused when more than 300 s away from the server's clock
 *   X-Road-Nonce      16..64 characters of [A-Za-z0-9_-], never reused by a client
 *   X-Road-Purpose    why: UTF-8 text of at most 500 bytes, percent-encoded (HTTP
 *                     header values are Latin-1: "X%E1%BA%A1c minh" for "Xác minh";
 *                     plain ASCII needs no encoding, a literal '%' is "%25").
 *                     REQUIRED when the service carries personal data
 *   X-Road-Subject    optional: the 12-digit CCCD of the person the request is
 *                     about (the personal-data tracker shows it to that citizen)
 *   X-Road-Signature  128 hex: Ed25519 by the client subsystem's key over
 *                     exchange_canonical_request() below.
 * The gateway refuses (its own JSON error, header X-Road-Error: <code>, one
 * message-log record, nothing forwarded):
 *   401 exchange.unsigned          a header above is missing or malformed
 *   401 exchange.bad_signature     the signature does not verify
 *   401 exchange.unknown_client    no such client subsystem (or disabled)
 *   401 exchange.stale             the time is outside the window
 *   409 exchange.replay            the nonce was already used (within the window)
 *   404 exchange.unknown_service   no such service (or disabled)
 *   405 exchange.method_not_allowed the service does not take this method
 *   403 exchange.access_denied     the client has no access right to the service
 *   400 exchange.purpose_required  personal-data service without X-Road-Purpose
 *   400 exchange.bad_subject       X-Road-Subject is not a 12-digit CCCD
 *   400 exchange.bad_purpose       X-Road-Purpose is not (percent-encoded) UTF-8 or too long
 *   400 exchange.bad_path          a "." or ".." segment in the path after the service
 *   503 exchange.busy              the replay cache is full within the current 30 s
 *   413 exchange.too_large         body over the gateway limit (max_upload)
 *   502 exchange.backend_unavailable  the backend refused or dropped the connection
 *   502 exchange.response_too_large   the backend's answer exceeded exchange_max_response
 *   504 exchange.backend_timeout      the backend did not answer in time
 *   503 exchange.log_unavailable      the message log could not be written (the
 *                                     backend's answer is withheld)
 * Gateway errors have the shape of DESIGN.md §4:
 *   {"error":{"code":"exchange.access_denied","message":"...","details":{...}},"request_id":"..."}
 * and always carry X-Road-Error. A backend answer (any status) never does.
 * Otherwise the backend's status, Content-Type and body come back with
 *   X-Road-Message-Id          the message-log id of this exchange
 *   X-Road-Response-Time       unix milliseconds the platform signed at
 *   X-Road-Response-Signature  128 hex: Ed25519 by the platform's server key
 *                              (GET /api/v1/exchange/key) over
 *                              exchange_canonical_response() below.
 * The backend receives the method, the path after the service, the query,
 * the body, Content-Type/Accept and X-Road-Client, X-Road-Message-Id,
 * X-Road-Purpose (percent-encoded), X-Road-Subject (never the signature or
 * the caller's other headers).
 * Request bodies up to max_upload are buffered once by the HTTP layer
 * and handed to libcurl without a copy; responses are buffered once, straight
 * into the response buffer, up to exchange_max_response (bounded buffering,
 * not streaming).
 *
 * Asynchronous document exchange (async.c; signed with the same headers, no
 * purpose needed):
 *   POST /x-async/messages          send: body = the document (any type);
 *                                   X-Road-To: "member/subsystem" (the receiver),
 *                                   X-Road-Message-Ref: sender's idempotency key
 *                                   (1..100 chars; the same ref again returns the
 *                                   same message, nothing new), X-Road-Message-Type
 *                                   (optional, e.g. "cong-van"). 202 {id, seq, status}.
 *   GET  /x-async/messages/{id}     the sender's view of one message's state
 *   GET  /x-async/inbox?limit=      the receiver's unacknowledged messages, oldest first
 *                                   (metadata and document, base64)
 *   POST /x-async/inbox/{id}/ack    the receiver acknowledges (idempotent)
 * Push: when the receiver subsystem has an endpoint URL, the delivery workers
 * POST each message there, one pair (sender, receiver) in order: message n+1
 * of a pair is not sent before n is acknowledged. A 2xx answer is the
 * acknowledgement. Push headers: X-Road-Message-Id, X-Road-Sender,
 * X-Road-Receiver, X-Road-Seq (1, 2, ... per pair), X-Road-Message-Type,
 * X-Road-Message-Ref, X-Road-Time (unix ms), X-Road-Signature (server key, over
 * exchange_canonical_push()). A message may be pushed again after a crash or a
 * lost answer: receivers keep the ids (or the last seq per sender) and answer
 * 2xx to a repeat without acting on it twice: exactly once as they see it.
 *
 * Personal-data tracker: GET /api/v1/me/data-access (a logged-in citizen):
 * every logged exchange whose subject is the citizen's CCCD.
 *
 * Admin JSON API (admins; session + CSRF rules of api_ctx):
 *   GET|POST /api/v1/exchange/members      GET|PUT|DELETE /api/v1/exchange/members/{code}
 *   GET|POST /api/v1/exchange/subsystems   GET|PUT|DELETE /api/v1/exchange/subsystems/{member}/{code}
 *   GET|POST /api/v1/exchange/services     GET|PUT|DELETE /api/v1/exchange/services/{member}/{subsystem}/{code}
 *   GET      /api/v1/exchange/services/{member}/{subsystem}/{code}/openapi
 *   GET|POST /api/v1/exchange/access       DELETE /api/v1/exchange/access?service=&client=
 *   GET /api/v1/exchange/log?client=&service=&from=&to=   message-log records
 *   GET /api/v1/exchange/messages?status=&sender=&receiver=  asynchronous messages
 *   GET /api/v1/exchange/stats?from=&to=    per service and per client counts, errors, latency
 *   GET /api/v1/exchange/connectivity       the plan's connectivity figure (public)
 *   GET /api/v1/exchange/key                the server's public key (public)
 */
#ifndef TINHSO_EXCHANGE_H
#define TINHSO_EXCHANGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "app/app.h"
#include "base/buf.h"
#include "base/err.h"
#include "base/json.h"

enum {
	EXCHANGE_TIME_WINDOW_S = 300, /* X-Road-Time must be within this of the server's clock */
	EXCHANGE_CODE_MAX = 64,	      /* member, subsystem and service codes */
	EXCHANGE_PURPOSE_MAX = 500,
};

/* ---- registry (registry.c) ---- */

struct exchange_member {
	char *code, *name;
	char *agency; /* agencies.code when the member is a provincial agency, else NULL */
	bool disabled;
	int64_t created_at, updated_at;
};
struct exchange_member_in {
	const char *code, *name;
	const char *agency; /* NULL: the code itself when it is an agency code, else none */
	bool disabled;
};

struct exchange_subsystem {
	char *member, *code, *name;
	char *public_key; /* 64 hex (Ed25519) */
	char *endpoint;	  /* push URL for asynchronous messages, NULL = pull only */
	bool disabled;
	int64_t created_at, updated_at;
};
struct exchange_subsystem_in {
	const char *member, *code, *name, *public_key, *endpoint;
	bool disabled;
};

struct exchange_service {
	char *member, *subsystem, *code, *description;
	char *backend_url; /* http(s)://host[:port]/base: the path after the service is appended */
	char *methods;	   /* comma-separated, upper case: "GET,POST" */
	char *openapi;	   /* the OpenAPI document (JSON or YAML text), NULL if none */
	bool personal_data;
	int timeout_ms;	   /* 0 = exchange_timeout_ms */
	bool disabled;
	int64_t created_at, updated_at;
};
struct exchange_service_in {
	const char *member, *subsystem, *code, *description, *backend_url, *methods, *openapi;
	bool personal_data;
	int timeout_ms;
	bool disabled;
};

struct exchange_access {
	char *service; /* "member/subsystem/service" */
	char *client;  /* "member/subsystem" */
	char *granted_by;
	int64_t granted_at;
};

/* Creating or updating. create_only: ERR_CONFLICT when it exists (POST);
 * otherwise create or replace (PUT, CLI, seeding: safe to repeat, and a repeat
 * with the same content changes nothing and audits nothing). Admins (or the
 * CLI's principal) only: ERR_FORBIDDEN. ERR_INVALID naming the field for bad
 * codes, keys, URLs, methods; ERR_NOT_FOUND when the member (subsystem) it
 * belongs to does not exist. out may be NULL; strings in c->a. */
int exchange_member_put(const struct ctx *c, const struct exchange_member_in *in, bool create_only,
			struct exchange_member *out, struct err *e);
int exchange_subsystem_put(const struct ctx *c, const struct exchange_subsystem_in *in, bool create_only,
			   struct exchange_subsystem *out, struct err *e);
int exchange_service_put(const struct ctx *c, const struct exchange_service_in *in, bool create_only,
			 struct exchange_service *out, struct err *e);
/* Grants service ("member/subsystem/service") to client ("member/subsystem").
 * Idempotent (a repeat grants nothing new and audits nothing). */
int exchange_access_put(const struct ctx *c, const char *service, const char *client, struct err *e);
int exchange_access_delete(const struct ctx *c, const char *service, const char *client, struct err *e);
/* Deletes; ERR_CONFLICT while something depends on it (subsystems of a
 * member, services of a subsystem, rights of a service). A deleted service's
 * rights go with it. */
int exchange_member_delete(const struct ctx *c, const char *code, struct err *e);
int exchange_subsystem_delete(const struct ctx *c, const char *member, const char *code, struct err *e);
int exchange_service_delete(const struct ctx *c, const char *member, const char *subsystem, const char *code,
			    struct err *e);

/* Reads (admins; strings in c->a). filter may be NULL: only that member's. */
int exchange_member_get(const struct ctx *c, const char *code, struct exchange_member *out, struct err *e);
int exchange_member_list(const struct ctx *c, struct exchange_member **out, int *n, struct err *e);
int exchange_subsystem_get(const struct ctx *c, const char *member, const char *code, struct exchange_subsystem *out,
			   struct err *e);
int exchange_subsystem_list(const struct ctx *c, const char *member, struct exchange_subsystem **out, int *n,
			    struct err *e);
int exchange_service_get(const struct ctx *c, const char *member, const char *subsystem, const char *code,
			 struct exchange_service *out, struct err *e);
int exchange_service_list(const struct ctx *c, const char *member, struct exchange_service **out, int *n,
			  struct err *e);
/* service and client may be NULL (any). */
int exchange_access_list(const struct ctx *c, const char *service, const char *client, struct exchange_access **out,
			 int *n, struct err *e);

/* ---- in-process calls (gateway.c) ----
 *
 * For tinhso's own subsystems (the one-stop core prefilling from national
 * databases, the DVCQG sync): the same path as an outside call through
 * /x/... (registry lookup, access right, purpose rule, forwarding with the
 * timeouts and limits, response signature, message-log record, metrics), but
 * without a request signature, since the caller is this process and names
 * its own subsystem. Blocking (up to the service's timeout): call it outside
 * any store transaction, from a handler or a worker thread.
 *
 *   struct exchange_call call = {
 *       .client = "000.00.31.H23/MOTCUA", .service = "BCA/CSDLQGDC/citizen",
 *       .method = "GET", .path = "030095001234", .purpose = "prefill dossier",
 *       .subject = "030095001234"};
 *   struct exchange_result res;
 *   if (exchange_call(c, &call, &res, e) == 0 && res.status == 200) ... res.body ...
 *
 * Returns 0 when the backend answered (any HTTP status: look at res.status),
 * else the gateway's refusal as an error: ERR_NOT_FOUND (unknown service or
 * client), ERR_FORBIDDEN (no access right), ERR_INVALID (purpose missing, bad
 * subject), ERR_METHOD (method not allowed), ERR_TOO_LARGE, ERR_BAD_GATEWAY
 * (backend down, too large an answer), ERR_GATEWAY_TIMEOUT (backend slow),
 * ERR_UNAVAILABLE (message log unavailable); e->msg says which,
 * res.error_code holds the "exchange.*" code and res.message_id is set
 * whenever the refusal could be logged. */
struct exchange_call {
	const char *client;	  /* "member/subsystem" of the calling (own) subsystem */
	const char *service;	  /* "member/subsystem/service" */
	const char *method;	  /* NULL = "GET" */
	const char *path;	  /* after the service, without the leading '/'; NULL = none */
	const char *query;	  /* already encoded "a=1&b=x%20y", without '?'; NULL = none */
	const char *body;	  /* may be NULL */
	size_t body_len;
	const char *content_type; /* of body; NULL = application/json when there is a body */
	const char *purpose;	  /* required for personal-data services (plain UTF-8, not encoded) */
	const char *subject;	  /* CCCD of the person concerned, or NULL */
};
struct exchange_result {
	int status;		 /* the backend's HTTP status; 0 when refused or failed */
	char *body;		 /* NUL-terminated (also for binary: use body_len); in c->a */
	size_t body_len;
	char *content_type;	 /* in c->a, NULL if the backend sent none */
	char message_id[33];	 /* message-log id (32 hex), "" only if even logging failed */
	char error_code[48];	 /* "exchange.backend_timeout" ..., "" when the backend answered */
	int64_t duration_us;
};
int exchange_call(const struct ctx *c, const struct exchange_call *call, struct exchange_result *out, struct err *e);

/* ---- signatures (gateway.c): the exact bytes signed, for clients and tests ----
 *
 * Request (the client signs):
 *   "tinhso-x-road-v1\n" METHOD "\n" PATH "\n" QUERY "\n" BODY_SHA256_HEX "\n"
 *   TIME "\n" NONCE "\n" CLIENT "\n" PURPOSE "\n" SUBJECT
 * METHOD upper case; PATH the decoded request path ("/x/M/S/svc/a b");
 * QUERY the query parameters in the order sent, each "key=value" with key and
 * value percent-encoded except A-Z a-z 0-9 - . _ ~ (upper-case hex), joined
 * with "&" ("" when none; python: "&".join(quote(k, safe="-._~") + "=" +
 * quote(v, safe="-._~") for k, v in pairs)); BODY_SHA256_HEX of the raw body
 * (of "" when none); TIME, NONCE, CLIENT and SUBJECT exactly as in the
 * headers, PURPOSE decoded (the UTF-8 text), "" when absent. Appends to out. */
void exchange_canonical_request(struct buf *out, const char *method, const char *path, const char *query,
				const char *body_sha256, const char *time, const char *nonce, const char *client,
				const char *purpose, const char *subject);
/* Response (the platform signs):
 *   "tinhso-x-road-response-v1\n" MESSAGE_ID "\n" REQUEST_SIGNATURE "\n" STATUS "\n"
 *   RESPONSE_BODY_SHA256_HEX "\n" TIME_MS
 * REQUEST_SIGNATURE is the client's X-Road-Signature ("" for in-process calls). */
void exchange_canonical_response(struct buf *out, const char *message_id, const char *request_signature,
				 int status, const char *body_sha256, int64_t time_ms);
/* Push of an asynchronous message (the platform signs):
 *   "tinhso-x-async-push-v1\n" ID "\n" SENDER "\n" RECEIVER "\n" SEQ "\n" BODY_SHA256_HEX "\n" TIME_MS */
void exchange_canonical_push(struct buf *out, const char *id, const char *sender, const char *receiver, int64_t seq,
			     const char *body_sha256, int64_t time_ms);

/* ---- message log (msglog.c) ---- */

struct exchange_log_verify {
	int64_t records;    /* records checked */
	int64_t first_bad;  /* seq of the first bad record, 0 when all good */
	char problem[256];
};
/* Re-checks the message log: sequence without gaps, each prev_hash, each
 * record's hash recomputed from its fields, each signature with the server's
 * key, the head. 0 when intact; ERR_CONFLICT with *res naming the first bad
 * record; other errors when it could not check. */
int exchange_log_verify(struct app *app, struct exchange_log_verify *res, struct err *e);
/* Writes the records with from_us <= at < to_us (0 = open) as JSON lines to
 * path: first a header line {"type":"tinhso-exchange-log-export","version":1,
 * "public_key","key_id","from","to","anchor":{seq, prev_hash} (the hash the
 * first exported record links to)}, then one line per record with every
 * hashed field, its hash and signature, then a trailer line {"type":"end",
 * "records":N,"last_hash"}. Admins/CLI only. Returns the number of records. */
int64_t exchange_log_export(struct app *app, int64_t from_us, int64_t to_us, const char *path, struct err *e);
/* Verifies an export file with a public key alone (64 hex; NULL = the one in
 * the file's header, which a careful verifier compares with the published
 * key). 0 when good; ERR_CONFLICT with *res naming the first bad record;
 * ERR_INVALID when the file is not an export. */
int exchange_log_verify_export(const char *path, const char *public_key_hex, struct exchange_log_verify *res,
			       struct err *e);

/* ---- personal-data tracker ---- */
struct exchange_access_record {
	char *message_id;
	int64_t at;
	char *client_member, *client_member_name, *client_subsystem;
	char *service; /* "member/subsystem/service" */
	char *service_description;
	char *purpose;
	int status;
};
/* The exchanges whose subject is the calling citizen's CCCD, newest first.
 * ERR_FORBIDDEN for anyone but a citizen with an id number. */
int exchange_data_access_list(const struct ctx *c, int page, int per_page, struct exchange_access_record **out,
			      int *n, int64_t *total, struct err *e);

/* ---- lifecycle and monitoring ---- */

/* Starts the asynchronous delivery workers (exchange_workers threads), after
 * giving up the delivery claims of this host's dead processes. Call once
 * after app_open, before the HTTP server starts. Without it, gateway calls
 * and exchange_call work the same (the message log group-commits in the
 * callers' own threads); only pushing asynchronous messages is off.
 * exchange_stop stops the workers and frees the module's state (caches,
 * replay cache, counters): call it after the HTTP server has stopped and
 * before app_close, also after CLI use (safe without exchange_start, and
 * twice). */
int exchange_start(struct app *app, struct err *e);
void exchange_stop(struct app *app);
/* Appends the exchange counters (Prometheus text: per service and per client
 * requests, errors, latency histogram; asynchronous queue depth) to out. */
void exchange_metrics_write(struct app *app, struct buf *out);

#endif
