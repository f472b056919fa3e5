/* registry.c: the LGSP registry (members, subsystems, services, access
 * rights): validation, audited changes, reads, and the in-memory copy the
 * gateway looks things up in.
 *
 * The gateway must not pay a database read per lookup, so it works from a
 * snapshot of the whole registry (a province has hundreds of services, not
 * millions). Every change bumps exchange_meta.registry_version in its
 * transaction; a node re-reads the version at most once a second (at once
 * after a change it made itself) and reloads the snapshot when it moved, so
 * other nodes on the same PostgreSQL see a change within a second. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "base/log.h"
#include "base/text.h"
#include "base/time.h"
#include "exchange/exchange_internal.h"
#include "identity/identity.h"

enum { REG_RECHECK_US = 1000000, DESC_MAX = 2000, NAME_MAX_ = 300, URL_MAX = 2000, OPENAPI_MAX = 1 << 20 };

/* ---- names ---- */

bool xcode_valid(const char *s)
{
	if (!s || !*s)
		return false;
	size_t n = 0;
	for (const char *p = s; *p; p++, n++)
		if (!(isalnum((unsigned char)*p) || *p == '.' || *p == '_' || *p == '-'))
			return false;
	return n <= EXCHANGE_CODE_MAX;
}

bool xname_split(const char *s, int parts, struct arena *a, char **out)
{
	if (!s)
		return false;
	const char *p = s;
	for (int i = 0; i < parts; i++) {
		const char *end = i + 1 < parts ? strchr(p, '/') : p + strlen(p);
		if (!end)
			return false;
		out[i] = arena_strndup(a, p, (size_t)(end - p));
		if (!xcode_valid(out[i]))
			return false;
		p = *end ? end + 1 : end;
	}
	return true;
}

static bool hex_valid(const char *s, size_t n)
{
	if (!s || strlen(s) != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isxdigit((unsigned char)s[i]))
			return false;
	return true;
}

static bool url_valid(const char *s)
{
	if (!s || !text_valid(s, URL_MAX))
		return false;
	const char *rest = strncmp(s, "http://", 7) == 0 ? s + 7 : strncmp(s, "https://", 8) == 0 ? s + 8 : NULL;
	if (!rest || !*rest || *rest == '/')
		return false;
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == '?' || *p == '#')
			return false;
	return true;
}

static const char *const all_methods[] = {"GET", "POST", "PUT", "PATCH", "DELETE"};

/* Normalises "get, post" to "GET,POST" in a; NULL when a method is unknown. */
static char *methods_norm(const char *in, struct arena *a)
{
	if (!in || !*in)
		return NULL;
	bool seen[5] = {false};
	const char *p = in;
	while (*p) {
		while (*p == ' ' || *p == ',')
			p++;
		if (!*p)
			break;
		const char *q = p;
		while (*q && *q != ',' && *q != ' ')
			q++;
		bool ok = false;
		for (int i = 0; i < 5; i++)
			if (strlen(all_methods[i]) == (size_t)(q - p) && strncasecmp(all_methods[i], p, (size_t)(q - p)) == 0)
				seen[i] = ok = true;
		if (!ok)
			return NULL;
		p = q;
	}
	struct buf b = BUF_INIT;
	for (int i = 0; i < 5; i++)
		if (seen[i])
			buf_printf(&b, "%s%s", b.len ? "," : "", all_methods[i]);
	char *out = b.len ? arena_strdup(a, b.ptr) : NULL;
	buf_free(&b);
	return out;
}

static int require_admin(const struct ctx *c, struct err *e)
{
	if (!c->who)
		return err_set(e, ERR_UNAUTHENTICATED, "log in as an administrator");
	if (c->who->role != ROLE_ADMIN)
		return err_set(e, ERR_FORBIDDEN, "only administrators may manage the exchange registry");
	return 0;
}

static int bump_version(struct store_tx *tx, struct err *e)
{
	int rc = store_exec(tx, "UPDATE exchange_meta SET registry_version = registry_version + 1 WHERE id = 1",
			    NOARGS, e);
	return rc < 0 ? rc : 0;
}

static bool streq(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "") == 0;
}

/* ---- members ---- */

static void member_row(struct store_q *q, struct arena *a, struct exchange_member *m)
{
	m->code = store_dup(q, 0, a);
	m->name = store_dup(q, 1, a);
	m->agency = store_dup(q, 2, a);
	m->disabled = store_int(q, 3) != 0;
	m->created_at = store_int(q, 4);
	m->updated_at = store_int(q, 5);
}

static int member_get_tx(struct store_tx *tx, const char *code, struct arena *a, struct exchange_member *out,
			 struct err *e)
{
	struct store_q *q;
	int rc = store_query(tx,
			     "SELECT code, name, agency, disabled, created_at, updated_at FROM exchange_members "
			     "WHERE code = $1",
			     ARGS(SA_TEXT(code)), &q, e);
	if (rc == 0 && (rc = store_step(q, e)) == 1)
		member_row(q, a, out);
	store_done(q);
	return rc;
}

static void member_change(struct buf *b, const struct exchange_member_in *in, const char *agency)
{
	struct jw w;
	jw_init(&w, b);
	jw_obj(&w);
	jw_kstr(&w, "code", in->code);
	jw_kstr(&w, "name", in->name);
	jw_kstr(&w, "agency", agency);
	jw_kbool(&w, "disabled", in->disabled);
	jw_obj_end(&w);
}

struct member_put {
	const struct ctx *c;
	const struct exchange_member_in *in;
	bool create_only;
	struct exchange_member *out;
};

