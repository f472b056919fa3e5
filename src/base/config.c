/* config.c: the settings table and its four sources. */
#include "base/config.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/log.h"

#define OPT_S(n, d, h) {#n, CT_STR, offsetof(struct config, n), d, 0, 0, h}
#define OPT_I(n, d, lo, hi, h) {#n, CT_INT, offsetof(struct config, n), d, lo, hi, h}
#define OPT_B(n, d, h) {#n, CT_BOOL, offsetof(struct config, n), d, 0, 1, h}

const struct config_opt config_opts[] = {
	OPT_S(config_file, "", "INI file to read (also TINHSO_CONFIG_FILE)"),
	OPT_S(db, "sqlite:var/tinhso.db", "database: sqlite:PATH or postgres://USER@HOST:PORT/DB"),
	OPT_S(data, "var", "directory for keys and files"),
	OPT_S(listen, "127.0.0.1:8080", "HOST:PORT to serve on"),
	OPT_S(public_url, "", "URL the public reaches the portal at (default http://LISTEN)"),
	OPT_S(web_dir, "web", "directory of templates, static files and catalogs"),
	OPT_S(log_level, "info", "debug | info | warn | error | off"),
	OPT_S(levels, "province,district,commune", "administrative levels, top first (2025: province,commune)"),
	OPT_S(tls_cert, "", "PEM certificate: serve HTTPS (with HSTS) when set with tls_key"),
	OPT_S(tls_key, "", "PEM private key for tls_cert"),
	OPT_S(sim_url, "", "tinhso-sim URL for the simulated national systems (demo and tests)"),
	OPT_S(payment_url, "", "payment gateway URL (default: sim_url)"),
	OPT_S(payment_secret, "", "secret the payment gateway signs its callbacks with (HMAC-SHA512)"),
	OPT_S(smtp_url, "", "SMTP server for e-mail notifications, e.g. smtp://mail.example.gov.vn:25"),
	OPT_S(smtp_from, "tinhso@localhost", "sender address of e-mail notifications"),
	OPT_S(sms_url, "", "HTTP SMS gateway URL (default: sim_url)"),
	OPT_S(notify_file, "notifications.jsonl", "notification sink file under data (empty: off)"),
	OPT_S(population_url, "", "population database URL (default: sim_url/population)"),
	OPT_S(business_url, "", "business registry URL (default: sim_url/business)"),
	OPT_S(land_url, "", "land database URL (default: sim_url/land)"),
	OPT_S(insurance_url, "", "social insurance database URL (default: sim_url/insurance)"),
	OPT_S(judicial_url, "", "judicial records database URL (default: sim_url/judicial)"),
	OPT_S(dvcqg_url, "", "National Public Service Portal sync API URL (default: sim_url/dvcqg)"),
	OPT_S(national_via, "gateway", "reach the national systems: gateway (through the LGSP, logged) | direct"),
	OPT_S(national_client, "000.00.01.H23/MOTCUA", "LGSP subsystem (member/subsystem) national calls are made as"),
	OPT_I(threads, "0", 0, 256, "HTTP event threads (0 = one per core)"),
	OPT_I(workers, "64", 1, 1024, "threads for blocking handlers (network, password hashing; all writes on PostgreSQL)"),
	OPT_I(max_body, "1048576", 1024, 1073741824, "largest JSON request body in bytes"),
	OPT_I(max_upload, "52428800", 1024, 4294967296, "largest multipart upload in bytes"),
	OPT_I(max_connections, "1024", 4, 100000, "open connections in total"),
	OPT_I(max_per_ip, "128", 1, 100000, "open connections per client IP"),
	OPT_I(conn_timeout, "30", 1, 3600, "seconds before an idle connection is closed"),
	OPT_I(db_pool, "16", 1, 512, "PostgreSQL connections per server"),
	OPT_I(batch_max, "256", 1, 10000, "SQLite writes committed together at most"),
	OPT_I(session_idle, "1800", 60, 604800, "seconds a session lives without use"),
	OPT_I(session_absolute, "43200", 300, 2592000, "seconds a session lives at most"),
	OPT_I(argon2_ops, "3", 1, 10, "Argon2id passes (opslimit)"),
	OPT_I(argon2_mem_kib, "65536", 8, 4194304, "Argon2id memory in KiB"),
	OPT_I(login_window, "900", 10, 86400, "seconds over which failed logins count"),
	OPT_I(login_free_failures, "5", 1, 100, "failed logins per account before each try is delayed"),
	OPT_I(login_ip_failures, "50", 1, 100000, "failed logins per IP in a window before it is refused"),
	OPT_I(notify_workers, "2", 0, 64, "threads delivering notifications and other outbox work (0 = none)"),
	OPT_I(outbox_max_attempts, "12", 1, 1000, "delivery attempts before outbox work is given up"),
	OPT_I(due_soon_minutes, "180", 1, 100000, "office minutes before a deadline that count as due soon"),
	OPT_I(lookup_per_minute, "20", 1, 100000, "public dossier lookups per client address per minute"),
	OPT_I(national_timeout_ms, "10000", 100, 120000, "ms a national system has to answer (then 504)"),
	OPT_I(exchange_timeout_ms, "30000", 100, 600000, "LGSP gateway: ms a backend has to answer (then 504)"),
	OPT_I(exchange_connect_timeout_ms, "3000", 50, 60000, "LGSP gateway: ms to connect to a backend (then 502)"),
	OPT_I(exchange_max_response, "33554432", 1024, 1073741824, "LGSP gateway: largest backend answer in bytes (then 502)"),
	OPT_I(exchange_workers, "1", 0, 64, "LGSP asynchronous message delivery threads (0 = pull only)"),
	OPT_I(exchange_nonce_cache, "2000000", 1000, 100000000, "LGSP replay cache: request nonces remembered at most"),
	OPT_B(trust_proxy, "false", "take the client address from X-Forwarded-For (behind a proxy)"),
	OPT_B(demo, "false", "load the demo province at start (serve)"),
	OPT_B(totp_required_admin, "true", "admins must log in with a TOTP code"),
};
const size_t config_nopts = sizeof config_opts / sizeof config_opts[0];

