/* JIT port access: the "jit" policy section, address prefixes, request
 * validation and the listening-port scan.  Pure logic (no BPF): see jit.h. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jit.h"
#include "util.h"
#include "vigil_events.h"

#define JPATH_MAX 1024

static const uint16_t mgmt_ports[] = { 22, 3389, 5985, 5986 };

int jit_proto_parse(const char *s)
{
	if (!s || !strcmp(s, "tcp"))
		return IPPROTO_TCP;
	if (!strcmp(s, "udp"))
		return IPPROTO_UDP;
	return -EINVAL;
}

const char *jit_proto_name(int proto)
{
	return proto == IPPROTO_UDP ? "udp" : proto == IPPROTO_TCP ? "tcp" : "?";
}

const char *jit_mode_name(int mode)
{
	switch (mode) {
	case VIGIL_JIT_AUDIT: return "audit";
	case VIGIL_JIT_ENFORCE: return "enforce";
	default: return "off";
	}
}

static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

static bool is_v4mapped(const uint8_t a[16])
{
	return !memcmp(a, v4mapped, 12);
}

static void setr(char *reason, size_t rlen, const char *fmt, const char *arg)
{
	if (reason && rlen)
		snprintf(reason, rlen, fmt, arg);
}

int jit_prefix_parse(const char *s, struct jit_prefix *out, char *reason, size_t rlen)
{
	char buf[INET6_ADDRSTRLEN + 8], *slash, *end;
	struct in_addr a4;
	struct in6_addr a6;
	long len;
	int maxlen, base;

	if (!s || !*s || strlen(s) >= sizeof(buf)) {
		setr(reason, rlen, "malformed address \"%.64s\"", s ? s : "");
		return -EINVAL;
	}
	strcpy(buf, s);
	slash = strchr(buf, '/');
	if (slash)
		*slash++ = 0;
	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, buf, &a4) == 1) {
		memcpy(out->addr, v4mapped, 12);
		memcpy(out->addr + 12, &a4, 4);
		maxlen = 32;
		base = 96;
	} else if (inet_pton(AF_INET6, buf, &a6) == 1) {
		memcpy(out->addr, &a6, 16);
		maxlen = 128;
		base = 0;
	} else {
		setr(reason, rlen, "malformed address \"%.64s\" (expected IPv4 or IPv6, optionally /LEN)", s);
		return -EINVAL;
	}
	len = maxlen;
	if (slash) {
		errno = 0;
		len = strtol(slash, &end, 10);
		if (!*slash || *end || errno || len < 0 || len > maxlen || !isdigit((unsigned char)*slash)) {
			setr(reason, rlen, "malformed prefix length in \"%.64s\"", s);
			return -EINVAL;
		}
	}
	/* ::ffff:a.b.c.d/n with n >= 96 is the same as a.b.c.d/(n-96) */
	out->len = (uint8_t)(base + len);
	for (int bit = out->len; bit < 128; bit++) {
		if (out->addr[bit / 8] & (0x80 >> (bit % 8))) {
			setr(reason, rlen, "\"%.64s\" has host bits set beyond the prefix length", s);
			return -EINVAL;
		}
	}
	return 0;
}

char *jit_prefix_format(const struct jit_prefix *p, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	if (is_v4mapped(p->addr) && p->len >= 96) {
		inet_ntop(AF_INET, p->addr + 12, a, sizeof(a));
		snprintf(buf, len, "%s/%d", a, p->len - 96);
	} else {
		inet_ntop(AF_INET6, p->addr, a, sizeof(a));
		snprintf(buf, len, "%s/%d", a, p->len);
	}
	return buf;
}

bool jit_prefix_match(const struct jit_prefix *p, const uint8_t addr[16])
{
	int full = p->len / 8, rest = p->len % 8;

	if (memcmp(p->addr, addr, full))
		return false;
	if (rest) {
		uint8_t m = (uint8_t)(0xff << (8 - rest));
		if ((p->addr[full] & m) != (addr[full] & m))
			return false;
	}
	return true;
}

bool jit_prefix_contains(const struct jit_prefix *outer, const struct jit_prefix *inner)
{
	return inner->len >= outer->len && jit_prefix_match(outer, inner->addr);
}