static int member_put_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct member_put *p = arg;
	const struct exchange_member_in *in = p->in;
	struct arena *a = p->c->a;
	const char *agency = in->agency && *in->agency ? in->agency : NULL;
	int64_t one = 0;
	int rc;
	if (agency) {
		rc = store_get_int(tx, "SELECT 1 FROM agencies WHERE code = $1", ARGS(SA_TEXT(agency)), &one, e);
		if (rc < 0)
			return rc;
		if (rc == 0) {
			err_field(e, "agency", "no agency has the code '%s'", agency);
			return err_fields_done(e);
		}
	} else {
		rc = store_get_int(tx, "SELECT 1 FROM agencies WHERE code = $1", ARGS(SA_TEXT(in->code)), &one, e);
		if (rc < 0)
			return rc;
		if (rc == 1)
			agency = in->code;
	}
	struct exchange_member old;
	rc = member_get_tx(tx, in->code, a, &old, e);
	if (rc < 0)
		return rc;
	bool exists = rc == 1;
	if (exists && p->create_only)
		return err_set(e, ERR_CONFLICT, "member '%s' already exists", in->code);
	int64_t now = time_now_us();
	if (exists && streq(old.name, in->name) && streq(old.agency, agency) && old.disabled == in->disabled) {
		if (p->out)
			*p->out = old;
		return 0;
	}
	if (exists)
		rc = store_exec(tx,
				"UPDATE exchange_members SET name = $2, agency = $3, disabled = $4, updated_at = $5 "
				"WHERE code = $1",
				ARGS(SA_TEXT(in->code), SA_TEXT(in->name), SA_TEXT(agency), SA_BOOL(in->disabled),
				     SA_INT(now)),
				e);
	else
		rc = store_exec(tx,
				"INSERT INTO exchange_members (code, name, agency, disabled, created_at, updated_at) "
				"VALUES ($1, $2, $3, $4, $5, $5)",
				ARGS(SA_TEXT(in->code), SA_TEXT(in->name), SA_TEXT(agency), SA_BOOL(in->disabled),
				     SA_INT(now)),
				e);
	if (rc < 0)
		return rc;
	struct buf ch = BUF_INIT;
	member_change(&ch, in, agency);
	rc = audit_append(tx, p->c, exists ? "exchange.member.update" : "exchange.member.create",
			  arena_printf(a, "exchange_member:%s", in->code), ch.ptr, e);
	buf_free(&ch);
	if (rc == 0)
		rc = bump_version(tx, e);
	if (rc == 0 && p->out && (rc = member_get_tx(tx, in->code, a, p->out, e)) > 0)
		rc = 0;
	return rc;
}

int exchange_member_put(const struct ctx *c, const struct exchange_member_in *in, bool create_only,
			struct exchange_member *out, struct err *e)
{
	int rc = require_admin(c, e);
	if (rc < 0)
		return rc;
	if (!xcode_valid(in->code))
		err_field(e, "code", "must be 1 to 64 characters of A-Z a-z 0-9 . _ -");
	if (!in->name || !text_valid(in->name, NAME_MAX_))
		err_field(e, "name", "is required: 1 to 300 bytes of text");
	if ((rc = err_fields_done(e)) < 0)
		return rc;
	struct member_put p = {c, in, create_only, out};
	rc = store_write(c->app->db, member_put_fn, &p, e);
	if (rc == 0)
		xreg_invalidate(c->app);
	return rc;
}

struct list_ctx {
	const struct ctx *c;
	const char *f1, *f2;
	void *items;
	int n;
};

static int member_list_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct list_ctx *l = arg;
	struct store_q *q;
	int rc = store_query(tx,
			     "SELECT code, name, agency, disabled, created_at, updated_at FROM exchange_members "
			     "ORDER BY code",
			     NOARGS, &q, e);
	size_t cap = 0;
	struct exchange_member *items = NULL;
	while (rc == 0 && (rc = store_step(q, e)) == 1) {
		items = arena_grow(l->c->a, items, (size_t)l->n, &cap, sizeof *items);
		member_row(q, l->c->a, &items[l->n++]);
		rc = 0;
	}
	store_done(q);
	l->items = items;
	return rc < 0 ? rc : 0;
}

int exchange_member_list(const struct ctx *c, struct exchange_member **out, int *n, struct err *e)
{
	int rc = require_admin(c, e);
	if (rc < 0)
		return rc;
	struct list_ctx l = {c, NULL, NULL, NULL, 0};
	rc = store_read(c->app->db, member_list_fn, &l, e);
	*out = l.items;
	*n = l.n;
	return rc;
}

struct get_ctx {
	const struct ctx *c;
	const char *k1, *k2, *k3;
	void *out;
};

static int member_get_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct get_ctx *g = arg;
	int rc = member_get_tx(tx, g->k1, g->c->a, g->out, e);
	if (rc == 0)
		return err_set(e, ERR_NOT_FOUND, "member '%s' not found", g->k1);
	return rc < 0 ? rc : 0;
}

int exchange_member_get(const struct ctx *c, const char *code, struct exchange_member *out, struct err *e)
{
	int rc = require_admin(c, e);
	if (rc < 0)
		return rc;
	struct get_ctx g = {c, code, NULL, NULL, out};
	return store_read(c->app->db, member_get_fn, &g, e);
}

/* ---- subsystems ---- */

static void subsystem_row(struct store_q *q, struct arena *a, struct exchange_subsystem *s)
{
	s->member = store_dup(q, 0, a);
	s->code = store_dup(q, 1, a);
	s->name = store_dup(q, 2, a);
	s->public_key = store_dup(q, 3, a);
	s->endpoint = store_dup(q, 4, a);
	s->disabled = store_int(q, 5) != 0;
	s->created_at = store_int(q, 6);
	s->updated_at = store_int(q, 7);
}

