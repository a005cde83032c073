/*
 * Control socket: a unix stream socket speaking JSON lines.  A request is one
 * object {"cmd": "status", ...}; the reply is one object, {"ok": true, ...}
 * or {"error": "why"}.  Peer credentials (SO_PEERCRED) are checked: root or
 * members of the configured group only.
 */
#ifndef VIGIL_CTL_H
#define VIGIL_CTL_H

#include <sys/types.h>
#include <sys/socket.h>
#include <jansson.h>

struct ctl_peer {
	pid_t pid;
	uid_t uid;
	gid_t gid;
	char user[64];
};

/* Handler: returns a new reference to the reply object (NULL = internal error). */
typedef json_t *(*ctl_handler_fn)(void *ctx, json_t *req, const struct ctl_peer *peer);

struct ctl_cmd {
	const char *name;
	ctl_handler_fn fn;
};

struct ctl_server;

/* Listens on path (removing a stale socket), mode 0660, group gid (-1: keep).
 * cmds is a table ending with {NULL, NULL}; ctx is passed to handlers.
 * Nothing the server does blocks on a client: each connection reads one request
 * (a line, or what came before end of stream or the request deadline, 2 s from
 * accept), gets one reply (written as the client reads it, dropped 10 s after the
 * request), and is closed. At most 64 connections at a time; more wait in the
 * listen backlog. NULL and errno on failure. */
struct ctl_server *ctl_server_new(const char *path, gid_t gid, const struct ctl_cmd *cmds, void *ctx);
/* The request and reply deadlines in ms (tests). */
void ctl_server_set_timeouts(struct ctl_server *s, unsigned req_ms, unsigned reply_ms);
/* An epoll fd to poll for readability: readable when the listener or a connection is. */
int ctl_server_fd(const struct ctl_server *s);
/* Serves what is ready without blocking and applies the deadlines: call when the fd is
 * readable, and periodically (deadlines are checked here only). */
void ctl_server_handle(struct ctl_server *s);
/* Closes every connection, unlinks the socket and frees; NULL is a no-op. */
void ctl_server_free(struct ctl_server *s);

/* Client: sends req, waits up to timeout_ms for the reply (new reference in *resp).
 * 0, or -errno (-ENOENT/-ECONNREFUSED when no daemon). */
int ctl_request(const char *path, json_t *req, json_t **resp, int timeout_ms);

/* Helpers for handlers. */
json_t *ctl_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
json_t *ctl_ok(void);

#endif