/* ---------- policy ---------- */

static void config_free(struct jit_config *c)
{
	if (!c)
		return;
	free(c->pin_dir);
	policy_strv_free(&c->interfaces);
	free(c->ports);
	free(c);
}

void jit_policy_free(void *cfg)
{
	config_free(cfg);
}

static int get_duration(const struct policy_ctx *c, const char *jpath, const json_t *obj,
			const char *key, int64_t *out)
{
	char jp[JPATH_MAX];
	json_t *v = json_object_get(obj, key);
	long s;

	if (!v)
		return 0;
	policy_jpath_key(jp, sizeof(jp), jpath, key);
	if (json_is_integer(v)) {
		if (json_integer_value(v) <= 0 || json_integer_value(v) > 30 * 86400)
			return policy_fail(c, jp, "%" JSON_INTEGER_FORMAT " s is out of range 1..2592000",
					   json_integer_value(v));
		*out = json_integer_value(v);
		return 0;
	}
	if (!json_is_string(v))
		return policy_fail(c, jp, "expected a duration (\"90s\", \"15m\", \"3h\", \"1d\" or seconds)");
	s = util_parse_duration(json_string_value(v));
	if (s <= 0 || s > 30 * 86400)
		return policy_fail(c, jp, "\"%.32s\" is not a duration in 1s..30d (\"90s\", \"15m\", \"3h\", \"1d\")",
				   json_string_value(v));
	*out = s;
	return 0;
}

static int parse_port(const struct policy_ctx *c, const char *jp, const json_t *v, struct jit_port_cfg *pc)
{
	static const char *const keys[] = { "port", "protocol", "allowed_sources", "max_duration", NULL };
	char kp[JPATH_MAX], ip[JPATH_MAX], why[160];
	json_int_t port = -1;
	char *proto = NULL;
	json_t *srcs, *s;
	size_t i;
	int r;

	if (!json_is_object(v))
		return policy_fail(c, jp, "expected object {\"port\", \"protocol\", \"allowed_sources\", \"max_duration\"}");
	if ((r = policy_check_object(c, jp, v, keys)) < 0 ||
	    (r = policy_get_int(c, jp, v, "port", 1, 65535, &port)) < 0)
		return r;
	if (port < 0)
		return policy_fail(c, jp, "missing required key \"port\"");
	pc->port = (uint16_t)port;
	if ((r = policy_get_string(c, jp, v, "protocol", 0, 8, &proto)) < 0)
		return r;
	r = jit_proto_parse(proto ? proto : "tcp");
	if (r < 0) {
		policy_jpath_key(kp, sizeof(kp), jp, "protocol");
		r = policy_fail(c, kp, "unknown protocol \"%s\" (allowed: tcp, udp)", proto);
		free(proto);
		return r;
	}
	free(proto);
	pc->proto = (uint8_t)r;
	pc->max_duration_s = JIT_DEFAULT_MAX_DURATION;
	if ((r = get_duration(c, jp, v, "max_duration", &pc->max_duration_s)) < 0)
		return r;
	srcs = json_object_get(v, "allowed_sources");
	policy_jpath_key(kp, sizeof(kp), jp, "allowed_sources");
	if (!srcs) {
		jit_prefix_parse("0.0.0.0/0", &pc->allowed[0], NULL, 0);
		jit_prefix_parse("::/0", &pc->allowed[1], NULL, 0);
		pc->nallowed = 2;
		return 0;
	}
	if (!json_is_array(srcs))
		return policy_fail(c, kp, "expected array of address prefixes");
	if (json_array_size(srcs) == 0)
		return policy_fail(c, kp, "empty: no source could ever be granted (remove the port instead)");
	if (json_array_size(srcs) > JIT_MAX_ALLOWED)
		return policy_fail(c, kp, "%zu prefixes, at most %d allowed", json_array_size(srcs), JIT_MAX_ALLOWED);
	json_array_foreach(srcs, i, s) {
		policy_jpath_index(ip, sizeof(ip), kp, i);
		if (!json_is_string(s))
			return policy_fail(c, ip, "expected an address prefix string");
		if (jit_prefix_parse(json_string_value(s), &pc->allowed[i], why, sizeof(why)))
			return policy_fail(c, ip, "%s", why);
	}
	pc->nallowed = json_array_size(srcs);
	return 0;
}