static int subsystem_get_tx(struct store_tx *tx, const char *member, const char *code, struct arena *a,
			    struct exchange_subsystem *out, struct err *e)
{
	struct store_q *q;
	int rc = store_query(tx,
			     "SELECT member, code, name, public_key, endpoint, disabled, created_at, updated_at "
			     "FROM exchange_subsystems WHERE member = $1 AND code = $2",
			     ARGS(SA_TEXT(member), SA_TEXT(code)), &q, e);
	if (rc == 0 && (rc = store_step(q, e)) == 1)
		subsystem_row(q, a, out);
	store_done(q);
	return rc;
}

struct subsystem_put {
	const struct ctx *c;
	const struct exchange_subsystem_in *in;
	const char *pk;
	bool create_only;
	struct exchange_subsystem *out;
};

static int subsystem_put_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct subsystem_put *p = arg;
	const struct exchange_subsystem_in *in = p->in;
	struct arena *a = p->c->a;
	int64_t one;
	int rc = store_get_int(tx, "SELECT 1 FROM exchange_members WHERE code = $1", ARGS(SA_TEXT(in->member)), &one,
			       e);
	if (rc < 0)
		return rc;
	if (rc == 0)
		return err_set(e, ERR_NOT_FOUND, "member '%s' not found", in->member);
	struct exchange_subsystem old;
	rc = subsystem_get_tx(tx, in->member, in->code, a, &old, e);
	if (rc < 0)
		return rc;
	bool exists = rc == 1;
	if (exists && p->create_only)
		return err_set(e, ERR_CONFLICT, "subsystem '%s/%s' already exists", in->member, in->code);
	const char *endpoint = in->endpoint && *in->endpoint ? in->endpoint : NULL;
	if (exists && streq(old.name, in->name) && streq(old.public_key, p->pk) && streq(old.endpoint, endpoint) &&
	    old.disabled == in->disabled) {
		if (p->out)
			*p->out = old;
		return 0;
	}
	int64_t now = time_now_us();
	if (exists)
		rc = store_exec(tx,
				"UPDATE exchange_subsystems SET name = $3, public_key = $4, endpoint = $5, disabled = $6, "
				"updated_at = $7 WHERE member = $1 AND code = $2",
				ARGS(SA_TEXT(in->member), SA_TEXT(in->code), SA_TEXT(in->name), SA_TEXT(p->pk),
				     SA_TEXT(endpoint), SA_BOOL(in->disabled), SA_INT(now)),
				e);
	else
		rc = store_exec(tx,
				"INSERT INTO exchange_subsystems (member, code, name, public_key, endpoint, disabled, "
				"created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
				ARGS(SA_TEXT(in->member), SA_TEXT(in->code), SA_TEXT(in->name), SA_TEXT(p->pk),
				     SA_TEXT(endpoint), SA_BOOL(in->disabled), SA_INT(now)),
				e);
	if (rc < 0)
		return rc;
	struct buf ch = BUF_INIT;
	struct jw w;
	jw_init(&w, &ch);
	jw_obj(&w);
	jw_kstr(&w, "member", in->member);
	jw_kstr(&w, "code", in->code);
	jw_kstr(&w, "name", in->name);
	jw_kstr(&w, "public_key", p->pk);
	jw_kstr(&w, "endpoint", endpoint);
	jw_kbool(&w, "disabled", in->disabled);
	jw_obj_end(&w);
	rc = audit_append(tx, p->c, exists ? "exchange.subsystem.update" : "exchange.subsystem.create",
			  arena_printf(a, "exchange_subsystem:%s/%s", in->member, in->code), ch.ptr, e);
	buf_free(&ch);
	if (rc == 0)
		rc = bump_version(tx, e);
	if (rc == 0 && p->out && (rc = subsystem_get_tx(tx, in->member, in->code, a, p->out, e)) > 0)
		rc = 0;
	return rc;
}

int exchange_subsystem_put(const struct ctx *c, const struct exchange_subsystem_in *in, bool create_only,
			   struct exchange_subsystem *out, struct err *e)
{
	int rc = require_admin(c, e);
	if (rc < 0)
		return rc;
	if (!xcode_valid(in->member))
		err_field(e, "member", "must be a member code");
	if (!xcode_valid(in->code))
		err_field(e, "code", "must be 1 to 64 characters of A-Z a-z 0-9 . _ -");
	if (!in->name || !text_valid(in->name, NAME_MAX_))
		err_field(e, "name", "is required: 1 to 300 bytes of text");
	if (!hex_valid(in->public_key, 64))
		err_field(e, "public_key", "must be the Ed25519 public key as 64 hex characters");
	if (in->endpoint && *in->endpoint && !url_valid(in->endpoint))
		err_field(e, "endpoint", "must be an http:// or https:// URL without query");
	if ((rc = err_fields_done(e)) < 0)
		return rc;
	char *pk = arena_strdup(c->a, in->public_key);
	for (char *p = pk; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	struct subsystem_put p = {c, in, pk, create_only, out};
	rc = store_write(c->app->db, subsystem_put_fn, &p, e);
	if (rc == 0)
		xreg_invalidate(c->app);
	return rc;
}

static int subsystem_list_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct list_ctx *l = arg;
	struct store_q *q;
	int rc = store_query(tx,
			     "SELECT member, code, name, public_key, endpoint, disabled, created_at, updated_at "
			     "FROM exchange_subsystems WHERE CAST($1 AS TEXT) IS NULL OR member = $1 "
			     "ORDER BY member, code",
			     ARGS(SA_TEXT(l->f1)), &q, e);
	size_t cap = 0;
	struct exchange_subsystem *items = NULL;
	while (rc == 0 && (rc = store_step(q, e)) == 1) {
		items = arena_grow(l->c->a, items, (size_t)l->n, &cap, sizeof *items);
		subsystem_row(q, l->c->a, &items[l->n++]);
		rc = 0;
	}
	store_done(q);
	l->items = items;
	return rc < 0 ? rc : 0;
}

