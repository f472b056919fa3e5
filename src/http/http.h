/* http.h: the HTTP layer on libmicrohttpd: server lifecycle, routing with path
 * parameters, the per-request context (arena, request id, body, response) and
 * the helpers every handler uses (JSON in and out, errors from the one error
 * table, query parameters, pagination, cookies, headers). It knows nothing of
 * the domain: handlers receive a struct req and return 0 or an error code.
 *
 * Threads: GET/HEAD handlers run on the event threads (one per core). Other
 * methods wait on durable commits: with opt.fibers (the SQLite store, whose
 * writer wakes fibers) each runs in a fiber (base/fiber.h) on the event
 * thread, which serves other connections while the fiber waits for its commit,
 * its connection suspended; otherwise, and for ROUTE_BLOCKING routes, they run
 * on a pool of worker threads, the connection suspended meanwhile. Either way a
 * few cores keep many writes in flight and the database commits them together. */
#ifndef TINHSO_HTTP_H
#define TINHSO_HTTP_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/buf.h"
#include "base/err.h"
#include "base/json.h"

struct req;
typedef int (*http_handler)(struct req *r);

enum route_flags {
	ROUTE_PUBLIC_CACHE = 1, /* response may be cached (static files); default is no-store */
	ROUTE_NO_LOG = 2,	/* no access log line (health probes) */
	ROUTE_UPLOAD = 4,	/* body limit is max_upload instead of max_body */
	ROUTE_BLOCKING = 8,	/* runs on a worker thread whatever the method: handlers that wait on the
				   network or spend long on the CPU (password hashing), which would stall
				   an event thread */
	ROUTE_RAW_LARGE = 16,	/* body limit is max_upload, body kept raw in r->body (never form-parsed);
				   an oversized body is discarded and the handler runs with r->body_too_large
				   set, to refuse it in its own terms */
};

struct route {
	const char *method;  /* "GET", "POST", "PUT", "DELETE" */
	const char *pattern; /* "/api/v1/agencies/{code}"; "{rest*}" as the last segment takes the remainder */
	http_handler fn;
	unsigned flags;
};

enum { REQ_MAX_PARAMS = 8, REQ_MAX_HEADERS = 16, REQ_MAX_PARTS = 64, REQ_MAX_FIELD = 1024 * 1024 };

/* One part of a multipart/form-data or urlencoded body (ROUTE_UPLOAD routes).
 * A part with a filename is streamed to a temporary file under the upload
 * directory and hashed on the way; other parts are kept in memory. Temporary
 * files are removed after the response unless a handler claims them by
 * renaming the file and setting path to NULL. */
struct http_part {
	const char *name;
	const char *filename;	  /* NULL for plain fields */
	const char *content_type; /* as the client said; never trusted */
	char *path;		  /* temporary file (filename parts) */
	struct buf value;	  /* plain fields */
	int64_t size;
	char sha256[65];	  /* hex, filename parts */
};

struct req {
	struct arena *a;	/* per-request: freed after the response is sent */
	const char *method;
	const char *path;
	const struct route *route; /* NULL when none matched */
	char rid[40];
	char client_ip[64];
	bool tls;
	int nparams;
	struct {
		const char *name, *value;
	} params[REQ_MAX_PARAMS];
	struct buf body;

	/* response */
	int status;
	const char *content_type;
	struct buf out;
	struct jw jw;
	int nheaders;
	struct {
		const char *name, *value;
	} headers[REQ_MAX_HEADERS];
	struct err err;

	void *user;	  /* the authenticated principal, set by the app's auth helper */
	const char *actor; /* for the access log: "user:12" */
	void *app;	  /* server-wide context given to http_start */
	void *conn;	  /* private to http.c */
	json_t *json;	  /* parsed body, released with the request */
	int file_fd;	  /* res_file: sent and closed by the server; -1 none */
	uint64_t file_size;
	int nparts;	  /* ROUTE_UPLOAD: the parsed body */
	struct http_part *parts;
	bool form_body;	  /* the body was multipart or urlencoded and is in parts */
	bool body_too_large; /* ROUTE_RAW_LARGE: the body exceeded the limit and was discarded */
};