static int default_ports(struct jit_config *cfg)
{
	cfg->ports = calloc(ARRAY_SIZE(mgmt_ports), sizeof(*cfg->ports));
	if (!cfg->ports)
		return -ENOMEM;
	for (size_t i = 0; i < ARRAY_SIZE(mgmt_ports); i++) {
		struct jit_port_cfg *p = &cfg->ports[i];
		p->proto = IPPROTO_TCP;
		p->port = mgmt_ports[i];
		p->max_duration_s = JIT_DEFAULT_MAX_DURATION;
		jit_prefix_parse("0.0.0.0/0", &p->allowed[0], NULL, 0);
		jit_prefix_parse("::/0", &p->allowed[1], NULL, 0);
		p->nallowed = 2;
	}
	cfg->nports = ARRAY_SIZE(mgmt_ports);
	return 0;
}

int jit_policy_parse(const struct policy_ctx *c, const char *jpath, const json_t *v, void **out)
{
	static const char *const keys[] = { "mode", "strict", "interfaces", "hook", "pin_dir", "ports",
					    "brute_force", NULL };
	static const char *const bf_keys[] = { "threshold", "window", NULL };
	struct jit_config *cfg = calloc(1, sizeof(*cfg));
	char jp[JPATH_MAX], ip[JPATH_MAX];
	char *s = NULL;
	json_t *a, *e;
	size_t i;
	int r = -ENOMEM;

	if (!cfg)
		return -ENOMEM;
	cfg->mode = VIGIL_JIT_OFF;
	cfg->hook = JIT_HOOK_AUTO;
	cfg->bf_threshold = 10;
	cfg->bf_window_s = 60;
	if (!(cfg->pin_dir = strdup(JIT_DEFAULT_PIN_DIR)))
		goto fail;
	if (!v) {
		if ((r = default_ports(cfg)) < 0)
			goto fail;
		*out = cfg;
		return 0;
	}
	if ((r = policy_check_object(c, jpath, v, keys)) < 0)
		goto fail;
	if ((r = policy_get_string(c, jpath, v, "mode", 0, 16, &s)) < 0)
		goto fail;
	if (s) {
		policy_jpath_key(jp, sizeof(jp), jpath, "mode");
		if (!strcmp(s, "off"))
			cfg->mode = VIGIL_JIT_OFF;
		else if (!strcmp(s, "audit"))
			cfg->mode = VIGIL_JIT_AUDIT;
		else if (!strcmp(s, "enforce"))
			cfg->mode = VIGIL_JIT_ENFORCE;
		else {
			r = policy_fail(c, jp, "unknown mode \"%s\" (allowed: off, audit, enforce)", s);
			goto fail;
		}
		free(s);
		s = NULL;
	}
	if ((r = policy_get_bool(c, jpath, v, "strict", &cfg->strict)) < 0)
		goto fail;
	if ((r = policy_get_string(c, jpath, v, "hook", 0, 16, &s)) < 0)
		goto fail;
	if (s) {
		policy_jpath_key(jp, sizeof(jp), jpath, "hook");
		if (!strcmp(s, "auto"))
			cfg->hook = JIT_HOOK_AUTO;
		else if (!strcmp(s, "xdp"))
			cfg->hook = JIT_HOOK_XDP;
		else if (!strcmp(s, "xdp_generic"))
			cfg->hook = JIT_HOOK_XDP_GENERIC;
		else if (!strcmp(s, "tc"))
			cfg->hook = JIT_HOOK_TC;
		else {
			r = policy_fail(c, jp, "unknown hook \"%s\" (allowed: auto, xdp, xdp_generic, tc)", s);
			goto fail;
		}
		free(s);
		s = NULL;
	}
	if ((r = policy_get_string(c, jpath, v, "pin_dir", POLICY_STR_ABSPATH, 200, &cfg->pin_dir)) < 0)
		goto fail;
	policy_jpath_key(jp, sizeof(jp), jpath, "pin_dir");
	if (strncmp(cfg->pin_dir, "/sys/fs/bpf/", 12)) {
		r = policy_fail(c, jp, "\"%s\" is not under the BPF filesystem /sys/fs/bpf/", cfg->pin_dir);
		goto fail;
	}
	if ((a = json_object_get(v, "interfaces"))) {
		policy_jpath_key(jp, sizeof(jp), jpath, "interfaces");
		if (!json_is_array(a)) {
			r = policy_fail(c, jp, "expected array of interface names ([] = every non-loopback interface)");
			goto fail;
		}
		if (json_array_size(a) > JIT_MAX_IFACES) {
			r = policy_fail(c, jp, "%zu interfaces, at most %d allowed", json_array_size(a), JIT_MAX_IFACES);
			goto fail;
		}
		cfg->interfaces.v = calloc(json_array_size(a) + 1, sizeof(char *));
		if (!cfg->interfaces.v) {
			r = -ENOMEM;
			goto fail;
		}
		json_array_foreach(a, i, e) {
			const char *n = json_string_value(e);

			policy_jpath_index(ip, sizeof(ip), jp, i);
			if (!n || !*n || strlen(n) >= IFNAMSIZ || strchr(n, '/') || strchr(n, ' ')) {
				r = policy_fail(c, ip, "expected an interface name (1..%d bytes, no '/' or space)",
						IFNAMSIZ - 1);
				goto fail;
			}
			for (size_t k = 0; k < i; k++)
				if (!strcmp(cfg->interfaces.v[k], n)) {
					r = policy_fail(c, ip, "interface \"%s\" listed twice", n);
					goto fail;
				}
			if (!(cfg->interfaces.v[cfg->interfaces.n] = strdup(n))) {
				r = -ENOMEM;
				goto fail;
			}
			cfg->interfaces.n++;
		}
	}
	if ((a = json_object_get(v, "brute_force"))) {
		json_int_t t = cfg->bf_threshold;

		policy_jpath_key(jp, sizeof(jp), jpath, "brute_force");
		if ((r = policy_check_object(c, jp, a, bf_keys)) < 0 ||
		    (r = policy_get_int(c, jp, a, "threshold", 1, 1000000, &t)) < 0 ||
		    (r = get_duration(c, jp, a, "window", &cfg->bf_window_s)) < 0)
			goto fail;
		cfg->bf_threshold = (uint32_t)t;
	}
	if (!(a = json_object_get(v, "ports"))) {
		if ((r = default_ports(cfg)) < 0)
			goto fail;
		*out = cfg;
		return 0;
	}
	policy_jpath_key(jp, sizeof(jp), jpath, "ports");
	if (!json_is_array(a)) {
		r = policy_fail(c, jp, "expected array of {\"port\", \"protocol\", \"allowed_sources\", \"max_duration\"}");
		goto fail;
	}
	if (json_array_size(a) > VIGIL_JIT_MAX_PORTS) {
		r = policy_fail(c, jp, "%zu ports, at most %d allowed", json_array_size(a), VIGIL_JIT_MAX_PORTS);
		goto fail;
	}
	cfg->ports = calloc(json_array_size(a) + 1, sizeof(*cfg->ports));
	if (!cfg->ports) {
		r = -ENOMEM;
		goto fail;
	}
	json_array_foreach(a, i, e) {
		policy_jpath_index(ip, sizeof(ip), jp, i);
		if ((r = parse_port(c, ip, e, &cfg->ports[i])) < 0)
			goto fail;
		for (size_t k = 0; k < i; k++)
			if (cfg->ports[k].port == cfg->ports[i].port && cfg->ports[k].proto == cfg->ports[i].proto) {
				r = policy_fail(c, ip, "%s port %u listed twice", jit_proto_name(cfg->ports[i].proto),
						cfg->ports[i].port);
				goto fail;
			}
		cfg->nports++;
	}
	*out = cfg;
	return 0;
fail:
	free(s);
	config_free(cfg);
	return r;
}

