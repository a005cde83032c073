/* Unit tests for the control socket server: clients that send nothing, send in
 * pieces, never read their reply, or come more than the server has slots for must
 * never hold up other clients (the server runs in vigild's event loop). The server
 * runs here on its own thread, polled the way the agent polls it. Needs no root:
 * the peer check passes for root or, when not root, for the test's own group. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <cmocka.h>

#include "ctl.h"

#define BIG (4u << 20)          /* a reply far larger than a socket buffer */

struct srv {
	char dir[64], path[128];
	struct ctl_server *s;
	pthread_t th;
	volatile bool stop;
	volatile unsigned served;
};

static json_t *cmd_echo(void *ctx, json_t *req, const struct ctl_peer *peer)
{
	struct srv *v = ctx;

	v->served++;
	return json_pack("{s:b,s:O?,s:i}", "ok", 1, "arg", json_object_get(req, "arg"), "uid", (int)peer->uid);
}

static json_t *cmd_big(void *ctx, json_t *req, const struct ctl_peer *peer)
{
	char *b = malloc(BIG + 1);
	json_t *o;

	memset(b, 'x', BIG);
	b[BIG] = 0;
	o = json_pack("{s:b,s:s}", "ok", 1, "blob", b);
	free(b);
	return o;
}

static const struct ctl_cmd cmds[] = { { "echo", cmd_echo }, { "big", cmd_big }, { NULL, NULL } };

static void *loop(void *arg)
{
	struct srv *v = arg;
	struct pollfd p = { .fd = ctl_server_fd(v->s), .events = POLLIN };

	while (!v->stop) {
		poll(&p, 1, 50);        /* as the agent: on readiness, and on a timer */
		ctl_server_handle(v->s);
	}
	return NULL;
}

static int setup(void **state)
{
	struct srv *v = calloc(1, sizeof(*v));

	strcpy(v->dir, "/tmp/vigil-ctl-XXXXXX");
	if (!mkdtemp(v->dir))
		return -1;
	snprintf(v->path, sizeof(v->path), "%s/s.sock", v->dir);
	v->s = ctl_server_new(v->path, getuid() ? getgid() : (gid_t)-1, cmds, v);
	if (!v->s)
		return -1;
	ctl_server_set_timeouts(v->s, 300, 300);
	pthread_create(&v->th, NULL, loop, v);
	*state = v;
	return 0;
}

static int teardown(void **state)
{
	struct srv *v = *state;

	v->stop = true;
	pthread_join(v->th, NULL);
	ctl_server_free(v->s);
	rmdir(v->dir);
	free(v);
	return 0;
}

