/*
 * Just-in-time port access (JIT): management ports are closed to every
 * source; an operator requests access for one source prefix, one port and a
 * duration with a justification; the grant opens the port for that source
 * only and closes it at its end time.  Enforcement is in the kernel
 * (bpf/jit.bpf.c, XDP or TC ingress); grants live in a pinned LPM trie with
 * CLOCK_BOOTTIME deadlines, so they expire on time even without vigild.
 *
 * Policy section "jit" (parsed by jit_policy_parse):
 *   mode          "off" | "audit" | "enforce"                      default "off"
 *   strict        false: refuse new connections only (TCP SYN; every UDP
 *                 datagram); true: every packet without a live grant
 *   interfaces    names; [] = every non-loopback interface, including
 *                 interfaces that appear later
 *   hook          "auto" (XDP native, else generic, else TC) | "xdp" |
 *                 "xdp_generic" | "tc"                             default "auto"
 *   pin_dir       bpffs directory of the pinned programs, links and maps
 *                 (one per daemon instance)        default /sys/fs/bpf/vigil/jit
 *   ports         [{port, protocol "tcp"|"udp", allowed_sources [prefixes],
 *                   max_duration "3h" | seconds}]
 *                 default: tcp 22, 3389, 5985, 5986 from anywhere, 3h
 *   brute_force   {threshold (drops), window "60s"}: blocked attempts from one
 *                 source that raise a brute-force alert        default 10 in 60s
 */
#ifndef VIGIL_JIT_H
#define VIGIL_JIT_H

#include <stdint.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <jansson.h>

#include "policy.h"

struct agent;
struct engine;

#define JIT_DEFAULT_PIN_DIR      "/sys/fs/bpf/vigil/jit"
#define JIT_DEFAULT_MAX_DURATION (3 * 3600)   /* s: the cloud product's default maximum */
#define JIT_MAX_ALLOWED          32           /* allowed_sources per port */
#define JIT_MAX_IFACES           64
#define JIT_JUSTIFICATION_MAX    1024         /* bytes */

/* An address prefix over the 128-bit form: IPv4 a.b.c.d/n is ::ffff:a.b.c.d/(96+n). */
struct jit_prefix {
	uint8_t addr[16];
	uint8_t len;            /* 0..128 */
};

struct jit_port_cfg {
	uint8_t proto;          /* IPPROTO_TCP / IPPROTO_UDP */
	uint16_t port;
	struct jit_prefix allowed[JIT_MAX_ALLOWED];
	size_t nallowed;
	int64_t max_duration_s;
};

enum jit_hook { JIT_HOOK_AUTO, JIT_HOOK_XDP, JIT_HOOK_XDP_GENERIC, JIT_HOOK_TC };

struct jit_config {
	int mode;               /* enum vigil_jit_mode */
	bool strict;
	int hook;               /* enum jit_hook */
	char *pin_dir;          /* owned */
	struct policy_strv interfaces;
	struct jit_port_cfg *ports;   /* owned array */
	size_t nports;
	uint32_t bf_threshold;
	int64_t bf_window_s;
};

/* Section parser for policy_sections[] (see policy.h).  *out: struct jit_config. */
int jit_policy_parse(const struct policy_ctx *c, const char *jpath, const json_t *v, void **out);
/* Frees a struct jit_config; NULL is a no-op. */
void jit_policy_free(void *cfg);

/* "tcp" | "udp" -> IPPROTO_*; -EINVAL otherwise. */
int jit_proto_parse(const char *s);
const char *jit_proto_name(int proto);
const char *jit_mode_name(int mode);

/*
 * Parses ADDR or ADDR/LEN (IPv4 or IPv6; IPv4-mapped IPv6 is the same as
 * IPv4).  Host bits set beyond LEN are refused (-EINVAL), so that
 * "10.0.0.5/24" never opens a whole /24 by accident.  0 or -EINVAL; reason
 * (may be NULL) gets why.
 */
