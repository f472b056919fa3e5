/* cmd_serve.c: `tinhso serve`: run the HTTP server until SIGTERM or SIGINT,
 * then stop accepting, drain the requests in flight and exit 0. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app/api.h"
#include "base/log.h"
#include "app/maintenance.h"
#include "cli/cli.h"
#include "dossier/dossier.h"
#include "exchange/exchange.h"
#include "notify/notify.h"
#include "web/web.h"
#include "web/web_draft.h"
#include "sync/sync.h"

static int read_file(struct cli *cl, const char *path, const char *setting, char **out)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return err_set(&cl->e, ERR_CONFIG, "%s: cannot read '%s': %s", setting, path, strerror(errno));
	struct buf b = BUF_INIT;
	char chunk[4096];
	size_t n;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0 && b.len < 1 << 20)
		buf_append(&b, chunk, n);
	fclose(f);
	*out = arena_strndup(&cl->arena, b.ptr ? b.ptr : "", b.len);
	buf_free(&b);
	return 0;
}

static const struct {
	int (*start)(struct app *app, struct err *e);
	void (*stop)(struct app *app);
} services[] = {
	{notify_start, notify_stop},
	{exchange_start, exchange_stop},
	{sync_start, sync_stop},
	{maintenance_start, maintenance_stop},
};

int cmd_serve(struct cli *cl)
{
	int rc = config_check(&cl->cfg, &cl->e);
	if (rc < 0)
		return rc;
	if (cli_get(cl, "check-config")) {
		printf("configuration is valid\n");
		return 0;
	}
	/* every thread created from here on inherits the blocked signals; main waits for them */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	if ((rc = cli_open_app(cl, true)) < 0)
		return rc;
	if (cl->cfg.demo && (rc = cli_load_demo(cl, true)) < 0)
		return rc;

	/* one route table from every module's */
	const struct {
		const struct route *r;
		size_t n;
	} tables[] = {
		{ops_routes, ops_nroutes},
		{identity_routes, identity_nroutes},
		{agency_routes, agency_nroutes},
		{audit_routes, audit_nroutes},
		{procedure_routes, procedure_nroutes},
		{calendar_routes, calendar_nroutes},
		{dossier_routes, dossier_nroutes},
		{payment_routes, payment_nroutes},
		{national_routes, national_nroutes},
		{sync_routes, sync_nroutes},
		{rating_routes, rating_nroutes},
		{exchange_routes, exchange_nroutes},
		{web_routes, web_nroutes},
		{portal_routes, portal_nroutes},
		{apply_routes, apply_nroutes},
		{office_routes, office_nroutes},
		{admin_routes, admin_nroutes},
	};
	size_t total = 0;
	for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++)
		total += tables[i].n;
	struct route *routes = arena_alloc(&cl->arena, sizeof *routes * total);
	size_t k = 0;
	for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++)
		for (size_t j = 0; j < tables[i].n; j++)
			routes[k++] = tables[i].r[j];

	/* uploads stream into DATA/tmp; what a crash left there is garbage */
	char *tmpdir = arena_printf(&cl->arena, "%s/tmp", cl->cfg.data);
	if (mkdir(tmpdir, 0700) != 0 && errno != EEXIST)
		return err_set(&cl->e, ERR_CONFIG, "data: cannot create '%s': %s", tmpdir, strerror(errno));
	DIR *dir = opendir(tmpdir);
	for (struct dirent *de; dir && (de = readdir(dir));)
		if (strncmp(de->d_name, "up-", 3) == 0)
			unlinkat(dirfd(dir), de->d_name, 0);
	if (dir)
		closedir(dir);

	struct http_options ho = {0};
	ho.upload_dir = tmpdir;
	char host[64];
	int port;
	config_parse_listen(cl->cfg.listen, host, &port);
	ho.host = host;
	ho.port = port;
	ho.threads = (int)cl->cfg.threads;
	ho.workers = (int)cl->cfg.workers;
	ho.max_body = (size_t)cl->cfg.max_body;
	ho.max_upload = (size_t)cl->cfg.max_upload;
	ho.max_connections = (unsigned)cl->cfg.max_connections;
	ho.max_per_ip = (unsigned)cl->cfg.max_per_ip;
	ho.conn_timeout = (unsigned)cl->cfg.conn_timeout;
	ho.trust_proxy = cl->cfg.trust_proxy;
	ho.access_log = true;
	/* SQLite's writer wakes fibers; PostgreSQL writes block their thread */
	ho.fibers = store_kind(cl->app.db) == STORE_SQLITE;
	if (cl->cfg.tls_cert[0]) {
		char *cert, *key;
		if ((rc = read_file(cl, cl->cfg.tls_cert, "tls_cert", &cert)) < 0 ||
		    (rc = read_file(cl, cl->cfg.tls_key, "tls_key", &key)) < 0)
			return rc;
		ho.tls_cert_pem = cert;
		ho.tls_key_pem = key;
	}
	/* the pages: templates, catalogs and static files (web_dir, or ../web beside the binary) */
	const char *web_dir = web_dir_resolve(cl->cfg.web_dir, &cl->arena);
	if ((rc = web_init(&cl->app, web_dir, &cl->e)) < 0)
		return rc;
	ho.fallback = web_fallback;
	ho.error_page = web_error_hook;
	{
		struct err de = {0};
		if (draft_sweep(&cl->app, &de) < 0)
			log_warn("application drafts not swept: %s", de.msg);
	}
	/* files a crash left without their record */
	if ((rc = dossier_sweep_orphans(&cl->app, &cl->e)) < 0)
		return rc;
	/* background services: started in order, stopped in reverse */
	size_t started = 0;
	for (; started < sizeof services / sizeof services[0]; started++)
		if ((rc = services[started].start(&cl->app, &cl->e)) < 0)
			break;
	struct http_server *srv = NULL;
	if (rc >= 0)
		rc = http_start(&srv, &ho, routes, total, &cl->app, &cl->e);
	if (rc < 0) {
		while (started-- > 0)
			services[started].stop(&cl->app);
		return rc;
	}
	const char *scheme = ho.tls_cert_pem ? "https" : "http";
	if (!cl->cfg.public_url[0]) {
		/* links printed on receipts and given to the payment gateway need the real port */
		struct buf u = BUF_INIT;
		buf_printf(&u, "%s://%s:%d", scheme, host, http_port(srv));
		atomic_store(&cl->app.bound_url, strdup(u.ptr));
		buf_free(&u);
	}
	log_info("serving %s://%s:%d with %s", scheme, host, http_port(srv),
		 store_kind(cl->app.db) == STORE_SQLITE ? "SQLite" : "PostgreSQL");
	printf("tinhso %s: serving %s://%s:%d (database %s)\n", TINHSO_VERSION, scheme, host, http_port(srv),
	       store_kind(cl->app.db) == STORE_SQLITE ? cl->cfg.db : "postgres");
	fflush(stdout);

	int sig = 0;
	sigwait(&set, &sig);
	log_info("signal %d: draining requests and stopping", sig);
	http_stop(srv, 10000);
	while (started-- > 0)
		services[started].stop(&cl->app);
	log_info("stopped");
	return 0;
}