int exchange_subsystem_list(const struct ctx *c, const char *member, struct exchange_subsystem **out, int *n,
			    struct err *e)
{
	int rc = require_admin(c, e);
	if (rc < 0)
		return rc;
	struct list_ctx l = {c, member, NULL, NULL, 0};
	rc = store_read(c->app->db, subsystem_list_fn, &l, e);
	*out = l.items;
	*n = l.n;
	return rc;
}

static int subsystem_get_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct get_ctx *g = arg;
	int rc = subsystem_get_tx(tx, g->k1, g->k2, g->c->a, g->out, e);
	if (rc == 0)
		return err_set(e, ERR_NOT_FOUND, "subsystem '%s/%s' not found", g->k1, g->k2);
	return rc < 0 ? rc : 0;
}

int exchange_subsystem_get(const struct ctx *c, const char *member, const char *code, struct exchange_subsystem *out,
			   struct err *e)
{
	int rc = require_admin(c, e);
	if (rc < 0)
		return rc;
	struct get_ctx g = {c, member, code, NULL, out};
	return store_read(c->app->db, subsystem_get_fn, &g, e);
}

/* ---- services ---- */

static void service_row(struct store_q *q, struct arena *a, struct exchange_service *s)
{
	s->member = store_dup(q, 0, a);
	s->subsystem = store_dup(q, 1, a);
	s->code = store_dup(q, 2, a);
	s->description = store_dup(q, 3, a);
	s->backend_url = store_dup(q, 4, a);
	s->methods = store_dup(q, 5, a);
	s->openapi = store_dup(q, 6, a);
	s->personal_data = store_int(q, 7) != 0;
	s->timeout_ms = (int)store_int(q, 8);
	s->disabled = store_int(q, 9) != 0;
	s->created_at = store_int(q, 10);
	s->updated_at = store_int(q, 11);
}

static int service_get_tx(struct store_tx *tx, const char *member, const char *subsystem, const char *code,
			  struct arena *a, struct exchange_service *out, struct err *e)
{
	struct store_q *q;
	int rc = store_query(tx,
			     "SELECT member, subsystem, code, description, backend_url, methods, openapi, personal_data, "
			     "timeout_ms, disabled, created_at, updated_at FROM exchange_services "
			     "WHERE member = $1 AND subsystem = $2 AND code = $3",
			     ARGS(SA_TEXT(member), SA_TEXT(subsystem), SA_TEXT(code)), &q, e);
	if (rc == 0 && (rc = store_step(q, e)) == 1)
		service_row(q, a, out);
	store_done(q);
	return rc;
}

struct service_put {
	const struct ctx *c;
	const struct exchange_service_in *in;
	const char *methods;
	bool create_only;
	struct exchange_service *out;
};

static int service_put_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct service_put *p = arg;
	const struct exchange_service_in *in = p->in;
	struct arena *a = p->c->a;
	int64_t one;
	int rc = store_get_int(tx, "SELECT 1 FROM exchange_subsystems WHERE member = $1 AND code = $2",
			       ARGS(SA_TEXT(in->member), SA_TEXT(in->subsystem)), &one, e);
	if (rc < 0)
		return rc;
	if (rc == 0)
		return err_set(e, ERR_NOT_FOUND, "subsystem '%s/%s' not found", in->member, in->subsystem);
	struct exchange_service old;
	rc = service_get_tx(tx, in->member, in->subsystem, in->code, a, &old, e);
	if (rc < 0)
		return rc;
	bool exists = rc == 1;
	if (exists && p->create_only)
		return err_set(e, ERR_CONFLICT, "service '%s/%s/%s' already exists", in->member, in->subsystem,
			       in->code);
	const char *openapi = in->openapi && *in->openapi ? in->openapi : NULL;
	if (exists && streq(old.description, in->description) && streq(old.backend_url, in->backend_url) &&
	    streq(old.methods, p->methods) && streq(old.openapi, openapi) && old.personal_data == in->personal_data &&
	    old.timeout_ms == in->timeout_ms && old.disabled == in->disabled) {
		if (p->out)
			*p->out = old;
		return 0;
	}
	int64_t now = time_now_us();
	if (exists)
		rc = store_exec(tx,
				"UPDATE exchange_services SET description = $4, backend_url = $5, methods = $6, "
				"openapi = $7, personal_data = $8, timeout_ms = $9, disabled = $10, updated_at = $11 "
				"WHERE member = $1 AND subsystem = $2 AND code = $3",
				ARGS(SA_TEXT(in->member), SA_TEXT(in->subsystem), SA_TEXT(in->code),
				     SA_TEXT(in->description), SA_TEXT(in->backend_url), SA_TEXT(p->methods),
				     SA_TEXT(openapi), SA_BOOL(in->personal_data), SA_INT(in->timeout_ms),
				     SA_BOOL(in->disabled), SA_INT(now)),
				e);
	else
		rc = store_exec(tx,
				"INSERT INTO exchange_services (member, subsystem, code, description, backend_url, "
				"methods, openapi, personal_data, timeout_ms, disabled, created_at, updated_at) "
				"VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)",
				ARGS(SA_TEXT(in->member), SA_TEXT(in->subsystem), SA_TEXT(in->code),
				     SA_TEXT(in->description), SA_TEXT(in->backend_url), SA_TEXT(p->methods),
				     SA_TEXT(openapi), SA_BOOL(in->personal_data), SA_INT(in->timeout_ms),
				     SA_BOOL(in->disabled), SA_INT(now)),
				e);
	if (rc < 0)
		return rc;
	struct buf ch = BUF_INIT;
	struct jw w;
	jw_init(&w, &ch);
	jw_obj(&w);
	jw_kstr(&w, "service", arena_printf(a, "%s/%s/%s", in->member, in->subsystem, in->code));
	jw_kstr(&w, "description", in->description);
	jw_kstr(&w, "backend_url", in->backend_url);
	jw_kstr(&w, "methods", p->methods);
	if (openapi) {
		char d[65];
		crypto_sha256_hex(openapi, strlen(openapi), d);
		jw_kstr(&w, "openapi_sha256", d);
	}
	jw_kbool(&w, "personal_data", in->personal_data);
	jw_kint(&w, "timeout_ms", in->timeout_ms);
	jw_kbool(&w, "disabled", in->disabled);
	jw_obj_end(&w);
	rc = audit_append(tx, p->c, exists ? "exchange.service.update" : "exchange.service.create",
			  arena_printf(a, "exchange_service:%s/%s/%s", in->member, in->subsystem, in->code), ch.ptr, e);
	buf_free(&ch);
	if (rc == 0)
		rc = bump_version(tx, e);
	if (rc == 0 && p->out && (rc = service_get_tx(tx, in->member, in->subsystem, in->code, a, p->out, e)) > 0)
		rc = 0;
	return rc;
}

