/*
 * vigil-scored: the scoring service.  Binds libmicrohttpd to the handlers in
 * userspace/lib/scored_api.c; storage is SQLite (scored_db.c).
 *
 *   vigil-scored --db PATH [--listen ADDR:PORT] [--tls-cert PEM --tls-key PEM] [--threads N]
 *   vigil-scored --db PATH token add NAME [--role agent|reader|operator]
 *   vigil-scored --db PATH token list | token revoke NAME
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <microhttpd.h>

#include "jsonx.h"
#include "scored.h"
#include "util.h"

#define MAX_ARGS 32

struct upload {
	char *buf;
	size_t len, cap;
	size_t total;                    /* bytes received, kept after too_large */
	bool too_large;
};

struct argv_ctx {
	struct scored_arg args[MAX_ARGS];
	size_t n;
};

static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct argv_ctx *a = cls;

	if (a->n < MAX_ARGS && key)
		a->args[a->n++] = (struct scored_arg){ key, value ? value : "" };
	return MHD_YES;
}

static enum MHD_Result send_json(struct MHD_Connection *con, int status, json_t *body)
{
	char *s = json_dumps(body, JSON_COMPACT | JSONX_REAL_DIGITS);
	struct MHD_Response *r;
	enum MHD_Result ret;

	if (!s)
		s = strdup("{\"error\":\"out of memory\"}");
	r = MHD_create_response_from_buffer(strlen(s), s, MHD_RESPMEM_MUST_FREE);
	MHD_add_response_header(r, "Content-Type", "application/json");
	MHD_add_response_header(r, "Cache-Control", "no-store");
	ret = MHD_queue_response(con, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *con, const char *url, const char *method,
				  const char *version, const char *data, size_t *data_size, void **con_cls)
{
	struct scored *s = cls;
	struct upload *u = *con_cls;
	struct argv_ctx a = { .n = 0 };
	struct scored_resp rs = { 0 };
	enum MHD_Result ret;

	if (!u) {
		if (!(u = calloc(1, sizeof(*u))))
			return MHD_NO;
		*con_cls = u;
		return MHD_YES;
	}
	if (*data_size) {
		u->total += *data_size;
		if (!u->too_large && u->len + *data_size > SCORED_BODY_MAX) {
			u->too_large = true;
			free(u->buf);
			u->buf = NULL;
		}
		if (!u->too_large) {
			if (u->len + *data_size + 1 > u->cap) {
				size_t nc = (u->len + *data_size + 1) * 2;
				char *nb = realloc(u->buf, nc > SCORED_BODY_MAX + 1 ? SCORED_BODY_MAX + 1 : nc);
				if (!nb)
					return MHD_NO;
				u->buf = nb;
				u->cap = nc > SCORED_BODY_MAX + 1 ? SCORED_BODY_MAX + 1 : nc;
			}
			memcpy(u->buf + u->len, data, *data_size);
			u->len += *data_size;
			u->buf[u->len] = 0;
		}
		*data_size = 0;
		return MHD_YES;
	}
	MHD_get_connection_values(con, MHD_GET_ARGUMENT_KIND, collect_arg, &a);
	struct scored_req rq = {
		.method = method, .path = url, .args = a.args, .nargs = a.n,
		.authorization = MHD_lookup_connection_value(con, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION),
		.body = u->buf, .body_len = u->too_large ? u->total : u->len,   /* too large: scored_handle answers 413 */
	};
	scored_handle(s, &rq, &rs);
	if (rs.text) {
		struct MHD_Response *r = MHD_create_response_from_buffer(strlen(rs.text), rs.text, MHD_RESPMEM_MUST_FREE);
		MHD_add_response_header(r, "Content-Type", rs.content_type ? rs.content_type : "text/plain; charset=utf-8");
		MHD_add_response_header(r, "Cache-Control", "no-store");
		ret = MHD_queue_response(con, rs.status, r);
		MHD_destroy_response(r);
	} else {
		ret = send_json(con, rs.status, rs.body);
	}
	json_decref(rs.body);
	return ret;
}

static void on_done(void *cls, struct MHD_Connection *con, void **con_cls, enum MHD_RequestTerminationCode toe)
{
	struct upload *u = *con_cls;

	if (u) {
		free(u->buf);
		free(u);
		*con_cls = NULL;
	}
}

static void usage(FILE *f)
{
	fprintf(f,
"Usage: vigil-scored --db PATH [--listen ADDR:PORT] [--tls-cert PEM --tls-key PEM] [--threads N]\n"
"       vigil-scored --db PATH token add NAME [--role agent|reader|operator]\n"
"       vigil-scored --db PATH token list\n"
"       vigil-scored --db PATH token revoke NAME\n"
"\n"
"The scoring service: agents post posture snapshots and alert batches with\n"
"per-host bearer tokens; readers get the fleet secure score, recommendations\n"
"ranked by potential increase, alerts and the asset inventory (API under /api/v1).\n"
"GET /metrics serves Prometheus metrics without a token (counts only).\n"
"  --db PATH          SQLite database (created; WAL mode)\n"
"  --listen ADDR:PORT address to listen on (default 127.0.0.1:8700; [::1]:PORT for IPv6)\n"
"  --tls-cert PEM     serve HTTPS with this certificate (and --tls-key)\n"
"  --threads N        worker threads (default 2)\n"
"A token is printed once by `token add`; only its SHA-256 is stored.\n");
}

static int cmd_token(struct scored_db *db, int argc, char **argv)
{
	char tok[65];
	int role = SCORED_ROLE_AGENT, r;

	if (argc >= 1 && !strcmp(argv[0], "list")) {
		json_t *l = scored_token_list(db);
		char *s = l ? json_dumps(l, JSON_INDENT(1)) : NULL;
		if (!s) {
			fprintf(stderr, "Error: cannot list tokens\n");
			return VIGIL_EXIT_USAGE;
		}
		puts(s);
		free(s);
		json_decref(l);
		return 0;
	}
	if (argc >= 2 && !strcmp(argv[0], "revoke")) {
		r = scored_token_revoke(db, argv[1]);
		if (r) {
			fprintf(stderr, "Error: %s: %s\n", argv[1], r == -ENOENT ? "no such token" : strerror(-r));
			return VIGIL_EXIT_USAGE;
		}
		return 0;
	}
	if (argc >= 2 && !strcmp(argv[0], "add")) {
		for (int i = 2; i < argc; i++) {
			if (!strcmp(argv[i], "--role") && i + 1 < argc) {
				role = scored_role_parse(argv[++i]);
				if (role < 0) {
					fprintf(stderr, "Error: --role must be agent, reader or operator\n");
					return VIGIL_EXIT_USAGE;
				}
			} else {
				fprintf(stderr, "Error: unexpected argument '%s'\n", argv[i]);
				return VIGIL_EXIT_USAGE;
			}
		}
		r = scored_token_add(db, argv[1], role, tok);
		if (r) {
			fprintf(stderr, "Error: cannot add a token for %s: %s\n", argv[1], strerror(-r));
			return VIGIL_EXIT_USAGE;
		}
		printf("%s\n", tok);
		return 0;
	}
	usage(stderr);
	return VIGIL_EXIT_USAGE;
}

static int parse_listen(const char *s, struct sockaddr_storage *ss, bool *v6)
{
	char host[128];
	const char *colon = strrchr(s, ':');
	long port;
	char *end;

	if (!colon || (size_t)(colon - s) >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, colon - s);
	host[colon - s] = 0;
	port = strtol(colon + 1, &end, 10);
	if (*end || port < 1 || port > 65535)
		return -EINVAL;
	memset(ss, 0, sizeof(*ss));
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
		host[strlen(host) - 1] = 0;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		*v6 = true;
		return inet_pton(AF_INET6, host + 1, &a->sin6_addr) == 1 ? 0 : -EINVAL;
	}
	struct sockaddr_in *a = (struct sockaddr_in *)ss;
	a->sin_family = AF_INET;
	a->sin_port = htons((uint16_t)port);
	*v6 = false;
	return inet_pton(AF_INET, host, &a->sin_addr) == 1 ? 0 : -EINVAL;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "db", required_argument, NULL, 'd' },
		{ "listen", required_argument, NULL, 'l' },
		{ "tls-cert", required_argument, NULL, 'c' },
		{ "tls-key", required_argument, NULL, 'k' },
		{ "threads", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *dbpath = NULL, *listen = "127.0.0.1:8700", *cert = NULL, *key = NULL;
	char *cert_pem = NULL, *key_pem = NULL, err[512];
	unsigned threads = 2;
	struct scored_db *db = NULL;
	struct scored *s = NULL;
	struct MHD_Daemon *d = NULL;
	struct sockaddr_storage ss;
	bool v6 = false;
	int c, rc = VIGIL_EXIT_USAGE;

	while ((c = getopt_long(argc, argv, "+hV", opts, NULL)) != -1) {
		switch (c) {
		case 'd': dbpath = optarg; break;
		case 'l': listen = optarg; break;
		case 'c': cert = optarg; break;
		case 'k': key = optarg; break;
		case 't': threads = (unsigned)atoi(optarg); break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("vigil-scored %s\n", VIGIL_VERSION); return 0;
		default: usage(stderr); return VIGIL_EXIT_USAGE;
		}
	}
	if (!dbpath) {
		fprintf(stderr, "Error: --db PATH is required\n");
		usage(stderr);
		return VIGIL_EXIT_USAGE;
	}
	if (threads < 1 || threads > 64) {
		fprintf(stderr, "Error: --threads must be 1 to 64\n");
		return VIGIL_EXIT_USAGE;
	}
	if ((cert != NULL) != (key != NULL)) {
		fprintf(stderr, "Error: --tls-cert and --tls-key go together\n");
		return VIGIL_EXIT_USAGE;
	}
	if (scored_db_open(dbpath, &db, err, sizeof(err))) {
		fprintf(stderr, "Error: %s\n", err);
		return VIGIL_EXIT_USAGE;
	}
	if (optind < argc) {
		if (strcmp(argv[optind], "token")) {
			fprintf(stderr, "Error: unknown command '%s'\n", argv[optind]);
			usage(stderr);
		} else {
			rc = cmd_token(db, argc - optind - 1, argv + optind + 1);
		}
		scored_db_close(db);
		return rc;
	}
	if (parse_listen(listen, &ss, &v6)) {
		fprintf(stderr, "Error: --listen expects ADDR:PORT, got '%s'\n", listen);
		goto out;
	}
	if (cert && (!(cert_pem = util_read_file(cert, 1 << 20, NULL)) || !(key_pem = util_read_file(key, 1 << 20, NULL)))) {
		fprintf(stderr, "Error: cannot read %s: %s\n", cert_pem ? key : cert, strerror(errno));
		goto out;
	}
	if (!(s = scored_new(db))) {
		fprintf(stderr, "Error: out of memory\n");
		goto out;
	}
	signal(SIGPIPE, SIG_IGN);
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);

	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG |
			 (v6 ? MHD_USE_IPv6 : 0) | (cert ? MHD_USE_TLS : 0);
	if (cert)
		d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s,
				     MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
				     MHD_OPTION_THREAD_POOL_SIZE, threads,
				     MHD_OPTION_NOTIFY_COMPLETED, on_done, NULL,
				     MHD_OPTION_CONNECTION_TIMEOUT, 30u,
				     MHD_OPTION_CONNECTION_LIMIT, 512u,
				     MHD_OPTION_HTTPS_MEM_CERT, cert_pem, MHD_OPTION_HTTPS_MEM_KEY, key_pem,
				     MHD_OPTION_END);
	else
		d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s,
				     MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
				     MHD_OPTION_THREAD_POOL_SIZE, threads,
				     MHD_OPTION_NOTIFY_COMPLETED, on_done, NULL,
				     MHD_OPTION_CONNECTION_TIMEOUT, 30u,
				     MHD_OPTION_CONNECTION_LIMIT, 512u,
				     MHD_OPTION_END);
	if (!d) {
		fprintf(stderr, "Error: cannot listen on %s%s\n", listen, cert ? " with TLS" : "");
		goto out;
	}
	fprintf(stderr, "vigil-scored: listening on %s%s, database %s (schema %d)\n", listen,
		cert ? " (TLS)" : "", dbpath, scored_db_version(db));
	int sig;
	sigwait(&mask, &sig);
	fprintf(stderr, "vigil-scored: stopping (signal %d)\n", sig);
	rc = 0;
out:
	if (d)
		MHD_stop_daemon(d);
	scored_free(s);
	scored_db_close(db);
	free(cert_pem);
	free(key_pem);
	return rc;
}
