/* backend.c: the provider's backend for bench/exchange/run: a bare
 * libmicrohttpd server (the daemon flags of src/http/http.c) answering every
 * GET with a citizen record of about 400 bytes of JSON, as a population
 * database's lookup service would. The same server is called directly and
 * through the LGSP gateway, so the difference is the gateway.
 *
 *   backend [PORT [WORK_US [THREADS]]]
 * WORK_US (default 0): CPU time spent per request before answering (a busy
 * loop), to model a backend that does real work (a database query); 0 is the
 * worst case for the gateway's share. THREADS: MHD thread pool (default: cores).
 * Prints "backend: listening on 127.0.0.1:PORT" once serving; runs until
 * SIGTERM or SIGINT. Loopback only. Built with cc by bench/exchange/run. */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static long work_us;

static const char body_tpl[] =
	"{\"so_dinh_danh\":\"%.12s\",\"ho_ten\":\"Nguy\xe1\xbb\x85n V\xc4\x83n A\",\"ngay_sinh\":\"1995-03-14\","
	"\"gioi_tinh\":\"nam\",\"quoc_tich\":\"VN\",\"noi_thuong_tru\":{\"tinh\":\"H\xe1\xba\xa3i D\xc6\xb0\xc6\xa1ng\","
	"\"huyen\":\"Th\xc3\xa0nh ph\xe1\xbb\x91 H\xe1\xba\xa3i D\xc6\xb0\xc6\xa1ng\",\"xa\":\"Ph\xc6\xb0\xe1\xbb\x9dng "
	"Tr\xe1\xba\xa7n H\xc6\xb0ng \xc4\x90\xe1\xba\xa1o\"},\"chu_ho\":false,\"tinh_trang\":\"con_song\"}";

static void spin(long us)
{
	struct timespec t0, t;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
	do
		clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	while ((t.tv_sec - t0.tv_sec) * 1000000L + (t.tv_nsec - t0.tv_nsec) / 1000 < us);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
				  const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
	(void)cls;
	(void)version;
	(void)upload;
	static int first_call_marker;
	if (*con_cls == NULL) { /* as in http.c: answer on the second call */
		*con_cls = &first_call_marker;
		return MHD_YES;
	}
	if (*upload_size) {
		*upload_size = 0;
		return MHD_YES;
	}
	if (strcmp(method, "GET") != 0 && strcmp(method, "POST") != 0)
		return MHD_NO;
	if (work_us > 0)
		spin(work_us);
	const char *id = strrchr(url, '/');
	id = id && strlen(id) > 12 ? id + 1 : "030095001234";
	char body[1024];
	int n = snprintf(body, sizeof body, body_tpl, id);
	if (n < 0 || (size_t)n >= sizeof body)
		return MHD_NO;
	struct MHD_Response *r = MHD_create_response_from_buffer((size_t)n, body, MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", "application/json; charset=utf-8");
	enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

int main(int argc, char **argv)
{
	int port = argc > 1 ? atoi(argv[1]) : 0;
	work_us = argc > 2 ? atol(argv[2]) : 0;
	long threads = argc > 3 ? atol(argv[3]) : sysconf(_SC_NPROCESSORS_ONLN);
	if (threads < 1)
		threads = 1;
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
	unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_TURBO | MHD_USE_ERROR_LOG;
	struct MHD_Daemon *d = MHD_start_daemon(
		flags, 0, NULL, NULL, on_request, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
		MHD_OPTION_THREAD_POOL_SIZE, (unsigned)threads, MHD_OPTION_CONNECTION_LIMIT, 4096u,
		MHD_OPTION_PER_IP_CONNECTION_LIMIT, 4096u, MHD_OPTION_CONNECTION_TIMEOUT, 60u,
		MHD_OPTION_LISTENING_ADDRESS_REUSE, 1, MHD_OPTION_END);
	if (!d) {
		fprintf(stderr, "backend: cannot start on port %d\n", port);
		return 69;
	}
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	printf("backend: listening on 127.0.0.1:%u (%ld threads, %ld us of work per request)\n",
	       info ? info->port : (unsigned)port, threads, work_us);
	fflush(stdout);
	int sig = 0;
	sigwait(&set, &sig);
	MHD_stop_daemon(d);
	return 0;
}