int exchange_service_put(const struct ctx *c, const struct exchange_service_in *in, bool create_only,
			 struct exchange_service *out, struct err *e)
{
	int rc = require_admin(c, e);
	if (rc < 0)
		return rc;
	if (!xcode_valid(in->member))
		err_field(e, "member", "must be a member code");
	if (!xcode_valid(in->subsystem))
		err_field(e, "subsystem", "must be a subsystem code");
	if (!xcode_valid(in->code))
		err_field(e, "code", "must be 1 to 64 characters of A-Z a-z 0-9 . _ -");
	if (!in->description || !text_valid(in->description, DESC_MAX))
		err_field(e, "description", "is required: 1 to 2000 bytes of text");
	if (!url_valid(in->backend_url))
		err_field(e, "backend_url", "must be an http:// or https:// URL without query");
	char *methods = methods_norm(in->methods ? in->methods : "GET", c->a);
	if (!methods)
		err_field(e, "methods", "must be a comma-separated list of GET, POST, PUT, PATCH, DELETE");
	if (in->openapi && strlen(in->openapi) > OPENAPI_MAX)
		err_field(e, "openapi", "must be at most 1 MiB");
	else if (in->openapi && *in->openapi && !utf8_valid(in->openapi, strlen(in->openapi)))
		err_field(e, "openapi", "must be UTF-8 text (JSON or YAML)");
	if (in->timeout_ms < 0 || in->timeout_ms > 600000)
		err_field(e, "timeout_ms", "must be 0 (the default) to 600000");
	if ((rc = err_fields_done(e)) < 0)
		return rc;
	struct service_put p = {c, in, methods, create_only, out};
	rc = store_write(c->app->db, service_put_fn, &p, e);
	if (rc == 0)
		xreg_invalidate(c->app);
	return rc;
}

static int service_list_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct list_ctx *l = arg;
	struct store_q *q;
	int rc = store_query(tx,
			     "SELECT member, subsystem, code, description, backend_url, methods, openapi, personal_data, "
			     "timeout_ms, disabled, created_at, updated_at FROM exchange_services "
			     "WHERE CAST($1 AS TEXT) IS NULL OR member = $1 ORDER BY member, subsystem, code",
			     ARGS(SA_TEXT(l->f1)), &q, e);
	size_t cap = 0;
	struct exchange_service *items = NULL;
	while (rc == 0 && (rc = store_step(q, e)) == 1) {
		items = arena_grow(l->c->a, items, (size_t)l->n, &cap, sizeof *items);
		service_row(q, l->c->a, &items[l->n++]);
		rc = 0;
	}
	store_done(q);
	l->items = items;
	return rc < 0 ? rc : 0;
}

int exchange_service_list(const struct ctx *c, const char *member, struct exchange_service **out, int *n,
			  struct err *e)
{
	int rc = require_admin(c, e);
	if (rc < 0)
		return rc;
	struct list_ctx l = {c, member, NULL, NULL, 0};
	rc = store_read(c->app->db, service_list_fn, &l, e);
	*out = l.items;
	*n = l.n;
	return rc;
}

static int service_get_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct get_ctx *g = arg;
	int rc = service_get_tx(tx, g->k1, g->k2, g->k3, g->c->a, g->out, e);
	if (rc == 0)
		return err_set(e, ERR_NOT_FOUND, "service '%s/%s/%s' not found", g->k1, g->k2, g->k3);
	return rc < 0 ? rc : 0;
}

int exchange_service_get(const struct ctx *c, const char *member, const char *subsystem, const char *code,
			 struct exchange_service *out, struct err *e)
{
	int rc = require_admin(c, e);
	if (rc < 0)
		return rc;
	struct get_ctx g = {c, member, subsystem, code, out};
	return store_read(c->app->db, service_get_fn, &g, e);
}

/* ---- access rights ---- */

struct access_put {
	const struct ctx *c;
	const char *service, *client;
	char *sv[3], *cl[2];
	bool grant;
};

