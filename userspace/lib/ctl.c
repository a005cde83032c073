/* Control socket (unix stream, JSON lines).  See ctl.h. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <grp.h>

#include "ctl.h"
#include "jsonx.h"

#define CTL_MAX_REQ (1 << 20)

struct ctl_server {
	int fd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	gid_t gid;
	const struct ctl_cmd *cmds;
	void *ctx;
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

struct ctl_server *ctl_server_new(const char *path, gid_t gid, const struct ctl_cmd *cmds, void *ctx)
{
	struct ctl_server *s = calloc(1, sizeof(*s));
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	if (!s)
		return NULL;
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
	s->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s->fd < 0)
		goto fail;
	unlink(path);   /* stale socket: the pid file lock guarantees we are the only daemon */
	if (bind(s->fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(s->fd, 16))
		goto fail;
	chmod(path, gid != (gid_t)-1 ? 0660 : 0600);
	if (gid != (gid_t)-1 && chown(path, 0, gid))
		goto fail;
	return s;
fail:;
	int e = errno;
	if (s->fd >= 0)
		close(s->fd);
	free(s);
	errno = e;
	return NULL;
}

int ctl_server_fd(const struct ctl_server *s)
{
	return s->fd;
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

static void reply(int fd, json_t *resp)
{
	char *line = jsonx_dump_line(resp);
	size_t len, off = 0;

	if (!line)
		return;
	len = strlen(line);
	char *nl = realloc(line, len + 2);
	if (!nl) {
		free(line);
		return;
	}
	line = nl;
	line[len++] = '\n';
	while (off < len) {
		ssize_t w = write(fd, line + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += w;
	}
	free(line);
}

static void serve(struct ctl_server *s, int cfd)
{
	struct ucred cr;
	socklen_t cl = sizeof(cr);
	struct ctl_peer peer = { 0 };
	char *buf = NULL;
	size_t n = 0, cap = 0;
	json_t *req = NULL, *resp = NULL;
	json_error_t jerr;

	/* the client sends one line; wait for it briefly (bounded) */
	int fl = fcntl(cfd, F_GETFL);
	fcntl(cfd, F_SETFL, fl & ~O_NONBLOCK);
	struct timeval tv = { .tv_sec = 2 };
	setsockopt(cfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(cfd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));

	if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &cr, &cl)) {
		resp = ctl_error("cannot read peer credentials: %s", strerror(errno));
		goto out;
	}
	peer.pid = cr.pid;
	peer.uid = cr.uid;
	peer.gid = cr.gid;
	{
		struct passwd pw, *res = NULL;
		char pbuf[1024];
		if (getpwuid_r(cr.uid, &pw, pbuf, sizeof(pbuf), &res) == 0 && res)
			snprintf(peer.user, sizeof(peer.user), "%s", res->pw_name);
		else
			snprintf(peer.user, sizeof(peer.user), "%u", (unsigned)cr.uid);
	}
	/* read the request before any reply: closing with unread data would reset the
	 * connection and the client would never see why it was refused */
	for (;;) {
		if (n + 4096 > cap) {
			if (cap >= CTL_MAX_REQ) {
				resp = ctl_error("request too large");
				goto out;
			}
			cap = cap ? cap * 2 : 8192;
			char *nb = realloc(buf, cap + 1);
			if (!nb)
				goto out;
			buf = nb;
		}
		ssize_t r = read(cfd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += r;
		if (memchr(buf + n - r, '\n', r))
			break;
	}
	if (!peer_allowed(s, &cr)) {
		resp = ctl_error("permission denied: uid %u is not root or in the control group", (unsigned)cr.uid);
		goto out;
	}
	if (!buf || !n) {
		resp = ctl_error("empty request");
		goto out;
	}
	buf[n] = 0;
	req = json_loads(buf, JSON_REJECT_DUPLICATES | JSON_DISABLE_EOF_CHECK, &jerr);
	if (!json_is_object(req)) {
		resp = ctl_error("malformed request: %s", req ? "not an object" : jerr.text);
		goto out;
	}
	const char *cmd = json_string_value(json_object_get(req, "cmd"));
	if (!cmd) {
		resp = ctl_error("request has no \"cmd\"");
		goto out;
	}
	for (const struct ctl_cmd *c = s->cmds; c && c->name; c++) {
		if (!strcmp(c->name, cmd)) {
			resp = c->fn(s->ctx, req, &peer);
			if (!resp)
				resp = ctl_error("internal error in %s", cmd);
			goto out;
		}
	}
	resp = ctl_error("unknown command \"%s\"", cmd);
out:
	if (resp)
		reply(cfd, resp);
	json_decref(resp);
	json_decref(req);
	free(buf);
	close(cfd);
}

void ctl_server_handle(struct ctl_server *s)
{
	for (int i = 0; i < 16; i++) {
		int cfd = accept4(s->fd, NULL, NULL, SOCK_CLOEXEC);
		if (cfd < 0)
			return;
		serve(s, cfd);
	}
}

void ctl_server_free(struct ctl_server *s)
{
	if (!s)
		return;
	close(s->fd);
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
