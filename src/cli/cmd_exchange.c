/* cmd_exchange.c: `tinhso exchange ...`: the LGSP registry from the command
 * line (members, subsystems, services, access rights), and the message log's
 * verification, export and the third-party check of an export. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/time.h"
#include "cli/cli.h"
#include "exchange/exchange.h"

static int open_ctx(struct cli *cl, struct ctx *c)
{
	int rc = cli_open_app(cl, true);
	if (rc < 0)
		return rc;
	cli_ctx(cl, c);
	return 0;
}

static int done(struct cli *cl, int rc)
{
	exchange_stop(&cl->app);
	return rc;
}

static const char *need(struct cli *cl, const char *name)
{
	const char *v = cli_get(cl, name);
	if (!v || !*v) {
		err_set(&cl->e, ERR_USAGE, "--%s is required (see --help)", name);
		return NULL;
	}
	return v;
}

int cmd_exchange_member_add(struct cli *cl)
{
	struct ctx c;
	struct exchange_member_in in = {0};
	if (!(in.code = need(cl, "code")) || !(in.name = need(cl, "name")))
		return ERR_USAGE;
	in.agency = cli_get(cl, "agency");
	in.disabled = cli_get(cl, "disabled") != NULL;
	int rc = open_ctx(cl, &c);
	if (rc < 0)
		return rc;
	struct exchange_member m;
	rc = exchange_member_put(&c, &in, cli_get(cl, "update") == NULL, &m, &cl->e);
	if (rc == 0)
		printf("member %s (%s)%s%s\n", m.code, m.name, m.agency ? ", agency " : "", m.agency ? m.agency : "");
	return done(cl, rc);
}

int cmd_exchange_member_list(struct cli *cl)
{
	struct ctx c;
	int rc = open_ctx(cl, &c);
	if (rc < 0)
		return rc;
	struct exchange_member *items;
	int n;
	if ((rc = exchange_member_list(&c, &items, &n, &cl->e)) == 0)
		for (int i = 0; i < n; i++)
			printf("%-24s %-16s %s%s\n", items[i].code, items[i].agency ? items[i].agency : "-", items[i].name,
			       items[i].disabled ? " (disabled)" : "");
	return done(cl, rc);
}

int cmd_exchange_subsystem_add(struct cli *cl)
{
	struct ctx c;
	struct exchange_subsystem_in in = {0};
	if (!(in.member = need(cl, "member")) || !(in.code = need(cl, "code")) || !(in.name = need(cl, "name")) ||
	    !(in.public_key = need(cl, "public-key")))
		return ERR_USAGE;
	in.endpoint = cli_get(cl, "endpoint");
	in.disabled = cli_get(cl, "disabled") != NULL;
	int rc = open_ctx(cl, &c);
	if (rc < 0)
		return rc;
	struct exchange_subsystem s;
	rc = exchange_subsystem_put(&c, &in, cli_get(cl, "update") == NULL, &s, &cl->e);
	if (rc == 0)
		printf("subsystem %s/%s (%s), key %s\n", s.member, s.code, s.name, s.public_key);
	return done(cl, rc);
}

int cmd_exchange_subsystem_list(struct cli *cl)
{
	struct ctx c;
	int rc = open_ctx(cl, &c);
	if (rc < 0)
		return rc;
	struct exchange_subsystem *items;
	int n;
	if ((rc = exchange_subsystem_list(&c, cli_get(cl, "member"), &items, &n, &cl->e)) == 0)
		for (int i = 0; i < n; i++)
			printf("%s/%s\t%s\t%s\t%s%s\n", items[i].member, items[i].code, items[i].public_key,
			       items[i].endpoint ? items[i].endpoint : "(pull)", items[i].name,
			       items[i].disabled ? " (disabled)" : "");
	return done(cl, rc);
}

static char *read_all(struct cli *cl, const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		err_set(&cl->e, ERR_BAD_REQUEST, "cannot read '%s': %s", path, strerror(errno));
		return NULL;
	}
	struct buf b = BUF_INIT;
	char chunk[8192];
	size_t n;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0 && b.len <= (2u << 20))
		buf_append(&b, chunk, n);
	fclose(f);
	char *out = arena_strndup(&cl->arena, buf_cstr(&b), b.len);
	buf_free(&b);
	return out;
}

int cmd_exchange_service_add(struct cli *cl)
{
	struct ctx c;
	struct exchange_service_in in = {0};
	if (!(in.member = need(cl, "member")) || !(in.subsystem = need(cl, "subsystem")) ||
	    !(in.code = need(cl, "code")) || !(in.description = need(cl, "description")) ||
	    !(in.backend_url = need(cl, "backend-url")))
		return ERR_USAGE;
	in.methods = cli_get(cl, "methods");
	in.personal_data = cli_get(cl, "personal-data") != NULL;
	in.disabled = cli_get(cl, "disabled") != NULL;
	const char *t = cli_get(cl, "timeout-ms");
	if (t) {
		char *end;
		long v = strtol(t, &end, 10);
		if (!*t || *end || v < 0 || v > 600000)
			return err_set(&cl->e, ERR_USAGE, "--timeout-ms must be 0 to 600000");
		in.timeout_ms = (int)v;
	}
	const char *oa = cli_get(cl, "openapi");
	if (oa && !(in.openapi = read_all(cl, oa)))
		return ERR_BAD_REQUEST;
	int rc = open_ctx(cl, &c);
	if (rc < 0)
		return rc;
	struct exchange_service s;
	rc = exchange_service_put(&c, &in, cli_get(cl, "update") == NULL, &s, &cl->e);
	if (rc == 0)
		printf("service %s/%s/%s -> %s [%s]%s: /x/%s/%s/%s\n", s.member, s.subsystem, s.code, s.backend_url,
		       s.methods, s.personal_data ? " personal data" : "", s.member, s.subsystem, s.code);
	return done(cl, rc);
}

int cmd_exchange_service_list(struct cli *cl)
{
	struct ctx c;
	int rc = open_ctx(cl, &c);
	if (rc < 0)
		return rc;
	struct exchange_service *items;
	int n;
	if ((rc = exchange_service_list(&c, cli_get(cl, "member"), &items, &n, &cl->e)) == 0)
		for (int i = 0; i < n; i++)
			printf("%s/%s/%s\t%s\t%s\t%s%s%s\n", items[i].member, items[i].subsystem, items[i].code,
			       items[i].methods, items[i].backend_url, items[i].description,
			       items[i].personal_data ? " [personal data]" : "", items[i].disabled ? " (disabled)" : "");
	return done(cl, rc);
}

int cmd_exchange_access_add(struct cli *cl)
{
	struct ctx c;
	const char *service, *client;
	if (!(service = need(cl, "service")) || !(client = need(cl, "client")))
		return ERR_USAGE;
	int rc = open_ctx(cl, &c);
	if (rc < 0)
		return rc;
	if ((rc = exchange_access_put(&c, service, client, &cl->e)) == 0)
		printf("%s may call %s\n", client, service);
	return done(cl, rc);
}

int cmd_exchange_access_remove(struct cli *cl)
{
	struct ctx c;
	const char *service, *client;
	if (!(service = need(cl, "service")) || !(client = need(cl, "client")))
		return ERR_USAGE;
	int rc = open_ctx(cl, &c);
	if (rc < 0)
		return rc;
	if ((rc = exchange_access_delete(&c, service, client, &cl->e)) == 0)
		printf("%s may no longer call %s\n", client, service);
	return done(cl, rc);
}

int cmd_exchange_access_list(struct cli *cl)
{
	struct ctx c;
	int rc = open_ctx(cl, &c);
	if (rc < 0)
		return rc;
	struct exchange_access *items;
	int n;
	if ((rc = exchange_access_list(&c, cli_get(cl, "service"), cli_get(cl, "client"), &items, &n, &cl->e)) == 0)
		for (int i = 0; i < n; i++)
			printf("%s\t%s\t%s\n", items[i].service, items[i].client, items[i].granted_by);
	return done(cl, rc);
}

int cmd_exchange_verify_log(struct cli *cl)
{
	int rc = cli_open_app(cl, true);
	if (rc < 0)
		return rc;
	struct exchange_log_verify res;
	rc = exchange_log_verify(&cl->app, &res, &cl->e);
	if (rc == ERR_CONFLICT) {
		printf("message log BROKEN at record %lld of %lld: %s\n", (long long)res.first_bad,
		       (long long)res.records, res.problem);
		return done(cl, rc);
	}
	if (rc == 0)
		printf("message log intact: %lld records, every hash and signature verified (key %s)\n",
		       (long long)res.records, cl->app.keys.key_id);
	return done(cl, rc);
}

/* RFC 3339, or a date (midnight in Vietnam), or unix seconds. */
static bool parse_when(const char *s, int64_t *us)
{
	int32_t d;
	if (time_parse_rfc3339(s, us))
		return true;
	if (date_parse(s, &d)) {
		*us = ((int64_t)d * 86400 - 7 * 3600) * 1000000;
		return true;
	}
	char *end;
	long long v = strtoll(s, &end, 10);
	if (*s && !*end && v >= 0) {
		*us = v * 1000000;
		return true;
	}
	return false;
}

