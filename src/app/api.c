/* api.c: the call context of a JSON request, the session/CSRF rule, /metrics glue. */
#include "app/api.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "identity/identity.h"

int api_ctx(struct req *r, struct ctx *c, enum api_auth need)
{
	memset(c, 0, sizeof *c);
	c->app = r->app;
	c->a = r->a;
	c->request_id = r->rid;
	c->client_ip = r->client_ip;
	c->actor = "anonymous";
	const char *token = NULL;
	bool cookie = false;
	const char *auth = req_header(r, "Authorization");
	if (auth) {
		if (strncasecmp(auth, "Bearer ", 7) != 0)
			return err_set(&r->err, ERR_UNAUTHENTICATED, "the Authorization header must be 'Bearer <token>'");
		token = auth + 7;
		while (*token == ' ')
			token++;
	} else {
		token = req_cookie(r, API_SESSION_COOKIE);
		cookie = token != NULL;
	}
	if (token && *token) {
		struct principal *p = NULL;
		int rc = identity_authenticate(c->app, token, r->a, &p, &r->err);
		if (rc < 0) {
			/* a stale cookie on a public page is no reason to refuse it */
			if (need == API_REQUIRED || !cookie || rc != ERR_UNAUTHENTICATED)
				return rc;
			err_clear(&r->err);
			p = NULL;
		}
		if (p) {
			p->via_cookie = cookie;
			c->who = p;
			c->actor = arena_printf(r->a, "user:%lld:%s", (long long)p->user_id, p->username);
			r->user = p;
			r->actor = c->actor;
			if (cookie && !req_is_safe_method(r)) {
				const char *csrf = req_header(r, "X-CSRF-Token");
				if (!csrf && r->form_body)
					csrf = req_form(r, "csrf_token");
				size_t n = p->csrf ? strlen(p->csrf) : 0;
				if (!csrf || strlen(csrf) != n || n == 0 || !crypto_ct_equal(csrf, p->csrf, n)) {
					if (need == API_ANON) {
						/* a public write (log in, register) made with a stale
						 * session cookie: act anonymously, never as that user */
						c->who = NULL;
						c->actor = "anonymous";
						r->user = NULL;
						r->actor = NULL;
						return 0;
					}
					return err_set(&r->err, ERR_FORBIDDEN,
						       "missing or wrong CSRF token: send the X-CSRF-Token header "
						       "given at login with cookie-authenticated requests");
				}
			}
		}
	}
	if (need == API_REQUIRED && !c->who)
		return err_set(&r->err, ERR_UNAUTHENTICATED,
			       "authentication required: log in and send 'Authorization: Bearer <token>'");
	return 0;
}

static long rss_bytes(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	long pages = 0, rss = 0;
	if (!f)
		return 0;
	if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
		rss = 0;
	fclose(f);
	return rss * sysconf(_SC_PAGESIZE);
}

void app_metrics_write(struct app *app, struct buf *out)
{
	struct store_stats st;
	store_stats_get(app->db, &st);
	buf_printf(out,
		   "# HELP tinhso_db_errors_total Database statements that failed for a database reason.\n"
		   "# TYPE tinhso_db_errors_total counter\ntinhso_db_errors_total %llu\n"
		   "# HELP tinhso_db_commits_total Write transactions committed.\n"
		   "# TYPE tinhso_db_commits_total counter\ntinhso_db_commits_total %llu\n"
		   "# HELP tinhso_db_writes_total Write operations committed (several per commit when grouped).\n"
		   "# TYPE tinhso_db_writes_total counter\ntinhso_db_writes_total %llu\n"
		   "# HELP tinhso_db_checkpoints_total SQLite WAL checkpoints run.\n"
		   "# TYPE tinhso_db_checkpoints_total counter\ntinhso_db_checkpoints_total %llu\n"
		   "# HELP tinhso_process_resident_memory_bytes Resident memory of the server.\n"
		   "# TYPE tinhso_process_resident_memory_bytes gauge\ntinhso_process_resident_memory_bytes %ld\n",
		   (unsigned long long)st.errors, (unsigned long long)st.commits, (unsigned long long)st.batched,
		   (unsigned long long)st.checkpoints, rss_bytes());
}
