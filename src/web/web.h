/* web.h: what every server-rendered page shares: the templates (web/templates,
 * compiled once at start), the Vietnamese and English catalogs (web/i18n) and
 * the language of a request, the layout around each page, the error summary
 * and field messages of forms, form input, redirects, error pages, static
 * files with ETags, and the small view helpers (dates, money, pagination).
 *
 * Pages call the same domain functions as the JSON API; they only decode form
 * input, call the domain, and turn what it answers (or the fields it names in
 * an error) into HTML. A page handler always answers with HTML (or a file or a
 * redirect) and returns 0: errors become pages, never the JSON error shape.
 *
 * Threads: web_init fills read-only tables before the server starts; pages
 * read them from any thread. */
#ifndef TINHSO_WEB_H
#define TINHSO_WEB_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "app/api.h"
#include "identity/identity.h"

/* Who may open a page (web_begin's need). */
enum web_need {
	WEB_ANYONE = 0,
	WEB_CITIZEN = 1,
	WEB_OFFICIAL = 2,
	WEB_LEADER = 4,
	WEB_ADMIN = 8,
	WEB_STAFF = WEB_OFFICIAL | WEB_LEADER,
	WEB_SIGNED_IN = WEB_CITIZEN | WEB_STAFF | WEB_ADMIN,
};

/* One page being answered. */
struct web_page {
	struct req *r;
	struct ctx c;	      /* the domain call context (c.who: the signed-in user or NULL) */
	const char *lang;     /* "vi" (default) or "en" */
	bool en;
	json_t *d;	      /* the page's data, given to its template (owned until answered) */
	json_t *errors;	      /* error summary: [{href, text}] */
	json_t *field_errors; /* message beside each field: {field id: text} */
	bool bad_input;	      /* a form value was not valid UTF-8 (replaced by U+FFFD) */
	const char *section;  /* layout: "portal" | "office" | "admin" (the navigation shown) */
	bool answered;
};

/* Loads templates, catalogs and static files from dir (web_dir). Errors:
 * ERR_CONFIG naming the file that is missing or wrong. Call once, before
 * serving. */
int web_init(struct app *app, const char *dir, struct err *e);
/* The directory to load from: dir when it holds templates; else, for a
 * relative dir, the same name beside the binary's parent directory
 * (build/tinhso -> ./web) when that holds templates. In a. */
const char *web_dir_resolve(const char *dir, struct arena *a);
/* True once web_init succeeded. */
bool web_ready(void);

/* The route tables of the pages. */
extern const struct route web_routes[];
extern const size_t web_nroutes;
extern const struct route portal_routes[];
extern const size_t portal_nroutes;
extern const struct route apply_routes[];
extern const size_t apply_nroutes;
extern const struct route office_routes[];
extern const size_t office_nroutes;
extern const struct route admin_routes[];
extern const size_t admin_nroutes;

/* For http_options.fallback: an HTML 404 page for paths outside /api/. */
int web_fallback(struct req *r);
/* For http_options.error_page: renders r->err as an HTML page for requests
 * outside /api/ (errors the HTTP layer found before any handler ran: a body
 * too large, a malformed form, a method not allowed). True when it answered. */
bool web_error_hook(struct req *r);

/* ---- a page's life ---- */

/* Starts answering r: the call context (session cookie; for unsafe methods the
 * CSRF token of the session, or for anonymous forms the form token cookie),
 * the language, the page data. need says who may see the page: a visitor who
 * is not signed in is sent to the log-in page (GET) or told the session ended
 * (POST); a signed-in user of another role gets a 403 page. Returns true when
 * the handler may go on, false when the answer is already made. */
bool web_begin(struct req *r, struct web_page *p, unsigned need);
/* Renders template tpl (web/templates/<tpl>.mustache) inside the layout with
 * p->d, the catalogs, the user, the error summary; title_key is the catalog
 * key of the page's title (NULL: the handler set p->d "title"). Returns 0. */