int cmd_exchange_export_log(struct cli *cl)
{
	int64_t from = 0, to = 0;
	const char *f = cli_get(cl, "from"), *t = cli_get(cl, "to");
	if (f && !parse_when(f, &from))
		return err_set(&cl->e, ERR_USAGE, "--from must be RFC 3339, YYYY-MM-DD or unix seconds");
	if (t && !parse_when(t, &to))
		return err_set(&cl->e, ERR_USAGE, "--to must be RFC 3339, YYYY-MM-DD or unix seconds");
	int rc = cli_open_app(cl, true);
	if (rc < 0)
		return rc;
	int64_t n = exchange_log_export(&cl->app, from, to, cl->pos[0], &cl->e);
	if (n < 0)
		return done(cl, (int)n);
	struct buf hex = BUF_INIT;
	buf_hex(&hex, cl->app.keys.pk, 32);
	printf("exported %lld records to %s; verify with: tinhso exchange verify-export %s --public-key %s\n",
	       (long long)n, cl->pos[0], cl->pos[0], hex.ptr);
	buf_free(&hex);
	return done(cl, 0);
}

int cmd_exchange_verify_export(struct cli *cl)
{
	/* needs no database: the file and the published key are enough */
	struct exchange_log_verify res;
	const char *key = cli_get(cl, "public-key");
	int rc = exchange_log_verify_export(cl->pos[0], key, &res, &cl->e);
	if (rc == ERR_CONFLICT) {
		printf("export BROKEN at record %lld (%lld records read): %s\n", (long long)res.first_bad,
		       (long long)res.records, res.problem);
		return rc;
	}
	if (rc == 0)
		printf("export intact: %lld records, chain and every signature verified with %s\n",
		       (long long)res.records, key ? "the given key" : "the key in the file (compare it with the published key)");
	return rc;
}