static int access_put_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct access_put *p = arg;
	int64_t one;
	int rc;
	if (p->grant) {
		rc = store_get_int(tx,
				   "SELECT 1 FROM exchange_services WHERE member = $1 AND subsystem = $2 AND code = $3",
				   ARGS(SA_TEXT(p->sv[0]), SA_TEXT(p->sv[1]), SA_TEXT(p->sv[2])), &one, e);
		if (rc < 0)
			return rc;
		if (rc == 0)
			return err_set(e, ERR_NOT_FOUND, "service '%s' not found", p->service);
		rc = store_get_int(tx, "SELECT 1 FROM exchange_subsystems WHERE member = $1 AND code = $2",
				   ARGS(SA_TEXT(p->cl[0]), SA_TEXT(p->cl[1])), &one, e);
		if (rc < 0)
			return rc;
		if (rc == 0)
			return err_set(e, ERR_NOT_FOUND, "client subsystem '%s' not found", p->client);
		rc = store_exec(tx,
				"INSERT INTO exchange_access (service, client, service_member, service_subsystem, "
				"service_code, client_member, client_subsystem, granted_by, granted_at) "
				"VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (service, client) DO NOTHING",
				ARGS(SA_TEXT(p->service), SA_TEXT(p->client), SA_TEXT(p->sv[0]), SA_TEXT(p->sv[1]),
				     SA_TEXT(p->sv[2]), SA_TEXT(p->cl[0]), SA_TEXT(p->cl[1]), SA_TEXT(p->c->actor),
				     SA_INT(time_now_us())),
				e);
	} else {
		rc = store_exec(tx, "DELETE FROM exchange_access WHERE service = $1 AND client = $2",
				ARGS(SA_TEXT(p->service), SA_TEXT(p->client)), e);
		if (rc == 0)
			return err_set(e, ERR_NOT_FOUND, "'%s' has no right to '%s'", p->client, p->service);
	}
	if (rc <= 0)
		return rc;
	struct buf ch = BUF_INIT;
	struct jw w;
	jw_init(&w, &ch);
	jw_obj(&w);
	jw_kstr(&w, "service", p->service);
	jw_kstr(&w, "client", p->client);
	jw_obj_end(&w);
	rc = audit_append(tx, p->c, p->grant ? "exchange.access.create" : "exchange.access.delete",
			  arena_printf(p->c->a, "exchange_access:%s>%s", p->service, p->client), ch.ptr, e);
	buf_free(&ch);
	return rc == 0 ? bump_version(tx, e) : rc;
}

static int access_change(const struct ctx *c, const char *service, const char *client, bool grant, struct err *e)
{
	int rc = require_admin(c, e);
	if (rc < 0)
		return rc;
	struct access_put p = {c, service, client, {NULL}, {NULL}, grant};
	if (!xname_split(service, 3, c->a, p.sv))
		err_field(e, "service", "must be 'member/subsystem/service'");
	if (!xname_split(client, 2, c->a, p.cl))
		err_field(e, "client", "must be 'member/subsystem'");
	if ((rc = err_fields_done(e)) < 0)
		return rc;
	rc = store_write(c->app->db, access_put_fn, &p, e);
	if (rc == 0)
		xreg_invalidate(c->app);
	return rc;
}

int exchange_access_put(const struct ctx *c, const char *service, const char *client, struct err *e)
{
	return access_change(c, service, client, true, e);
}

int exchange_access_delete(const struct ctx *c, const char *service, const char *client, struct err *e)
{
	return access_change(c, service, client, false, e);
}

static int access_list_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct list_ctx *l = arg;
	struct store_q *q;
	int rc = store_query(tx,
			     "SELECT service, client, granted_by, granted_at FROM exchange_access "
			     "WHERE (CAST($1 AS TEXT) IS NULL OR service = $1) AND (CAST($2 AS TEXT) IS NULL OR client = $2) "
			     "ORDER BY service, client",
			     ARGS(SA_TEXT(l->f1), SA_TEXT(l->f2)), &q, e);
	size_t cap = 0;
	struct exchange_access *items = NULL;
	while (rc == 0 && (rc = store_step(q, e)) == 1) {
		items = arena_grow(l->c->a, items, (size_t)l->n, &cap, sizeof *items);
		struct exchange_access *x = &items[l->n++];
		x->service = store_dup(q, 0, l->c->a);
		x->client = store_dup(q, 1, l->c->a);
		x->granted_by = store_dup(q, 2, l->c->a);
		x->granted_at = store_int(q, 3);
		rc = 0;
	}
	store_done(q);
	l->items = items;
	return rc < 0 ? rc : 0;
}

int exchange_access_list(const struct ctx *c, const char *service, const char *client, struct exchange_access **out,
			 int *n, struct err *e)
{
	int rc = require_admin(c, e);
	if (rc < 0)
		return rc;
	struct list_ctx l = {c, service, client, NULL, 0};
	rc = store_read(c->app->db, access_list_fn, &l, e);
	*out = l.items;
	*n = l.n;
	return rc;
}

/* ---- deletions ---- */

struct del_ctx {
	const struct ctx *c;
	const char *k1, *k2, *k3;
	int what; /* 0 member, 1 subsystem, 2 service */
};

static int del_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct del_ctx *d = arg;
	int64_t one;
	int rc;
	const char *object, *action;
	if (d->what == 0) {
		rc = store_get_int(tx, "SELECT 1 FROM exchange_subsystems WHERE member = $1 LIMIT 1",
				   ARGS(SA_TEXT(d->k1)), &one, e);
		if (rc != 0)
			return rc < 0 ? rc : err_set(e, ERR_CONFLICT, "member '%s' still has subsystems", d->k1);
		rc = store_exec(tx, "DELETE FROM exchange_members WHERE code = $1", ARGS(SA_TEXT(d->k1)), e);
		if (rc == 0)
			return err_set(e, ERR_NOT_FOUND, "member '%s' not found", d->k1);
		object = arena_printf(d->c->a, "exchange_member:%s", d->k1);
		action = "exchange.member.delete";
	} else if (d->what == 1) {
		rc = store_get_int(tx, "SELECT 1 FROM exchange_services WHERE member = $1 AND subsystem = $2 LIMIT 1",
				   ARGS(SA_TEXT(d->k1), SA_TEXT(d->k2)), &one, e);
		if (rc == 0)
			rc = store_get_int(tx,
					   "SELECT 1 FROM exchange_access WHERE client_member = $1 AND "
					   "client_subsystem = $2 LIMIT 1",
					   ARGS(SA_TEXT(d->k1), SA_TEXT(d->k2)), &one, e);
		if (rc != 0)
			return rc < 0 ? rc
				      : err_set(e, ERR_CONFLICT, "subsystem '%s/%s' still has services or access rights",
						d->k1, d->k2);
		rc = store_exec(tx, "DELETE FROM exchange_subsystems WHERE member = $1 AND code = $2",
				ARGS(SA_TEXT(d->k1), SA_TEXT(d->k2)), e);
		if (rc == 0)
			return err_set(e, ERR_NOT_FOUND, "subsystem '%s/%s' not found", d->k1, d->k2);
		object = arena_printf(d->c->a, "exchange_subsystem:%s/%s", d->k1, d->k2);
		action = "exchange.subsystem.delete";
	} else {
		const char *svc = arena_printf(d->c->a, "%s/%s/%s", d->k1, d->k2, d->k3);
		rc = store_exec(tx, "DELETE FROM exchange_access WHERE service = $1", ARGS(SA_TEXT(svc)), e);
		if (rc >= 0)
			rc = store_exec(tx,
					"DELETE FROM exchange_services WHERE member = $1 AND subsystem = $2 AND code = $3",
					ARGS(SA_TEXT(d->k1), SA_TEXT(d->k2), SA_TEXT(d->k3)), e);
		if (rc == 0)
			return err_set(e, ERR_NOT_FOUND, "service '%s' not found", svc);
		object = arena_printf(d->c->a, "exchange_service:%s", svc);
		action = "exchange.service.delete";
	}
	if (rc < 0)
		return rc;
	rc = audit_append(tx, d->c, action, object, "{}", e);
	return rc == 0 ? bump_version(tx, e) : rc;
}