int web_render(struct web_page *p, int status, const char *tpl, const char *title_key);
/* 303 See Other to a local path. Returns 0. */
int web_redirect(struct web_page *p, const char *location);
/* An error page for a domain error code (r->err holds the detail): 404, 403,
 * 409, 429, 503 ...; ERR_UNAUTHENTICATED sends to log in. Returns 0. */
int web_fail(struct web_page *p, int rc);
/* An error page with a catalog heading and text. Returns 0. */
int web_error_page(struct web_page *p, int status, const char *heading_key, const char *text);
/* Sends a file or bytes as the answer (no layout). Returns 0. */
int web_send_pdf(struct web_page *p, struct buf *pdf, const char *filename, bool inline_view);
/* Releases the page data (called by the answering functions; idempotent). */
void web_page_free(struct web_page *p);

/* ---- catalogs ---- */

/* The text of a catalog key ("apply.title") in the page's language (the
 * Vietnamese text when the English catalog lacks it; the key itself when both
 * do, which the tests catch). */
const char *web_t(const struct web_page *p, const char *key);
/* The text with {name} placeholders replaced: pairs of name, value, then NULL. In the request arena. */
char *web_tf(const struct web_page *p, const char *key, ...) __attribute__((sentinel));
/* Picks the English text when the page is English and en is non-empty, else vi. */
const char *web_pick(const struct web_page *p, const char *vi, const char *en);

/* ---- forms ---- */

/* A form field's value: trimmed, "" when absent, invalid UTF-8 replaced (and
 * p->bad_input set). multiline keeps line breaks (as \n); otherwise they
 * become spaces. In the request arena. */
const char *web_in(struct web_page *p, const char *name);
const char *web_in_text(struct web_page *p, const char *name, bool multiline);
/* s without the separators people type inside numbers (spaces, dots, dashes
 * when dashes is true): "0912 345 678" -> "0912345678". In the request arena. */
const char *web_compact(struct web_page *p, const char *s, bool dashes);
/* Adds an error: to the summary (linking to #id) and beside field id. */
void web_err(struct web_page *p, const char *id, const char *text);
/* The message beside field id, or NULL. */
const char *web_field_err(const struct web_page *p, const char *id);
/* Adds the generic "form could not be read" error when p->bad_input. True when it did. */
bool web_check_input(struct web_page *p);

/* ---- JSON data for templates ---- */

/* A JSON string of s (NULL: null; invalid UTF-8 made valid). */
json_t *web_jstr(const char *s);
void jset(json_t *o, const char *k, json_t *v); /* takes v */
void jset_s(json_t *o, const char *k, const char *s);
void jset_so(json_t *o, const char *k, const char *s); /* null when s is NULL or "" (templates test it) */
void jset_b(json_t *o, const char *k, bool v);
void jset_i(json_t *o, const char *k, int64_t v);
/* A field view for the field templates: {id, name, label, hint, value, error, optional}. */
json_t *web_field(struct web_page *p, const char *id, const char *name, const char *label, const char *value);

/* ---- formats ---- */

const char *web_time(const struct web_page *p, int64_t unix_us); /* "14/03/2025 09:30"; "" for 0 */
const char *web_date(const struct web_page *p, int64_t unix_us); /* "14/03/2025" */
const char *web_money(const struct web_page *p, int64_t vnd);	  /* "50.000 đồng" / "50,000 VND" */
const char *web_size(const struct web_page *p, int64_t bytes);	  /* "1,2 MB" */
/* URL-encodes s for a query value. In a. */
const char *web_urlenc(struct arena *a, const char *s);
/* Pagination data {pages:[{n, href, current}], prev, next, summary} for a list whose other query is base_query (ends in '&' or is ""). */
json_t *web_pager(struct web_page *p, const char *path, const char *base_query, int page, int per_page, int64_t total);

/* The province's portal name and the agency that runs it (from the root agency). */
const char *web_province(struct web_page *p);

#endif