static void norm_name(const char *in, char *out, size_t cap)
{
	size_t i = 0;
	for (; in[i] && i + 1 < cap; i++)
		out[i] = in[i] == '-' ? '_' : (char)tolower((unsigned char)in[i]);
	out[i] = 0;
}

const struct config_opt *config_find(const char *name)
{
	char n[64];
	norm_name(name, n, sizeof n);
	for (size_t i = 0; i < config_nopts; i++)
		if (strcmp(config_opts[i].name, n) == 0)
			return &config_opts[i];
	return NULL;
}

static int opt_apply(struct config *c, const struct config_opt *o, const char *value, const char *source,
		     struct err *e)
{
	void *field = (char *)c + o->offset;
	switch (o->type) {
	case CT_STR: {
		char **s = field;
		free(*s);
		*s = strdup(value);
		if (!*s)
			abort();
		return 0;
	}
	case CT_INT: {
		char *end;
		errno = 0;
		long long v = strtoll(value, &end, 10);
		if (errno || end == value || *end)
			return err_set(e, ERR_CONFIG, "%s (%s): '%s' is not an integer", o->name, source, value);
		if (v < o->min || v > o->max)
			return err_set(e, ERR_CONFIG, "%s (%s): %lld is outside %lld..%lld", o->name, source, v,
				       (long long)o->min, (long long)o->max);
		*(int64_t *)field = v;
		return 0;
	}
	case CT_BOOL: {
		bool *b = field;
		if (!strcasecmp(value, "true") || !strcmp(value, "1") || !strcasecmp(value, "yes") ||
		    !strcasecmp(value, "on"))
			*b = true;
		else if (!strcasecmp(value, "false") || !strcmp(value, "0") || !strcasecmp(value, "no") ||
			 !strcasecmp(value, "off"))
			*b = false;
		else
			return err_set(e, ERR_CONFIG, "%s (%s): '%s' is not true or false", o->name, source, value);
		return 0;
	}
	}
	return 0;
}

void config_defaults(struct config *c)
{
	memset(c, 0, sizeof *c);
	struct err e = {0};
	for (size_t i = 0; i < config_nopts; i++)
		opt_apply(c, &config_opts[i], config_opts[i].def, "default", &e);
}

int config_set(struct config *c, const char *name, const char *value, struct err *e)
{
	const struct config_opt *o = config_find(name);
	if (!o)
		return err_set(e, ERR_USAGE, "unknown option '--%s'", name);
	return opt_apply(c, o, value, "flag", e);
}

struct ini_ctx {
	struct config *c;
	struct err *e;
	const char *path;
};

static int config_ini_line(void *user, const char *section, const char *name, const char *value)
{
	struct ini_ctx *x = user;
	(void)section;
	if (x->e->code)
		return 0;
	const struct config_opt *o = config_find(name);
	if (!o || o == &config_opts[0]) {
		err_set(x->e, ERR_CONFIG, "%s: unknown setting '%s'", x->path, name);
		return 0;
	}
	opt_apply(x->c, o, value, x->path, x->e);
	return x->e->code ? 0 : 1;
}

int config_load_file(struct config *c, const char *path, struct err *e)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return err_set(e, ERR_CONFIG, "config_file: cannot open '%s': %s", path, strerror(errno));
	struct ini_ctx x = {c, e, path};
	int rc = ini_parse_file(f, config_ini_line, &x);
	fclose(f);
	if (e->code)
		return e->code;
	if (rc > 0)
		return err_set(e, ERR_CONFIG, "%s:%d: not valid INI syntax", path, rc);
	if (rc < 0)
		return err_set(e, ERR_CONFIG, "config_file: cannot read '%s'", path);
	return 0;
}

