/*
 * The metrics engine: serves GET /metrics (Prometheus text format) when vigild
 * runs with --metrics ADDR:PORT.  libmicrohttpd runs without a thread of its
 * own: its epoll fd is the engine's poll_fd, so requests are answered on the
 * agent's loop, between records, from agent_status_json() (no locking, the
 * same numbers as `vigil status`).  A scrape costs one status object (well
 * under a millisecond); connections are bounded and time out, so a slow or
 * hostile client cannot hold the loop.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <microhttpd.h>

#include "agent.h"
#include "engine.h"
#include "metrics.h"

#define METRICS_CONN_MAX     16    /* concurrent scrapers */
#define METRICS_CONN_TIMEOUT 10    /* s of inactivity before a connection is closed */
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct metrics_srv {
	struct agent *a;
	struct MHD_Daemon *d;
	char listen[128];            /* as bound (the real port when 0 was asked) */
	uint64_t scrapes, errors;
};

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, char *body, const char *type)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
	enum MHD_Result ret;

	if (!r) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **con_cls)
{
	struct metrics_srv *m = cls;
	json_t *st;
	char *text;

	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
		return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, strdup("only GET\n"), "text/plain");
	if (!strcmp(url, "/"))
		return reply(c, MHD_HTTP_OK, strdup("vigild: metrics at /metrics\n"), "text/plain");
	if (strcmp(url, "/metrics"))
		return reply(c, MHD_HTTP_NOT_FOUND, strdup("not found: try /metrics\n"), "text/plain");
	m->scrapes++;
	st = agent_status_json(m->a);
	text = st ? metrics_render_agent(st) : NULL;
	json_decref(st);
	if (!text) {
		m->errors++;
		return reply(c, MHD_HTTP_INTERNAL_SERVER_ERROR, strdup("cannot render the metrics\n"), "text/plain");
	}
	return reply(c, MHD_HTTP_OK, text, METRICS_CONTENT_TYPE);
}

static void *met_create(struct agent *a, const struct vigil_policy *pol, char *err, size_t errlen)
{
	const char *l = agent_metrics_listen(a);
	struct metrics_srv *m = calloc(1, sizeof(*m));
	const union MHD_DaemonInfo *di;
	struct sockaddr_storage ss;
	bool dual;
	char host[INET6_ADDRSTRLEN];

	if (!m) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	m->a = a;
	if (!l)
		return m;        /* off */
	if (metrics_parse_listen(l, &ss, &dual)) {
		snprintf(err, errlen, "--metrics %s: expected ADDRESS:PORT, [IPV6]:PORT or :PORT (port 0-65535)", l);
		free(m);
		return NULL;
	}
	m->d = MHD_start_daemon(MHD_USE_EPOLL | (ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0) |
				(dual ? MHD_USE_DUAL_STACK : 0),
				0, NULL, NULL, on_request, m,
				MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
				MHD_OPTION_CONNECTION_LIMIT, (unsigned)METRICS_CONN_MAX,
				MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)METRICS_CONN_TIMEOUT,
				MHD_OPTION_END);
	if (!m->d) {
		snprintf(err, errlen, "cannot serve metrics on %s: %s", l,
			 errno ? strerror(errno) : "libmicrohttpd refused");
		free(m);
		return NULL;
	}
	di = MHD_get_daemon_info(m->d, MHD_DAEMON_INFO_BIND_PORT);
	if (ss.ss_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, host, sizeof(host));
	else
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, host, sizeof(host));
	snprintf(m->listen, sizeof(m->listen), ss.ss_family == AF_INET6 ? "[%s]:%u" : "%s:%u",
		 host, di ? di->port : 0);
	return m;
}

static int met_poll_fd(void *st)
{
	struct metrics_srv *m = st;
	const union MHD_DaemonInfo *di;

	if (!m->d || !(di = MHD_get_daemon_info(m->d, MHD_DAEMON_INFO_EPOLL_FD)))
		return -1;
	return di->epoll_fd;
}

static void met_on_poll(void *st)
{
	struct metrics_srv *m = st;

	if (m->d)
		MHD_run(m->d);      /* non-blocking: handles what is ready */
}

static void met_tick(void *st, uint64_t boot_ns)
{
	met_on_poll(st);            /* connection time-outs */
}

static json_t *met_status(void *st)
{
	struct metrics_srv *m = st;

	if (!m->d)
		return NULL;
	return json_pack("{s:s, s:s, s:I, s:I}", "listen", m->listen, "path", "/metrics",
			 "scrapes", (json_int_t)m->scrapes, "errors", (json_int_t)m->errors);
}

static void met_destroy(void *st)
{
	struct metrics_srv *m = st;

	if (!m)
		return;
	if (m->d)
		MHD_stop_daemon(m->d);
	free(m);
}

const struct engine metrics_engine = {
	.name = "metrics",
	.create = met_create,
	.tick = met_tick,
	.poll_fd = met_poll_fd,
	.on_poll = met_on_poll,
	.status = met_status,
	.destroy = met_destroy,
};