int jit_prefix_parse(const char *s, struct jit_prefix *out, char *reason, size_t rlen);
/* Canonical text: "10.0.0.2/32" for IPv4-mapped, "fd00::2/128" otherwise.  Returns buf. */
char *jit_prefix_format(const struct jit_prefix *p, char *buf, size_t len);
/* True when every address of inner is in outer. */
bool jit_prefix_contains(const struct jit_prefix *outer, const struct jit_prefix *inner);
/* True when addr (16 bytes) is in p. */
bool jit_prefix_match(const struct jit_prefix *p, const uint8_t addr[16]);

/* A request for access, from the CLI or (later) the scoring service. */
struct jit_request {
	int port;
	const char *proto;            /* "tcp" | "udp"; NULL = "tcp" */
	const char *source;           /* ADDR[/LEN] */
	int64_t duration_s;
	const char *justification;
};

/* Who asked: uid/pid from the control socket's peer credentials. */
struct jit_requestor {
	uid_t uid;
	pid_t pid;
	const char *user;
	const char *via;              /* "cli" | "scored" | ... */
};

/*
 * Validates req against cfg without side effects: the port is protected,
 * the source prefix is inside one of the port's allowed prefixes, 0 <
 * duration <= max, the justification is non-empty.  On success fills *src
 * and *port (may be NULL) and returns 0; otherwise -EINVAL (or -EPERM for a
 * disallowed prefix or duration, -ENOENT for an unprotected port) with the
 * reason in reason.
 */
int jit_request_check(const struct jit_config *cfg, const struct jit_request *req,
		      struct jit_prefix *src, const struct jit_port_cfg **port,
		      char *reason, size_t rlen);

/*
 * Listening sockets on management ports (TCP 22, 3389, 5985, 5986 and the
 * protected ones) read from proc_net ("/proc/net" or a test directory
 * holding tcp, tcp6, udp, udp6).  Each listener not protected by cfg (or
 * every one when cfg is NULL or its mode is not "enforce") is appended to
 * *out (a new array) as {"protocol", "address", "port", "protected", "mode"}.
 * 0 or -errno.
 */
int jit_scan_listeners(const char *proc_net, const struct jit_config *cfg, json_t **out);

/*
 * Established TCP connections (proc_net/tcp and tcp6) to local port whose
 * peer is in src: *out gets a new array of {"peer", "peer_port"}.  Used to
 * report sessions that outlive their grant.  0 or -errno.
 */
int jit_scan_sessions(const char *proc_net, unsigned port, const struct jit_prefix *src, json_t **out);

/* ---- engine ---- */
struct jit;
extern const struct engine jit_engine;

/*
 * Validates and applies a request: the grant is written to the state dir,
 * then to the pinned grant map; a grant for the same source prefix, port
 * and protocol is replaced (one entry).  Every request, refused or not, is
 * recorded in the request history.  On success returns 0 and, when out is
 * non-NULL, a new reference to the grant's JSON; otherwise -errno with the
 * reason (nothing is changed).  The control command and the scoring-service
 * forwarder both call this.
 */
int jit_request_apply(struct jit *j, const struct jit_request *req, const struct jit_requestor *who,
		      json_t **out, char *reason, size_t rlen);

/* Revokes grant id.  0, -ENOENT (no such grant) or -errno with the reason. */
int jit_revoke(struct jit *j, const char *id, const struct jit_requestor *who, char *reason, size_t rlen);

/* Posture: management ports listening on this host (vigild's network
 * namespace) that JIT does not protect.  New reference (array); NULL on ENOMEM. */
json_t *jit_unprotected_listeners(struct jit *j);

/*
 * Removes the pinned programs, links and maps under pin_dir and detaches
 * vigil's TC filters from every interface (`vigil jit disable` when no
 * daemon runs).  0 or -errno.
 */
int jit_unpin_all(const char *pin_dir);

#endif