static int del(const struct ctx *c, struct del_ctx *d, struct err *e)
{
	int rc = require_admin(c, e);
	if (rc < 0)
		return rc;
	rc = store_write(c->app->db, del_fn, d, e);
	if (rc == 0)
		xreg_invalidate(c->app);
	return rc;
}

int exchange_member_delete(const struct ctx *c, const char *code, struct err *e)
{
	struct del_ctx d = {c, code, NULL, NULL, 0};
	return del(c, &d, e);
}

int exchange_subsystem_delete(const struct ctx *c, const char *member, const char *code, struct err *e)
{
	struct del_ctx d = {c, member, code, NULL, 1};
	return del(c, &d, e);
}

int exchange_service_delete(const struct ctx *c, const char *member, const char *subsystem, const char *code,
			    struct err *e)
{
	struct del_ctx d = {c, member, subsystem, code, 2};
	return del(c, &d, e);
}

/* ---- the gateway's snapshot ---- */

struct smap_slot {
	const char *key;
	void *val;
};
struct smap {
	struct smap_slot *slot;
	size_t cap;
};

static uint64_t fnv(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static void smap_init(struct smap *m, size_t n)
{
	m->cap = 16;
	while (m->cap < n * 2)
		m->cap *= 2;
	m->slot = calloc(m->cap, sizeof *m->slot);
	if (!m->slot)
		abort();
}

static void smap_put(struct smap *m, const char *key, void *val)
{
	size_t i = fnv(key) & (m->cap - 1);
	while (m->slot[i].key && strcmp(m->slot[i].key, key) != 0)
		i = (i + 1) & (m->cap - 1);
	m->slot[i].key = key;
	m->slot[i].val = val;
}

static void *smap_get(const struct smap *m, const char *key)
{
	if (!m->cap)
		return NULL;
	size_t i = fnv(key) & (m->cap - 1);
	while (m->slot[i].key) {
		if (strcmp(m->slot[i].key, key) == 0)
			return m->slot[i].val;
		i = (i + 1) & (m->cap - 1);
	}
	return NULL;
}

struct snap_service {
	char *backend_url, *methods, *description;
	bool personal_data;
	int timeout_ms;
};
struct snap_client {
	unsigned char pk[32];
	char *endpoint;
};

struct registry_snap {
	struct arena a;
	struct smap services, clients, access;
};

static void snap_free(struct registry_snap *s)
{
	if (!s)
		return;
	free(s->services.slot);
	free(s->clients.slot);
	free(s->access.slot);
	arena_free(&s->a);
	free(s);
}

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

struct snap_load {
	struct registry_snap *s;
	int64_t version;
};

static int64_t count_rows(struct store_tx *tx, const char *sql, struct err *e)
{
	int64_t n = 0;
	int rc = store_get_int(tx, sql, NOARGS, &n, e);
	return rc < 0 ? rc : n;
}

static int snap_load_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct snap_load *l = arg;
	struct registry_snap *s = calloc(1, sizeof *s);
	if (!s)
		abort();
	int rc = store_get_int(tx, "SELECT registry_version FROM exchange_meta WHERE id = 1", NOARGS, &l->version, e);
	int64_t nsvc = rc < 0 ? rc : count_rows(tx, "SELECT COUNT(*) FROM exchange_services", e);
	int64_t ncl = nsvc < 0 ? nsvc : count_rows(tx, "SELECT COUNT(*) FROM exchange_subsystems", e);
	int64_t nacc = ncl < 0 ? ncl : count_rows(tx, "SELECT COUNT(*) FROM exchange_access", e);
	if (nacc < 0) {
		snap_free(s);
		return (int)nacc;
	}
	smap_init(&s->services, (size_t)nsvc);
	smap_init(&s->clients, (size_t)ncl);
	smap_init(&s->access, (size_t)nacc);
	struct store_q *q;
	rc = store_query(tx,
			 "SELECT v.member, v.subsystem, v.code, v.backend_url, v.methods, v.description, v.personal_data, "
			 "v.timeout_ms FROM exchange_services v "
			 "JOIN exchange_subsystems s ON s.member = v.member AND s.code = v.subsystem "
			 "JOIN exchange_members m ON m.code = v.member "
			 "WHERE v.disabled = 0 AND s.disabled = 0 AND m.disabled = 0",
			 NOARGS, &q, e);
	while (rc == 0 && (rc = store_step(q, e)) == 1) {
		struct snap_service *v = arena_alloc(&s->a, sizeof *v);
		v->backend_url = store_dup(q, 3, &s->a);
		v->methods = store_dup(q, 4, &s->a);
		v->description = store_dup(q, 5, &s->a);
		v->personal_data = store_int(q, 6) != 0;
		v->timeout_ms = (int)store_int(q, 7);
		smap_put(&s->services,
			 arena_printf(&s->a, "%s/%s/%s", store_text(q, 0), store_text(q, 1), store_text(q, 2)), v);
		rc = 0;
	}
	store_done(q);
	if (rc == 0)
		rc = store_query(tx,
				 "SELECT s.member, s.code, s.public_key, s.endpoint FROM exchange_subsystems s "
				 "JOIN exchange_members m ON m.code = s.member WHERE s.disabled = 0 AND m.disabled = 0",
				 NOARGS, &q, e);
	else
		q = NULL;
	while (rc == 0 && (rc = store_step(q, e)) == 1) {
		struct snap_client *c = arena_alloc(&s->a, sizeof *c);
		const char *hex = store_text(q, 2);
		if (strlen(hex) != 64) {
			rc = 0;
			continue;
		}
		for (int i = 0; i < 32; i++)
			c->pk[i] = (unsigned char)(hexval(hex[2 * i]) << 4 | hexval(hex[2 * i + 1]));
		c->endpoint = store_dup(q, 3, &s->a);
		smap_put(&s->clients, arena_printf(&s->a, "%s/%s", store_text(q, 0), store_text(q, 1)), c);
		rc = 0;
	}
	if (q)
		store_done(q);
	if (rc == 0)
		rc = store_query(tx, "SELECT service, client FROM exchange_access", NOARGS, &q, e);
	else
		q = NULL;
	while (rc == 0 && (rc = store_step(q, e)) == 1) {
		smap_put(&s->access, arena_printf(&s->a, "%s>%s", store_text(q, 0), store_text(q, 1)), s);
		rc = 0;
	}
	if (q)
		store_done(q);
	if (rc < 0) {
		snap_free(s);
		return rc;
	}
	snap_free(l->s); /* a retried callback's earlier copy */
	l->s = s;
	return 0;
}

