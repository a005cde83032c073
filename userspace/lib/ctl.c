/* Control socket (unix stream, JSON lines).  See ctl.h. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <grp.h>

#include "ctl.h"
#include "jsonx.h"
#include "util.h"

#define CTL_MAX_REQ  (1 << 20)
#define CTL_MAX_CONN 64         /* more wait in the listen backlog */
#define CTL_REQ_MS   2000       /* from accept to a whole request */
#define CTL_REPLY_MS 10000      /* from the request to the last byte of the reply */
#define EV_LISTEN    UINT32_MAX

/* One client connection: it reads a request line, then writes the reply, then is closed.
 * Nothing in it blocks: a client that sends nothing or reads nothing holds a slot until
 * its deadline, never the daemon's loop. */
struct ctl_conn {
	int fd;                 /* -1: free */
	bool replying;
	uint64_t deadline_ms;   /* CLOCK_MONOTONIC */
	struct ucred cr;
	char *buf;              /* the request, then the reply */
	size_t n, cap, off;
};

struct ctl_server {
	int fd, epfd;
	bool paused;            /* every slot taken: the listener is out of epfd */
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	gid_t gid;
	const struct ctl_cmd *cmds;
	void *ctx;
	unsigned req_ms, reply_ms;
	unsigned nconn;
	struct ctl_conn conn[CTL_MAX_CONN];
};

json_t *ctl_error(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	json_t *o = json_object();
	jsonx_set_str(o, "error", buf);
	return o;
}

json_t *ctl_ok(void)
{
	return json_pack("{s:b}", "ok", 1);
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct ctl_server *ctl_server_new(const char *path, gid_t gid, const struct ctl_cmd *cmds, void *ctx)
{
	struct ctl_server *s = calloc(1, sizeof(*s));
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct epoll_event ee = { .events = EPOLLIN, .data.u32 = EV_LISTEN };

	if (!s)
		return NULL;
	s->fd = s->epfd = -1;
	for (int i = 0; i < CTL_MAX_CONN; i++)
		s->conn[i].fd = -1;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		free(s);
		errno = ENAMETOOLONG;
		return NULL;
	}
	strcpy(sa.sun_path, path);
	strcpy(s->path, path);
	s->gid = gid;
	s->cmds = cmds;
	s->ctx = ctx;
	s->req_ms = CTL_REQ_MS;
	s->reply_ms = CTL_REPLY_MS;
	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	s->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s->fd < 0 || s->epfd < 0)
		goto fail;
	unlink(path);   /* stale socket: the pid file lock guarantees we are the only daemon */
	if (bind(s->fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(s->fd, 16))
		goto fail;
	chmod(path, gid != (gid_t)-1 ? 0660 : 0600);
	if (gid != (gid_t)-1 && chown(path, 0, gid))
		goto fail;
	if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->fd, &ee))
		goto fail;
	return s;
fail:;
	int e = errno;
	if (s->fd >= 0)
		close(s->fd);
	if (s->epfd >= 0)
		close(s->epfd);
	free(s);
	errno = e;
	return NULL;
}

void ctl_server_set_timeouts(struct ctl_server *s, unsigned req_ms, unsigned reply_ms)
{
	s->req_ms = req_ms;
	s->reply_ms = reply_ms;
}

int ctl_server_fd(const struct ctl_server *s)
{
	return s->epfd;
}

static bool peer_allowed(const struct ctl_server *s, const struct ucred *cr)
{
	if (cr->uid == 0)
		return true;
	if (s->gid == (gid_t)-1)
		return false;
	if (cr->gid == s->gid)
		return true;
	/* supplementary groups of the peer's user */
	struct passwd pw, *res = NULL;
	char buf[2048];
	gid_t groups[64];
	int ng = 64;

	if (getpwuid_r(cr->uid, &pw, buf, sizeof(buf), &res) || !res)
		return false;
	if (getgrouplist(res->pw_name, res->pw_gid, groups, &ng) < 0)
		return false;
	for (int i = 0; i < ng; i++)
		if (groups[i] == s->gid)
			return true;
	return false;
}

static void conn_close(struct ctl_server *s, struct ctl_conn *c)
{
	epoll_ctl(s->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c->buf);
	*c = (struct ctl_conn){ .fd = -1 };
	s->nconn--;
	if (s->paused) {
		struct epoll_event ee = { .events = EPOLLIN, .data.u32 = EV_LISTEN };
		if (!epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->fd, &ee))
			s->paused = false;
	}
}