/* ---------- requests ---------- */

int jit_request_check(const struct jit_config *cfg, const struct jit_request *req,
		      struct jit_prefix *src, const struct jit_port_cfg **portp,
		      char *reason, size_t rlen)
{
	const struct jit_port_cfg *pc = NULL;
	struct jit_prefix p;
	char a[64], b[64];
	int proto;

	if (!cfg || cfg->mode == VIGIL_JIT_OFF) {
		setr(reason, rlen, "%s", "JIT access is off in the policy (jit.mode is \"off\")");
		return -ENOTCONN;
	}
	proto = jit_proto_parse(req->proto);
	if (proto < 0) {
		setr(reason, rlen, "unknown protocol \"%.16s\" (allowed: tcp, udp)", req->proto);
		return -EINVAL;
	}
	if (req->port < 1 || req->port > 65535) {
		snprintf(reason, rlen, "port %d is not a port number (1..65535)", req->port);
		return -EINVAL;
	}
	for (size_t i = 0; i < cfg->nports; i++)
		if (cfg->ports[i].port == req->port && cfg->ports[i].proto == proto)
			pc = &cfg->ports[i];
	if (!pc) {
		snprintf(reason, rlen, "%s port %d is not protected by the JIT policy", jit_proto_name(proto), req->port);
		return -ENOENT;
	}
	if (jit_prefix_parse(req->source, &p, reason, rlen))
		return -EINVAL;
	bool inside = false;
	for (size_t i = 0; i < pc->nallowed && !inside; i++)
		inside = jit_prefix_contains(&pc->allowed[i], &p);
	if (!inside) {
		size_t n = 0;
		n += snprintf(reason + n, rlen > n ? rlen - n : 0, "source %s is not inside the prefixes allowed for %s port %d (",
			      jit_prefix_format(&p, a, sizeof(a)), jit_proto_name(proto), req->port);
		for (size_t i = 0; i < pc->nallowed && n < rlen; i++)
			n += snprintf(reason + n, rlen - n, "%s%s", i ? ", " : "",
				      jit_prefix_format(&pc->allowed[i], b, sizeof(b)));
		if (n < rlen)
			snprintf(reason + n, rlen - n, ")");
		return -EPERM;
	}
	if (req->duration_s <= 0) {
		snprintf(reason, rlen, "duration must be positive (got %lld s)", (long long)req->duration_s);
		return -EINVAL;
	}
	if (req->duration_s > pc->max_duration_s) {
		snprintf(reason, rlen, "duration %lld s exceeds the maximum %lld s for %s port %d",
			 (long long)req->duration_s, (long long)pc->max_duration_s, jit_proto_name(proto), req->port);
		return -EPERM;
	}
	if (!req->justification || !*req->justification) {
		setr(reason, rlen, "%s", "a justification is required");
		return -EINVAL;
	}
	if (strlen(req->justification) >= JIT_JUSTIFICATION_MAX) {
		snprintf(reason, rlen, "justification is longer than %d bytes", JIT_JUSTIFICATION_MAX - 1);
		return -EINVAL;
	}
	*src = p;
	if (portp)
		*portp = pc;
	return 0;
}