static int version_fn(struct store_tx *tx, void *arg, struct err *e)
{
	int rc = store_get_int(tx, "SELECT registry_version FROM exchange_meta WHERE id = 1", NOARGS, arg, e);
	return rc < 0 ? rc : 0;
}

/* Called with reg_mu held: makes st->reg current. */
static int snap_refresh(struct exchange_state *st, struct err *e)
{
	int64_t now = time_mono_us();
	if (st->reg && st->reg_checked_us && now - st->reg_checked_us < REG_RECHECK_US)
		return 0;
	int64_t version = 0;
	int rc = store_read(st->app->db, version_fn, &version, e);
	if (rc < 0)
		return rc;
	if (!st->reg || version != st->reg_version) {
		struct snap_load l = {NULL, 0};
		rc = store_read(st->app->db, snap_load_fn, &l, e);
		if (rc < 0) {
			snap_free(l.s);
			return rc;
		}
		snap_free(st->reg);
		st->reg = l.s;
		st->reg_version = l.version;
	}
	st->reg_checked_us = now;
	return 0;
}

int xreg_service(struct app *app, const char *service, struct arena *a, struct xreg_service *out, struct err *e)
{
	struct exchange_state *st = exchange_state(app);
	memset(out, 0, sizeof *out);
	pthread_mutex_lock(&st->reg_mu);
	int rc = snap_refresh(st, e);
	if (rc == 0) {
		struct registry_snap *s = st->reg;
		struct snap_service *v = service ? smap_get(&s->services, service) : NULL;
		if (v) {
			out->found = true;
			out->backend_url = arena_strdup(a, v->backend_url);
			out->methods = arena_strdup(a, v->methods);
			out->description = arena_strdup(a, v->description);
			out->personal_data = v->personal_data;
			out->timeout_ms = v->timeout_ms;
		}
	}
	pthread_mutex_unlock(&st->reg_mu);
	return rc;
}

int xreg_client(struct app *app, const char *client, struct arena *a, struct xreg_client *out, struct err *e)
{
	struct exchange_state *st = exchange_state(app);
	memset(out, 0, sizeof *out);
	pthread_mutex_lock(&st->reg_mu);
	int rc = snap_refresh(st, e);
	if (rc == 0) {
		struct snap_client *c = client ? smap_get(&((struct registry_snap *)st->reg)->clients, client) : NULL;
		if (c) {
			out->found = true;
			memcpy(out->pk, c->pk, 32);
			out->endpoint = arena_strdup(a, c->endpoint);
		}
	}
	pthread_mutex_unlock(&st->reg_mu);
	return rc;
}

int xreg_allowed(struct app *app, const char *service, const char *client, bool *out, struct err *e)
{
	struct exchange_state *st = exchange_state(app);
	*out = false;
	char key[2 * EXCHANGE_CODE_MAX * 5 + 8];
	if ((size_t)snprintf(key, sizeof key, "%s>%s", service, client) >= sizeof key)
		return 0;
	pthread_mutex_lock(&st->reg_mu);
	int rc = snap_refresh(st, e);
	if (rc == 0)
		*out = smap_get(&((struct registry_snap *)st->reg)->access, key) != NULL;
	pthread_mutex_unlock(&st->reg_mu);
	return rc;
}

void xreg_invalidate(struct app *app)
{
	struct exchange_state *st = __atomic_load_n(&app->exchange, __ATOMIC_ACQUIRE);
	if (!st)
		return; /* nothing cached yet */
	pthread_mutex_lock(&st->reg_mu);
	st->reg_checked_us = 0;
	pthread_mutex_unlock(&st->reg_mu);
}

void xreg_free(struct exchange_state *st)
{
	snap_free(st->reg);
	st->reg = NULL;
}