static int dial(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	strcpy(sa.sun_path, path);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	struct timeval tv = { .tv_sec = 5 };     /* a bound, not a measurement */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

/* Everything the server sends until it closes; *len gets its length. */
static char *read_all(int fd, size_t *len)
{
	size_t n = 0, cap = 1 << 16;
	char *b = malloc(cap + 1);
	ssize_t r;

	while ((r = read(fd, b + n, cap - n)) > 0) {
		n += r;
		if (n == cap)
			b = realloc(b, (cap *= 2) + 1);
	}
	b[n] = 0;
	*len = n;
	return b;
}

static void expect_echo(const char *path, const char *arg)
{
	json_t *req = json_pack("{s:s,s:s}", "cmd", "echo", "arg", arg), *resp = NULL;

	/* 3 s: far under what the clients ahead of this one could hold a blocking server */
	assert_int_equal(ctl_request(path, req, &resp, 3000), 0);
	assert_true(json_is_true(json_object_get(resp, "ok")));
	assert_string_equal(json_string_value(json_object_get(resp, "arg")), arg);
	json_decref(req);
	json_decref(resp);
}

static void test_silent_clients_do_not_hold_others(void **state)
{
	struct srv *v = *state;
	int fd[20];
	size_t len;

	ctl_server_set_timeouts(v->s, 2000, 2000);      /* the daemon's deadline */
	for (int i = 0; i < 20; i++)
		fd[i] = dial(v->path);
	/* a blocking server would wait 2 s on each silent client first: 40 s */
	expect_echo(v->path, "past twenty silent clients");
	for (int i = 0; i < 20; i++) {
		/* at its deadline a silent client gets an answer, then the end */
		char *b = read_all(fd[i], &len);
		assert_non_null(strstr(b, "\"error\":\"empty request\""));
		assert_int_equal(b[len - 1], '\n');
		free(b);
		close(fd[i]);
	}
}

static void test_request_in_pieces_and_without_newline(void **state)
{
	struct srv *v = *state;
	int fd = dial(v->path), fd2;
	size_t len;
	char *b;

	assert_int_equal(write(fd, "{\"cmd\": \"ec", 11), 11);
	usleep(100 * 1000);
	assert_int_equal(write(fd, "ho\", \"arg\": \"a\"}\n", 17), 17);
	b = read_all(fd, &len);
	assert_non_null(strstr(b, "\"arg\":\"a\""));
	free(b);
	close(fd);

	/* end of stream ends a request that has no newline */
	fd2 = dial(v->path);
	assert_int_equal(write(fd2, "{\"cmd\": \"echo\", \"arg\": \"b\"}", 27), 27);
	shutdown(fd2, SHUT_WR);
	b = read_all(fd2, &len);
	assert_non_null(strstr(b, "\"arg\":\"b\""));
	free(b);
	close(fd2);
}

static void test_bad_requests_answered(void **state)
{
	struct srv *v = *state;
	static const struct { const char *req, *err; } cases[] = {
		{ "[1]\n", "malformed request: not an object" },
		{ "{\"cmd\": \n", "malformed request" },
		{ "{\"arg\": 1}\n", "request has no \\\"cmd\\\"" },
		{ "{\"cmd\": \"nope\"}\n", "unknown command \\\"nope\\\"" },
		{ "\n", "empty request" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int fd = dial(v->path);
		size_t len;
		assert_int_equal(write(fd, cases[i].req, strlen(cases[i].req)), (ssize_t)strlen(cases[i].req));
		char *b = read_all(fd, &len);
		if (!strstr(b, cases[i].err))
			fail_msg("%s: got %s", cases[i].req, b);
		free(b);
		close(fd);
	}
}

static void test_slow_reader_gets_whole_reply_and_others_are_served(void **state)
{
	struct srv *v = *state;
	int small = 4096, fd = dial(v->path);
	size_t len;

	ctl_server_set_timeouts(v->s, 2000, 10000);
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	assert_int_equal(write(fd, "{\"cmd\": \"big\"}\n", 15), 15);
	usleep(200 * 1000);
	/* the big reply waits on a client that does not read: others are served */
	expect_echo(v->path, "while a reply is pending");
	char *b = read_all(fd, &len);
	json_error_t e;
	json_t *o = json_loads(b, 0, &e);
	assert_non_null(o);
	assert_int_equal(strlen(json_string_value(json_object_get(o, "blob"))), BIG);
	json_decref(o);
	free(b);
	close(fd);
}

static void test_unread_reply_dropped_at_deadline(void **state)
{
	struct srv *v = *state;
	int small = 4096, fd = dial(v->path);
	size_t len;

	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	assert_int_equal(write(fd, "{\"cmd\": \"big\"}\n", 15), 15);
	usleep(800 * 1000);     /* past the 300 ms reply deadline */
	char *b = read_all(fd, &len);
	assert_true(len < BIG); /* cut: the server closed it */
	free(b);
	close(fd);
	expect_echo(v->path, "after a dropped reply");
}

static void test_more_clients_than_slots(void **state)
{
	struct srv *v = *state;
	enum { N = 72 };        /* 64 slots, the rest in the listen backlog */
	int fd[N];
	size_t len;

	for (int i = 0; i < N; i++)
		fd[i] = dial(v->path);
	/* queued behind 72 silent clients: served once deadlines free the slots */
	expect_echo(v->path, "behind a full server");
	for (int i = 0; i < N; i++) {
		char *b = read_all(fd[i], &len);
		assert_non_null(strstr(b, "empty request"));
		free(b);
		close(fd[i]);
	}
	expect_echo(v->path, "after all of them");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_silent_clients_do_not_hold_others, setup, teardown),
		cmocka_unit_test_setup_teardown(test_request_in_pieces_and_without_newline, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_requests_answered, setup, teardown),
		cmocka_unit_test_setup_teardown(test_slow_reader_gets_whole_reply_and_others_are_served, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unread_reply_dropped_at_deadline, setup, teardown),
		cmocka_unit_test_setup_teardown(test_more_clients_than_slots, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