/* The reply to the request in c->buf[0..n) (not NUL-terminated; room for one more byte). */
static json_t *dispatch(struct ctl_server *s, struct ctl_conn *c)
{
	struct ctl_peer peer = { .pid = c->cr.pid, .uid = c->cr.uid, .gid = c->cr.gid };
	json_error_t jerr;
	json_t *req, *resp;

	if (!peer_allowed(s, &c->cr))
		return ctl_error("permission denied: uid %u is not root or in the control group", (unsigned)c->cr.uid);
	if (!c->n)
		return ctl_error("empty request");
	c->buf[c->n] = 0;
	req = json_loads(c->buf, JSON_REJECT_DUPLICATES | JSON_DISABLE_EOF_CHECK, &jerr);
	if (!json_is_object(req)) {
		resp = ctl_error("malformed request: %s", req ? "not an object" : jerr.text);
		json_decref(req);
		return resp;
	}
	const char *cmd = json_string_value(json_object_get(req, "cmd"));
	if (!cmd) {
		json_decref(req);
		return ctl_error("request has no \"cmd\"");
	}
	{
		struct passwd pw, *res = NULL;
		char pbuf[1024];
		if (getpwuid_r(c->cr.uid, &pw, pbuf, sizeof(pbuf), &res) == 0 && res)
			snprintf(peer.user, sizeof(peer.user), "%s", res->pw_name);
		else
			snprintf(peer.user, sizeof(peer.user), "%u", (unsigned)c->cr.uid);
	}
	resp = NULL;
	for (const struct ctl_cmd *k = s->cmds; k && k->name; k++) {
		if (!strcmp(k->name, cmd)) {
			resp = k->fn(s->ctx, req, &peer);
			if (!resp)
				resp = ctl_error("internal error in %s", cmd);
			break;
		}
	}
	if (!resp)
		resp = ctl_error("unknown command \"%s\"", cmd);
	json_decref(req);
	return resp;
}

/* Writes what the socket takes; 1 when the whole reply is out, 0 when more is to come,
 * -1 when the client is gone. */
static int conn_write(struct ctl_conn *c)
{
	while (c->off < c->n) {
		ssize_t w = send(c->fd, c->buf + c->off, c->n - c->off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (w <= 0)
			return -1;
		c->off += w;
	}
	return 1;
}

/* The request is complete (a newline, end of stream, or its deadline): answer it.
 * Returns false when the connection was closed. */
static bool conn_answer(struct ctl_server *s, struct ctl_conn *c, json_t *resp)
{
	char *line;

	if (!resp)
		resp = dispatch(s, c);
	line = resp ? jsonx_dump_line(resp) : NULL;
	json_decref(resp);
	free(c->buf);
	c->buf = NULL;
	c->n = c->cap = c->off = 0;
	if (!line) {
		conn_close(s, c);
		return false;
	}
	c->n = strlen(line);
	line[c->n++] = '\n';    /* over the NUL: the newline ends the reply */
	c->buf = line;
	c->replying = true;
	c->deadline_ms = mono_ms() + s->reply_ms;
	if (conn_write(c)) {
		conn_close(s, c);
		return false;
	}
	struct epoll_event ee = { .events = EPOLLOUT, .data.u32 = (uint32_t)(c - s->conn) };
	epoll_ctl(s->epfd, EPOLL_CTL_MOD, c->fd, &ee);
	return true;
}

/* Reads what has arrived; answers once the request is whole. */
static void conn_read(struct ctl_server *s, struct ctl_conn *c)
{
	for (;;) {
		if (c->n + 4096 > c->cap) {
			if (c->cap >= CTL_MAX_REQ) {
				conn_answer(s, c, ctl_error("request too large"));
				return;
			}
			size_t cap = c->cap ? c->cap * 2 : 8192;
			char *nb = realloc(c->buf, cap + 1);
			if (!nb) {
				conn_close(s, c);
				return;
			}
			c->buf = nb;
			c->cap = cap;
		}
		ssize_t r = recv(c->fd, c->buf + c->n, c->cap - c->n, MSG_DONTWAIT);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (r < 0) {
			conn_close(s, c);
			return;
		}
		if (r == 0) {           /* end of stream: what came is the request */
			conn_answer(s, c, NULL);
			return;
		}
		c->n += r;
		char *nl = memchr(c->buf + c->n - r, '\n', r);
		if (nl) {
			c->n = nl - c->buf;
			conn_answer(s, c, NULL);
			return;
		}
	}
}

static void accept_all(struct ctl_server *s)
{
	while (s->nconn < CTL_MAX_CONN) {
		int fd = accept4(s->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0)
			return;
		struct ctl_conn *c = NULL;
		for (int i = 0; i < CTL_MAX_CONN && !c; i++)
			if (s->conn[i].fd < 0)
				c = &s->conn[i];
		socklen_t cl = sizeof(c->cr);
		struct epoll_event ee = { .events = EPOLLIN, .data.u32 = (uint32_t)(c - s->conn) };
		*c = (struct ctl_conn){ .fd = fd, .deadline_ms = mono_ms() + s->req_ms };
		s->nconn++;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &c->cr, &cl) ||
		    epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ee))
			conn_close(s, c);       /* unknown peer: nothing to answer it */
	}
	/* every slot taken: the rest wait in the backlog until one is freed */
	if (epoll_ctl(s->epfd, EPOLL_CTL_DEL, s->fd, NULL) == 0)
		s->paused = true;
}