int config_load_env(struct config *c, struct err *e)
{
	for (size_t i = 0; i < config_nopts; i++) {
		char env[80] = "TINHSO_";
		size_t k = 7;
		for (const char *p = config_opts[i].name; *p && k + 1 < sizeof env; p++)
			env[k++] = (char)toupper((unsigned char)*p);
		env[k] = 0;
		const char *v = getenv(env);
		if (v) {
			int rc = opt_apply(c, &config_opts[i], v, env, e);
			if (rc < 0)
				return rc;
		}
	}
	return 0;
}

bool config_parse_listen(const char *s, char *host, int *port)
{
	const char *colon;
	size_t hl;
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (!close || close[1] != ':')
			return false;
		hl = (size_t)(close - s - 1);
		if (hl == 0 || hl >= 64)
			return false;
		memcpy(host, s + 1, hl);
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return false;
		hl = (size_t)(colon - s);
		if (hl == 0 || hl >= 64)
			return false;
		memcpy(host, s, hl);
	}
	host[hl] = 0;
	char *end;
	long p = strtol(colon + 1, &end, 10);
	if (end == colon + 1 || *end || p < 0 || p > 65535)
		return false;
	*port = (int)p;
	return true;
}

int config_levels(const struct config *c, char out[][32], int max)
{
	int n = 0;
	const char *p = c->levels;
	while (*p && n < max) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		while (len && isspace((unsigned char)*p)) {
			p++;
			len--;
		}
		while (len && isspace((unsigned char)p[len - 1]))
			len--;
		if (len && len < 32) {
			memcpy(out[n], p, len);
			out[n][len] = 0;
			n++;
		}
		if (!comma)
			break;
		p = comma + 1;
	}
	return n;
}

int config_check(const struct config *c, struct err *e)
{
	char host[64];
	int port;
	if (!config_parse_listen(c->listen, host, &port))
		return err_set(e, ERR_CONFIG, "listen: '%s' is not HOST:PORT", c->listen);
	if (log_level_parse(c->log_level) < 0)
		return err_set(e, ERR_CONFIG, "log_level: '%s' is not one of debug, info, warn, error, off",
			       c->log_level);
	char lv[8][32];
	int n = config_levels(c, lv, 8);
	if (n < 1)
		return err_set(e, ERR_CONFIG, "levels: at least one administrative level is needed");
	for (int i = 0; i < n; i++) {
		for (const char *p = lv[i]; *p; p++)
			if (!(islower((unsigned char)*p) || *p == '_'))
				return err_set(e, ERR_CONFIG, "levels: '%s' must be lowercase letters", lv[i]);
		for (int j = 0; j < i; j++)
			if (!strcmp(lv[i], lv[j]))
				return err_set(e, ERR_CONFIG, "levels: '%s' appears twice", lv[i]);
	}
	if (strncmp(c->db, "sqlite:", 7) && strncmp(c->db, "postgres://", 11) && strncmp(c->db, "postgresql://", 13))
		return err_set(e, ERR_CONFIG, "db: '%s' is neither sqlite:PATH nor postgres://...", c->db);
	if ((c->tls_cert[0] != 0) != (c->tls_key[0] != 0))
		return err_set(e, ERR_CONFIG, "%s: TLS needs both tls_cert and tls_key", c->tls_cert[0] ? "tls_key" : "tls_cert");
	if (c->tls_cert[0] && access(c->tls_cert, R_OK) != 0)
		return err_set(e, ERR_CONFIG, "tls_cert: cannot read '%s'", c->tls_cert);
	if (c->tls_key[0] && access(c->tls_key, R_OK) != 0)
		return err_set(e, ERR_CONFIG, "tls_key: cannot read '%s'", c->tls_key);
	if (c->public_url[0] && strncmp(c->public_url, "http://", 7) && strncmp(c->public_url, "https://", 8))
		return err_set(e, ERR_CONFIG, "public_url: '%s' must start with http:// or https://", c->public_url);
	if (strcmp(c->national_via, "direct") && strcmp(c->national_via, "gateway"))
		return err_set(e, ERR_CONFIG, "national_via: '%s' is neither direct nor gateway", c->national_via);
	return 0;
}

void config_usage(FILE *out)
{
	fprintf(out, "Settings (flag / INI key / environment variable, default):\n");
	for (size_t i = 0; i < config_nopts; i++) {
		const struct config_opt *o = &config_opts[i];
		char flag[64], env[64];
		size_t k = 0;
		for (const char *p = o->name; *p && k + 1 < sizeof flag; p++)
			flag[k++] = *p == '_' ? '-' : *p;
		flag[k] = 0;
		k = 0;
		for (const char *p = o->name; *p && k + 1 < sizeof env; p++)
			env[k++] = (char)toupper((unsigned char)*p);
		env[k] = 0;
		fprintf(out, "  --%-22s TINHSO_%-20s %s [%s]\n", o->type == CT_BOOL ? flag : flag, env, o->help,
			o->def[0] ? o->def : "none");
	}
}

void config_free(struct config *c)
{
	for (size_t i = 0; i < config_nopts; i++)
		if (config_opts[i].type == CT_STR) {
			char **s = (char **)((char *)c + config_opts[i].offset);
			free(*s);
			*s = NULL;
		}
}
