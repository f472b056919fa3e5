/* sim.c: tinhso-sim, the simulated national systems for demos and tests.
 * It serves on loopback what the real systems serve over the network, so the
 * adapters in tinhso cannot tell the difference. Each simulated system
 * registers its routes in sim_routes below. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "base/config.h"
#include "base/log.h"
#include "http/http.h"
#include "sim/sim.h"

static int h_livez(struct req *r)
{
	struct jw *w = res_json(r, 200);
	jw_obj(w);
	jw_kstr(w, "status", "ok");
	jw_kstr(w, "service", "tinhso-sim");
	jw_obj_end(w);
	return 0;
}

static const struct route sim_own_routes[] = {
	{"GET", "/livez", h_livez, ROUTE_NO_LOG},
};

static void usage(FILE *out)
{
	fprintf(out, "Usage: tinhso-sim [--listen HOST:PORT] [--payment-secret S]\n\n"
		     "Simulated national systems (for demos and tests) on loopback.\n"
		     "Prints 'tinhso-sim: serving http://HOST:PORT' when ready; SIGTERM stops it.\n");
}

int main(int argc, char **argv)
{
	const char *listen = "127.0.0.1:8090";
	struct sim_options so = {"demo-payment-secret"};
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc) {
			listen = argv[++i];
		} else if (strncmp(argv[i], "--listen=", 9) == 0) {
			listen = argv[i] + 9;
		} else if (strcmp(argv[i], "--payment-secret") == 0 && i + 1 < argc) {
			so.payment_secret = argv[++i];
		} else {
			usage(stderr);
			return 64;
		}
	}
	char host[64];
	int port;
	if (!config_parse_listen(listen, host, &port)) {
		fprintf(stderr, "tinhso-sim: --listen '%s' is not HOST:PORT\n", listen);
		return 64;
	}
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	struct http_options ho = {0};
	ho.host = host;
	ho.port = port;
	ho.threads = 1;
	ho.workers = 4;
	ho.max_body = 1 << 20;
	ho.max_connections = 256;
	ho.max_per_ip = 256;
	ho.conn_timeout = 30;
	sim_payment_setup(&so);
	const struct {
		const struct route *r;
		size_t n;
	} tables[] = {
		{sim_own_routes, sizeof sim_own_routes / sizeof sim_own_routes[0]},
		{sim_payment_routes, sim_payment_nroutes},
		{sim_sms_routes, sim_sms_nroutes},
		{sim_national_routes, sim_national_nroutes},
		{sim_dvcqg_routes, sim_dvcqg_nroutes},
	};
	struct route routes[256];
	size_t nroutes = 0;
	for (size_t t = 0; t < sizeof tables / sizeof tables[0]; t++)
		for (size_t j = 0; j < tables[t].n && nroutes < 256; j++)
			routes[nroutes++] = tables[t].r[j];
	struct http_server *srv;
	struct err e = {0};
	if (http_start(&srv, &ho, routes, nroutes, NULL, &e) < 0) {
		fprintf(stderr, "tinhso-sim: %s\n", e.msg);
		return err_exit_code(e.code);
	}
	printf("tinhso-sim: serving http://%s:%d\n", host, http_port(srv));
	fflush(stdout);
	int sig;
	sigwait(&set, &sig);
	http_stop(srv, 5000);
	return 0;
}