void ctl_server_handle(struct ctl_server *s)
{
	struct epoll_event ev[CTL_MAX_CONN + 1];
	bool listen = false;
	uint64_t now;
	int n = epoll_wait(s->epfd, ev, ARRAY_SIZE(ev), 0);

	for (int i = 0; i < n; i++) {
		uint32_t k = ev[i].data.u32;
		if (k == EV_LISTEN) {
			listen = true;  /* after the connections: a slot freed now is reused */
			continue;
		}
		struct ctl_conn *c = &s->conn[k];
		if (c->fd < 0)
			continue;
		if (!c->replying)
			conn_read(s, c);
		else if (conn_write(c))
			conn_close(s, c);
	}
	if (listen)
		accept_all(s);
	/* deadlines: a request that never ended is answered with what came (as end of
	 * stream would be); a reply nobody reads is dropped */
	now = mono_ms();
	for (int i = 0; i < CTL_MAX_CONN; i++) {
		struct ctl_conn *c = &s->conn[i];
		if (c->fd < 0 || now < c->deadline_ms)
			continue;
		if (c->replying)
			conn_close(s, c);
		else
			conn_answer(s, c, NULL);
	}
}

void ctl_server_free(struct ctl_server *s)
{
	if (!s)
		return;
	for (int i = 0; i < CTL_MAX_CONN; i++)
		if (s->conn[i].fd >= 0)
			conn_close(s, &s->conn[i]);
	close(s->fd);
	close(s->epfd);
	unlink(s->path);
	free(s);
}

int ctl_request(const char *path, json_t *req, json_t **resp, int timeout_ms)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char *line = NULL, *buf = NULL;
	size_t n = 0, cap = 0;
	json_error_t jerr;
	int fd, r = 0;

	*resp = NULL;
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	struct timeval tv = { .tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		r = -errno;
		goto out;
	}
	line = jsonx_dump_line(req);
	if (!line) {
		r = -ENOMEM;
		goto out;
	}
	size_t len = strlen(line);
	if (write(fd, line, len) != (ssize_t)len || write(fd, "\n", 1) != 1) {
		r = -errno ? -errno : -EIO;
		goto out;
	}
	for (;;) {
		if (n + 4096 > cap) {
			cap = cap ? cap * 2 : 16384;
			if (cap > (64u << 20)) {
				r = -E2BIG;
				goto out;
			}
			char *nb = realloc(buf, cap + 1);
			if (!nb) {
				r = -ENOMEM;
				goto out;
			}
			buf = nb;
		}
		ssize_t rd = read(fd, buf + n, cap - n);
		if (rd < 0 && errno == EINTR)
			continue;
		if (rd < 0) {
			r = errno == EAGAIN ? -ETIMEDOUT : -errno;
			goto out;
		}
		if (rd == 0)
			break;
		n += rd;
	}
	if (!n) {
		r = -EPROTO;
		goto out;
	}
	buf[n] = 0;
	*resp = json_loads(buf, JSON_DISABLE_EOF_CHECK, &jerr);
	if (!*resp)
		r = -EPROTO;
out:
	free(line);
	free(buf);
	close(fd);
	return r;
}