struct http_options {
	const char *host;
	int port;
	int threads;	/* event threads; 0 = cores */
	int workers;	/* blocking-handler threads */
	size_t max_body, max_upload;
	unsigned max_connections, max_per_ip, conn_timeout;
	bool trust_proxy;
	const char *upload_dir; /* where ROUTE_UPLOAD files are streamed (must exist) */
	bool access_log;
	bool fibers; /* run write handlers in fibers on the event threads (see above) */
	const char *tls_cert_pem, *tls_key_pem; /* contents, not paths; NULL = plain HTTP */
	/* called for requests no route matches, before the JSON 404 (e.g. static files); may be NULL */
	http_handler fallback;
	/* called by res_error before it writes the JSON error: returns true when it
	 * answered instead (the HTML pages render their own error pages); may be NULL */
	bool (*error_page)(struct req *r);
};

struct http_server;

/* Starts serving; routes must stay valid while the server runs. */
int http_start(struct http_server **out, const struct http_options *opt, const struct route *routes, size_t nroutes,
	       void *app, struct err *e);
/* Stops accepting, waits up to drain_ms for requests in flight, then stops. */
void http_stop(struct http_server *s, int drain_ms);
/* The port actually bound (when opt->port was 0). */
int http_port(const struct http_server *s);

/* ---- request ---- */
const char *req_param(struct req *r, const char *name);	 /* path parameter, or NULL */
const char *req_query(struct req *r, const char *name);	 /* query parameter (UTF-8 checked), or NULL */
const char *req_header(struct req *r, const char *name); /* or NULL */
const char *req_cookie(struct req *r, const char *name); /* or NULL */
/* Calls fn for each query parameter in the order sent (value NULL for "?flag");
 * returns how many there were. */
int req_query_each(struct req *r, void (*fn)(void *cls, const char *key, const char *value), void *cls);
/* Parses the body as JSON (Content-Type must be application/json: 415). */
int req_json(struct req *r, json_t **out);
/* ?page=&per_page= with defaults 1 and 50, per_page at most 200; 422 naming the bad one. */
int req_page(struct req *r, int *page, int *per_page);
/* Reads an optional integer query parameter within bounds; 422 naming it. present=false when absent. */
int req_query_int(struct req *r, const char *name, int64_t min, int64_t max, int64_t *out, bool *present);
/* Reads an optional time query parameter: an RFC 3339 time, or a date YYYY-MM-DD
 * in +07:00 standing for its first microsecond (its last with end_of_day: an
 * inclusive 'to'). 422 naming it when malformed (empty too); present=false and
 * *out_us untouched when absent. */
int req_query_time(struct req *r, const char *name, bool end_of_day, int64_t *out_us, bool *present);
bool req_is_safe_method(const struct req *r); /* GET or HEAD */
/* ROUTE_UPLOAD: the value of a plain form field (first of that name), or NULL. */
const char *req_form(struct req *r, const char *name);

/* ---- response ---- */
/* Starts a JSON response: returns the writer positioned before the top value. */
struct jw *res_json(struct req *r, int status);
void res_header(struct req *r, const char *name, const char *value); /* copied into the arena */
void res_text(struct req *r, int status, const char *content_type, const char *body, size_t n);
/* Sends an open file (the server closes fd). */
void res_file(struct req *r, int status, const char *content_type, int fd, uint64_t size);
/* Error response from r->err (code, message, fields) in the one shape of DESIGN.md §4. */
void res_error(struct req *r);
/* Standard list envelope: {"items": [ ... ], "total": N, "page": P}. Call items_end after writing items. */
struct jw *res_list_begin(struct req *r, int status);
void res_list_end(struct req *r, int64_t total, int page, int per_page);

/* ---- metrics (for /metrics; the server keeps them) ---- */
void http_metrics_write(struct http_server *s, struct buf *out);
/* The server of a request (for handlers that render metrics). */
struct http_server *req_server(struct req *r);

#endif
