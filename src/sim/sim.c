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

static int h_livez(struct req *r)
{
	struct jw *w = res_json(r, 200);
	jw_obj(w);
	jw_kstr(w, "status", "ok");
	jw_kstr(w, "service", "tinhso-sim");
	jw_obj_end(w);
	return 0;
}

static const struct route sim_routes[] = {
	{"GET", "/livez", h_livez, ROUTE_NO_LOG},
};

static void usage(FILE *out)
{
	fprintf(out, "Usage: tinhso-sim [--listen HOST:PORT]\n\n"
		     "Simulated national systems (for demos and tests) on loopback.\n"
		     "Prints 'tinhso-sim: serving http://HOST:PORT' when ready; SIGTERM stops it.\n");
}

int main(int argc, char **argv)
{
	const char *listen = "127.0.0.1:8090";
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc) {
			listen = argv[++i];
		} else if (strncmp(argv[i], "--listen=", 9) == 0) {
			listen = argv[i] + 9;
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
	struct http_server *srv;
	struct err e = {0};
	if (http_start(&srv, &ho, sim_routes, sizeof sim_routes / sizeof sim_routes[0], NULL, &e) < 0) {
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
