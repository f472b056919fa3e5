/* raw_mhd.c: the read-path baseline of bench/run: a bare libmicrohttpd server
 * with the daemon flags of src/http/http.c (epoll internal thread, a thread
 * pool of one thread per core, TURBO, suspend/resume allowed) answering every
 * GET with a small JSON object shaped like an agency. No routing, no arena,
 * no database, no access log: what is left of the tinhso read path once all
 * of tinhso is removed.
 *
 *   raw_mhd [PORT [MEMORY_KIB]]   (PORT 0 or absent: any free port; MEMORY_KIB:
 *                                  per-connection memory limit, default 128 as
 *                                  in http.c, for experiments only)
 * Prints "raw_mhd: listening on 127.0.0.1:PORT" once serving, runs until
 * SIGTERM or SIGINT. Loopback only. Not part of the CMake build (bench/run
 * builds it with cc). */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char body_tpl[] = "{\"code\":\"000.00.00.H23\",\"name\":\"%s\",\"level\":\"province\","
			       "\"kind\":\"people_committee\",\"parent\":null}";

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
				  const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
	(void)cls;
	(void)url;
	(void)version;
	(void)upload;
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return MHD_NO;
	/* As in http.c: the first call only announces the request; queueing the
	 * response there makes MHD 0.9.75 answer "Connection: close". */
	static int first_call_marker;
	if (*con_cls == NULL) {
		*con_cls = &first_call_marker;
		return MHD_YES;
	}
	/* The response is built per request (as a real handler would), not a
	 * persistent buffer reused for every request. */
	char body[256];
	int n = snprintf(body, sizeof body, body_tpl,
			 "\xe1\xbb\xa6y ban nh\xc3\xa2n d\xc3\xa2n t\xe1\xbb\x89nh H\xe1\xba\xa3i D\xc6\xb0\xc6\xa1ng");
	if (n < 0 || (size_t)n >= sizeof body)
		return MHD_NO;
	(void)upload_size;
	struct MHD_Response *r = MHD_create_response_from_buffer((size_t)n, body, MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", "application/json; charset=utf-8");
	MHD_add_response_header(r, "Cache-Control", "no-store");
	enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

int main(int argc, char **argv)
{
	int port = argc > 1 ? atoi(argv[1]) : 0;
	long mem_kib = argc > 2 ? atol(argv[2]) : 128;
	if (mem_kib < 4 || mem_kib > 65536)
		mem_kib = 128;
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	if (cores < 1)
		cores = 1;

	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	struct sockaddr_in sa;
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_port = htons((unsigned short)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

	unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_TURBO | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
	struct MHD_Daemon *d =
	    MHD_start_daemon(flags, 0, NULL, NULL, on_request, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
			     MHD_OPTION_THREAD_POOL_SIZE, (unsigned)cores, MHD_OPTION_CONNECTION_LIMIT, 1024u,
			     MHD_OPTION_PER_IP_CONNECTION_LIMIT, 128u, MHD_OPTION_CONNECTION_TIMEOUT, 30u,
			     MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)mem_kib * 1024,
			     MHD_OPTION_LISTENING_ADDRESS_REUSE, 1, MHD_OPTION_END);
	if (!d) {
		fprintf(stderr, "raw_mhd: cannot start on port %d\n", port);
		return 69;
	}
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	printf("raw_mhd: listening on 127.0.0.1:%u (%ld threads, %ld KiB per connection)\n",
	       info ? info->port : (unsigned)port, cores, mem_kib);
	fflush(stdout);

	int sig = 0;
	sigwait(&set, &sig);
	MHD_stop_daemon(d);
	return 0;
}