/* ---------- listening ports ---------- */

static bool port_protected(const struct jit_config *cfg, int proto, unsigned port)
{
	if (!cfg || cfg->mode != VIGIL_JIT_ENFORCE)
		return false;
	for (size_t i = 0; i < cfg->nports; i++)
		if (cfg->ports[i].port == port && cfg->ports[i].proto == proto)
			return true;
	return false;
}

static bool port_interesting(const struct jit_config *cfg, int proto, unsigned port)
{
	if (proto == IPPROTO_TCP)
		for (size_t i = 0; i < ARRAY_SIZE(mgmt_ports); i++)
			if (mgmt_ports[i] == port)
				return true;
	if (cfg)
		for (size_t i = 0; i < cfg->nports; i++)
			if (cfg->ports[i].port == port && cfg->ports[i].proto == proto)
				return true;
	return false;
}

/* Parses a /proc/net hex address (8 or 32 digits) into 16 bytes (IPv4 as
 * IPv4-mapped); the kernel prints each 32-bit word as a host-order integer. */
static int proc_addr(const char *hex, uint8_t a[16])
{
	size_t n = strlen(hex);

	if (n != 8 && n != 32)
		return -EINVAL;
	memset(a, 0, 16);
	for (size_t w = 0; w < n / 8; w++) {
		char word[9];
		uint32_t x;

		memcpy(word, hex + w * 8, 8);
		word[8] = 0;
		x = (uint32_t)strtoul(word, NULL, 16);
		memcpy(a + (n == 8 ? 12 : w * 4), &x, 4);
	}
	if (n == 8) {
		a[10] = a[11] = 0xff;
	}
	return 0;
}

