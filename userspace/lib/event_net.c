/*
 * Network record decoder (struct vigil_net, bpf/net.bpf.c).  See event.h.
 *
 * Adds to obj:
 *   "network": {"op": "connect"|"accept"|"listen"|"bind",
 *               "protocol": "tcp"|"udp",
 *               "family": "ipv4"|"ipv6"      the socket's family as seen,
 *               "ipv4_mapped": bool          IPv6 socket, IPv4-mapped addresses,
 *                                            shown in IPv4 form,
 *               "local": {"address", "port"},
 *               "remote": {"address", "port"}  connect and accept only,
 *               "in_progress": bool}           connect only: EINPROGRESS
 * Addresses are in inet_ntop(3) canonical form.
 */
#include <errno.h>
#include <stdbool.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include "event.h"

static const char *const op_names[VIGIL_NOP_MAX] = {
	[VIGIL_NOP_CONNECT] = "connect",
	[VIGIL_NOP_ACCEPT]  = "accept",
	[VIGIL_NOP_LISTEN]  = "listen",
	[VIGIL_NOP_BIND]    = "bind",
};

const char *event_net_op_name(unsigned op)
{
	if (op < VIGIL_NOP_MAX && op_names[op])
		return op_names[op];
	return "unknown";
}

/* {"address": ..., "port": ...} for one endpoint, or NULL (inet_ntop failed). New reference. */
static json_t *endpoint(int af, const uint8_t addr[16], uint16_t port)
{
	char buf[INET6_ADDRSTRLEN];

	if (!inet_ntop(af, addr, buf, sizeof(buf)))
		return NULL;
	return json_pack("{s:s, s:i}", "address", buf, "port", (json_int_t)port);
}

int event_net_to_json(const struct vigil_net *ev, size_t len, json_t *obj)
{
	bool mapped, remote;
	json_t *n, *l, *r = NULL;

	if (len < sizeof(*ev) || ev->hdr.size < sizeof(*ev) || ev->hdr.size > len)
		return -EINVAL;
	if (ev->op == 0 || ev->op >= VIGIL_NOP_MAX)
		return -EINVAL;
	if (ev->proto != IPPROTO_TCP && ev->proto != IPPROTO_UDP)
		return -EINVAL;
	if (ev->family != AF_INET && ev->family != AF_INET6)
		return -EINVAL;
	mapped = ev->hdr.flags & VIGIL_F_NET_MAPPED;
	/* normalised addresses: the socket's own family, or IPv4 from a mapped IPv6 socket */
	if (mapped ? (ev->family != AF_INET6 || ev->af != AF_INET) : ev->af != ev->family)
		return -EINVAL;

	remote = ev->op == VIGIL_NOP_CONNECT || ev->op == VIGIL_NOP_ACCEPT;
	l = endpoint(ev->af, ev->saddr, ev->sport);
	if (remote)
		r = endpoint(ev->af, ev->daddr, ev->dport);
	if (!l || (remote && !r)) {
		json_decref(l);
		json_decref(r);
		return -EINVAL;
	}
	n = json_pack("{s:s, s:s, s:s, s:b, s:o}",
		      "op", event_net_op_name(ev->op),
		      "protocol", ev->proto == IPPROTO_TCP ? "tcp" : "udp",
		      "family", ev->family == AF_INET ? "ipv4" : "ipv6",
		      "ipv4_mapped", mapped,
		      "local", l);
	if (!n) {
		json_decref(r);
		return -ENOMEM;
	}
	if (r)
		json_object_set_new(n, "remote", r);
	if (ev->op == VIGIL_NOP_CONNECT)
		json_object_set_new(n, "in_progress",
				    json_boolean(ev->hdr.flags & VIGIL_F_NET_INPROGRESS));
	return json_object_set_new(obj, "network", n) ? -ENOMEM : 0;
}