int jit_scan_sessions(const char *proc_net, unsigned port, const struct jit_prefix *src, json_t **out)
{
	static const char *const files[] = { "tcp", "tcp6" };
	json_t *arr = json_array();

	if (!arr)
		return -ENOMEM;
	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		char path[512], line[512];
		FILE *f;

		snprintf(path, sizeof(path), "%s/%s", proc_net, files[i]);
		if (!(f = fopen(path, "re")))
			continue;
		if (!fgets(line, sizeof(line), f)) {
			fclose(f);
			continue;
		}
		while (fgets(line, sizeof(line), f)) {
			char la[40], ra[40], txt[INET6_ADDRSTRLEN];
			unsigned lp, rp, st;
			uint8_t a[16];
			static const uint8_t m[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

			/* TCP_ESTABLISHED = 1 */
			if (sscanf(line, " %*u: %39[0-9A-Fa-f]:%x %39[0-9A-Fa-f]:%x %x", la, &lp, ra, &rp, &st) != 5 ||
			    st != 1 || lp != port || proc_addr(ra, a) || !jit_prefix_match(src, a))
				continue;
			if (!memcmp(a, m, 12))
				inet_ntop(AF_INET, a + 12, txt, sizeof(txt));
			else
				inet_ntop(AF_INET6, a, txt, sizeof(txt));
			json_array_append_new(arr, json_pack("{s:s, s:i}", "peer", txt, "peer_port", (int)rp));
		}
		fclose(f);
	}
	*out = arr;
	return 0;
}

/* /proc/net/{tcp,udp}[6]: "sl local_address rem_address st ..." with hex
 * addresses in network byte order per 32-bit word (proc_net_tcp(5)). */
static int scan_file(const char *dir, const char *name, int proto, bool v6,
		     const struct jit_config *cfg, json_t *out)
{
	char path[512], line[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "re");
	if (!f)
		return errno == ENOENT ? 0 : -errno;
	if (!fgets(line, sizeof(line), f)) {
		fclose(f);
		return 0;
	}
	while (fgets(line, sizeof(line), f)) {
		char laddr[64];
		unsigned port, st;
		uint8_t a[16];
		char txt[INET6_ADDRSTRLEN];

		if (sscanf(line, " %*u: %63[0-9A-Fa-f]:%x %*[0-9A-Fa-f]:%*x %x", laddr, &port, &st) != 3)
			continue;
		/* TCP_LISTEN = 10; an unconnected UDP socket shows TCP_CLOSE = 7 */
		if ((proto == IPPROTO_TCP && st != 10) || (proto == IPPROTO_UDP && st != 7))
			continue;
		if (!port_interesting(cfg, proto, port))
			continue;
		if (strlen(laddr) != (v6 ? 32u : 8u) || proc_addr(laddr, a))
			continue;
		inet_ntop(v6 ? AF_INET6 : AF_INET, v6 ? a : a + 12, txt, sizeof(txt));
		bool prot = port_protected(cfg, proto, port);
		if (prot)
			continue;
		json_array_append_new(out, json_pack("{s:s, s:s, s:i, s:b, s:s}", "protocol", jit_proto_name(proto),
						     "address", txt, "port", (int)port, "protected", 0,
						     "mode", jit_mode_name(cfg ? cfg->mode : VIGIL_JIT_OFF)));
	}
	fclose(f);
	return 0;
}

int jit_scan_listeners(const char *proc_net, const struct jit_config *cfg, json_t **out)
{
	json_t *a = json_array();
	int r;

	if (!a)
		return -ENOMEM;
	if ((r = scan_file(proc_net, "tcp", IPPROTO_TCP, false, cfg, a)) < 0 ||
	    (r = scan_file(proc_net, "tcp6", IPPROTO_TCP, true, cfg, a)) < 0 ||
	    (r = scan_file(proc_net, "udp", IPPROTO_UDP, false, cfg, a)) < 0 ||
	    (r = scan_file(proc_net, "udp6", IPPROTO_UDP, true, cfg, a)) < 0) {
		json_decref(a);
		return r;
	}
	*out = a;
	return 0;
}
