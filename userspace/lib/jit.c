/*
 * JIT port access engine: loads bpf/jit.bpf.c with its maps pinned under
 * jit.pin_dir, attaches it to the policy's interfaces (XDP link pinned per
 * interface, or a TC clsact ingress filter), keeps the grants (state dir
 * and pinned LPM trie), expires them, and turns kernel drop records into
 * alerts.  A restarted vigild adopts the pinned maps and swaps its freshly
 * loaded program into the pinned links (bpf_link_update / TC replace), so
 * a protected port is never open in between and never attached twice.
 * See jit.h.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "alert.h"
#include "engine.h"
#include "jit.h"
#include "selfprot.h"
#include "jsonx.h"
#include "util.h"
#include "jit.skel.h"

#define TC_HANDLE        0x7669      /* "vi" */
#define TC_PRIO          1
#define SAMPLE_NS        (5ull * 1000000000ull)   /* one sampled drop record per source per 5 s */
#define ALERT_BURST      20          /* blocked-attempt alerts per ALERT_WINDOW_NS */
#define ALERT_WINDOW_NS  (10ull * 1000000000ull)
#define HISTORY_MAX      (4u << 20)  /* bytes, then history.jsonl -> history.jsonl.1 */
#define NS               1000000000ull

static const char *const map_names[] = {
	"vigil_jit_cfg", "vigil_jit_ports", "vigil_jit_grant", "vigil_jit_src", "vigil_jit_stat", "vigil_jit_ev",
};

struct jit_iface {
	char name[IF_NAMESIZE];
	int ifindex;
	int link_fd;          /* XDP link; -1 for TC */
	int hook;             /* JIT_HOOK_XDP (native), JIT_HOOK_XDP_GENERIC, JIT_HOOK_TC */
	bool adopted;
	bool seen;
};

struct jit_grant {
	char id[17];
	uint64_t id_num;
	struct jit_prefix src;
	uint8_t proto;
	uint16_t port;
	uid_t uid;
	pid_t pid;
	char user[64];
	char via[16];
	char *justification;
	uint64_t start_wall_ns, end_wall_ns, end_boot_ns;
};

struct jit {
	struct agent *a;
	const struct jit_config *cfg;      /* in the policy in force */
	struct jit_bpf *skel;
	char pin_dir[PATH_MAX];
	int fd_cfg, fd_ports, fd_grant, fd_src, fd_stat;
	struct ring_buffer *rb;
	int epfd, nlfd;
	struct jit_iface ifs[JIT_MAX_IFACES];
	size_t nifs;
	char attach_error[256];
	bool disabled;                     /* `vigil jit disable` until the next policy apply */
	int nports_loaded;

	struct jit_grant *grants;
	size_t ngrants;
	char dir[PATH_MAX], grants_path[PATH_MAX], history_path[PATH_MAX];
	char boot_id[64];

	uint64_t alert_window_start, alert_count, alerts_suppressed, records, history_failures;
};

static const struct vigil_mitre mitre_remote = {
	.tactic = "TA0008", .tactic_name = "Lateral Movement",
	.technique = "T1021", .technique_name = "Remote Services",
};
static const struct vigil_mitre mitre_ssh = {
	.tactic = "TA0008", .tactic_name = "Lateral Movement",
	.technique = "T1021.004", .technique_name = "Remote Services: SSH",
};
static const struct vigil_mitre mitre_rdp = {
	.tactic = "TA0008", .tactic_name = "Lateral Movement",
	.technique = "T1021.001", .technique_name = "Remote Services: Remote Desktop Protocol",
};
static const struct vigil_mitre mitre_winrm = {
	.tactic = "TA0008", .tactic_name = "Lateral Movement",
	.technique = "T1021.006", .technique_name = "Remote Services: Windows Remote Management",
};
static const struct vigil_mitre mitre_brute = {
	.tactic = "TA0006", .tactic_name = "Credential Access",
	.technique = "T1110", .technique_name = "Brute Force",
};
static const struct vigil_mitre mitre_evasion = {
	.tactic = "TA0005", .tactic_name = "Defense Evasion",
	.technique = "T1562.004", .technique_name = "Impair Defenses: Disable or Modify System Firewall",
};

static const struct vigil_mitre *mitre_for_port(unsigned port)
{
	switch (port) {
	case 22: return &mitre_ssh;
	case 3389: return &mitre_rdp;
	case 5985: case 5986: return &mitre_winrm;
	default: return &mitre_remote;
	}
}

static const char *hook_name(int hook)
{
	switch (hook) {
	case JIT_HOOK_XDP: return "xdp_native";
	case JIT_HOOK_XDP_GENERIC: return "xdp_generic";
	case JIT_HOOK_TC: return "tc";
	default: return "auto";
	}
}

static const char *reason_name(unsigned r)
{
	switch (r) {
	case VIGIL_JIT_R_NO_GRANT: return "no_grant";
	case VIGIL_JIT_R_TRUNCATED: return "truncated_header";
	case VIGIL_JIT_R_VLAN_DEPTH: return "too_many_vlan_tags";
	case VIGIL_JIT_R_EXT_CHAIN: return "ipv6_extension_chain_too_long";
	case VIGIL_JIT_R_SHORT_FRAG: return "first_fragment_too_short";
	case VIGIL_JIT_R_BAD_FRAG: return "tcp_fragment_overlap";
	case VIGIL_JIT_R_BAD_HDR: return "bad_ip_header";
	default: return "unknown";
	}
}

static void set_time(json_t *o, const char *key, uint64_t wall_ns)
{
	char ts[48];

	json_object_set_new(o, key, json_string(util_rfc3339(wall_ns, ts, sizeof(ts))));
}

static void addr_text(const uint8_t a[16], char *buf, size_t len)
{
	static const uint8_t m[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	if (!memcmp(a, m, 12))
		inet_ntop(AF_INET, a + 12, buf, len);
	else
		inet_ntop(AF_INET6, a, buf, len);
}

/* ---------- grants: JSON, persistence, history ---------- */

static json_t *grant_json(const struct jit_grant *g, uint64_t now_boot)
{
	char src[64];
	json_t *o = json_object();

	json_object_set_new(o, "id", json_string(g->id));
	json_object_set_new(o, "source", json_string(jit_prefix_format(&g->src, src, sizeof(src))));
	json_object_set_new(o, "port", json_integer(g->port));
	json_object_set_new(o, "protocol", json_string(jit_proto_name(g->proto)));
	json_t *r = json_pack("{s:I, s:I, s:s}", "uid", (json_int_t)g->uid, "pid", (json_int_t)g->pid, "via", g->via);
	jsonx_set_str(r, "user", g->user);
	json_object_set_new(o, "requestor", r);
	jsonx_set_str(o, "justification", g->justification);
	set_time(o, "start", g->start_wall_ns);
	set_time(o, "end", g->end_wall_ns);
	json_object_set_new(o, "duration_s", json_integer((json_int_t)((g->end_wall_ns - g->start_wall_ns) / NS)));
	if (now_boot)
		json_object_set_new(o, "remaining_s", json_integer(g->end_boot_ns > now_boot ?
			(json_int_t)((g->end_boot_ns - now_boot + NS - 1) / NS) : 0));
	return o;
}

static int save_grants(struct jit *j)
{
	json_t *doc = json_object(), *arr = json_array();
	char *text;
	int r;

	json_object_set_new(doc, "boot_id", json_string(j->boot_id));
	for (size_t i = 0; i < j->ngrants; i++) {
		const struct jit_grant *g = &j->grants[i];
		json_t *o = grant_json(g, 0);

		json_object_set_new(o, "start_ns", json_integer((json_int_t)g->start_wall_ns));
		json_object_set_new(o, "end_ns", json_integer((json_int_t)g->end_wall_ns));
		json_object_set_new(o, "end_boot_ns", json_integer((json_int_t)g->end_boot_ns));
		json_array_append_new(arr, o);
	}
	json_object_set_new(doc, "grants", arr);
	text = json_dumps(doc, JSON_INDENT(1));
	json_decref(doc);
	if (!text)
		return -ENOMEM;
	r = util_write_file_atomic(j->grants_path, text, strlen(text), 0600);
	free(text);
	return r;
}

/* Appends one line to the request history (every request, refused or not). */
static void history(struct jit *j, const char *event, json_t *fields)
{
	json_t *o = json_object();
	struct stat st;
	char *line;
	int fd;

	set_time(o, "time", util_now_ns());
	json_object_set_new(o, "event", json_string(event));
	if (fields)
		json_object_update(o, fields);
	line = jsonx_dump_line(o);
	json_decref(o);
	if (!line)
		return;
	if (stat(j->history_path, &st) == 0 && st.st_size > HISTORY_MAX) {
		char old[PATH_MAX + 4];
		snprintf(old, sizeof(old), "%s.1", j->history_path);
		rename(j->history_path, old);
	}
	fd = open(j->history_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd >= 0) {
		size_t n = strlen(line);
		line[n] = '\n';
		if (write(fd, line, n + 1) != (ssize_t)(n + 1))
			j->history_failures++;
		close(fd);
	} else {
		j->history_failures++;
	}
	free(line);
}

static void grant_free(struct jit_grant *g)
{
	free(g->justification);
	g->justification = NULL;
}

static void grant_key(const struct jit_grant *g, struct vigil_jit_key *k)
{
	memset(k, 0, sizeof(*k));
	k->prefixlen = VIGIL_JIT_KEY_FIXED_BITS + g->src.len;
	k->proto = g->proto;
	k->port = g->port;
	memcpy(k->addr, g->src.addr, 16);
}

static int map_put_grant(struct jit *j, const struct jit_grant *g)
{
	struct vigil_jit_key k;
	struct vigil_jit_grant v = { .deadline_ns = g->end_boot_ns, .grant_id = g->id_num };

	if (j->fd_grant < 0)
		return 0;
	grant_key(g, &k);
	v.prefixlen = k.prefixlen;
	return bpf_map_update_elem(j->fd_grant, &k, &v, BPF_ANY) ? -errno : 0;
}

/* Deletes g's map entry if it still belongs to g (a replacement shares the key). */
static void map_del_grant(struct jit *j, const struct jit_grant *g)
{
	struct vigil_jit_key k;
	struct vigil_jit_grant v;

	if (j->fd_grant < 0)
		return;
	grant_key(g, &k);
	if (bpf_map_lookup_elem(j->fd_grant, &k, &v) == 0 && v.grant_id == g->id_num)
		bpf_map_delete_elem(j->fd_grant, &k);
}

/* Writes every live grant to the map and removes entries no grant owns. */
static void map_sync_grants(struct jit *j)
{
	struct vigil_jit_key k, next, *prev = NULL;
	struct vigil_jit_key stale[64];
	size_t nstale = 0;

	if (j->fd_grant < 0)
		return;
	for (size_t i = 0; i < j->ngrants; i++)
		map_put_grant(j, &j->grants[i]);
	while (bpf_map_get_next_key(j->fd_grant, prev, &next) == 0) {
		struct vigil_jit_grant v;
		bool owned = false;

		k = next;
		prev = &k;
		if (bpf_map_lookup_elem(j->fd_grant, &k, &v))
			continue;
		for (size_t i = 0; i < j->ngrants && !owned; i++)
			owned = j->grants[i].id_num == v.grant_id;
		if (!owned && nstale < ARRAY_SIZE(stale))
			stale[nstale++] = k;
	}
	for (size_t i = 0; i < nstale; i++)
		bpf_map_delete_elem(j->fd_grant, &stale[i]);
}

static void emit_grant_alert(struct jit *j, const char *rule, const char *title, const struct jit_grant *g,
			     const struct jit_requestor *who, const char *extra_key, json_t *extra)
{
	json_t *al = alert_new(rule, title, VIGIL_SEV_INFORMATIONAL, mitre_for_port(g->port),
			       "Informational: JIT access to a management port changed. Check that the requestor "
			       "and justification are expected; revoke with 'vigil jit revoke ID'.", "audited");
	struct proc *p;

	if (!al) {
		json_decref(extra);
		return;
	}
	p = who && who->pid ? proctab_lookup(agent_proctab(j->a), who->pid) : NULL;
	agent_add_actor(j->a, al, p, NULL);
	if (!p && who && who->pid) {
		json_t *pj = json_pack("{s:I, s:I}", "pid", (json_int_t)who->pid, "uid", (json_int_t)who->uid);
		jsonx_set_str(pj, "user", who->user);
		json_object_set_new(al, "process", pj);
	}
	json_t *jg = grant_json(g, util_boot_ns());
	if (extra_key)
		json_object_set_new(jg, extra_key, extra);
	json_object_set_new(al, "jit", jg);
	agent_emit_alert(j->a, al);
	json_decref(al);
}

static void read_boot_id(char *buf, size_t len)
{
	size_t n = 0;
	char *s = util_read_file("/proc/sys/kernel/random/boot_id", 128, &n);

	snprintf(buf, len, "%s", s ? s : "");
	buf[strcspn(buf, "\n")] = 0;
	free(s);
}

/* Loads grants.json; expired grants are recorded and never restored. */
static void load_grants(struct jit *j)
{
	json_error_t je;
	json_t *doc = json_load_file(j->grants_path, JSON_REJECT_DUPLICATES, &je), *arr, *o;
	uint64_t now_wall = util_now_ns(), now_boot = util_boot_ns();
	bool same_boot, changed = false;
	size_t i;

	if (!doc) {
		if (!access(j->grants_path, F_OK))
			selfprot_state_corrupt(j->grants_path, je.text, "no grant restored: request them again");
		return;
	}
	same_boot = !strcmp(json_string_value(json_object_get(doc, "boot_id")) ?: "", j->boot_id);
	arr = json_object_get(doc, "grants");
	j->grants = calloc(json_array_size(arr) + 1, sizeof(*j->grants));
	if (!j->grants) {
		json_decref(doc);
		return;
	}
	json_array_foreach(arr, i, o) {
		struct jit_grant g = { 0 };
		const char *id = json_string_value(json_object_get(o, "id"));
		json_t *rq = json_object_get(o, "requestor");

		if (!id || strlen(id) != 16 ||
		    jit_prefix_parse(json_string_value(json_object_get(o, "source")), &g.src, NULL, 0) ||
		    jit_proto_parse(json_string_value(json_object_get(o, "protocol"))) < 0) {
			changed = true;
			continue;
		}
		memcpy(g.id, id, 17);
		g.id_num = strtoull(id, NULL, 16);
		g.proto = (uint8_t)jit_proto_parse(json_string_value(json_object_get(o, "protocol")));
		g.port = (uint16_t)json_integer_value(json_object_get(o, "port"));
		g.uid = (uid_t)json_integer_value(json_object_get(rq, "uid"));
		g.pid = (pid_t)json_integer_value(json_object_get(rq, "pid"));
		snprintf(g.user, sizeof(g.user), "%s", json_string_value(json_object_get(rq, "user")) ?: "");
		snprintf(g.via, sizeof(g.via), "%s", json_string_value(json_object_get(rq, "via")) ?: "cli");
		g.justification = strdup(json_string_value(json_object_get(o, "justification")) ?: "");
		g.start_wall_ns = (uint64_t)json_integer_value(json_object_get(o, "start_ns"));
		g.end_wall_ns = (uint64_t)json_integer_value(json_object_get(o, "end_ns"));
		if (same_boot)
			g.end_boot_ns = (uint64_t)json_integer_value(json_object_get(o, "end_boot_ns"));
		else   /* another boot: the absolute end time in wall-clock terms */
			g.end_boot_ns = g.end_wall_ns > now_wall ? now_boot + (g.end_wall_ns - now_wall) : 0;
		if (g.end_boot_ns <= now_boot || g.end_wall_ns <= now_wall) {
			history(j, "expired", json_pack("{s:o, s:b}", "grant", grant_json(&g, 0), "while_stopped", 1));
			emit_grant_alert(j, "jit_grant_expired", "JIT access grant expired", &g, NULL, NULL, NULL);
			grant_free(&g);
			changed = true;
			continue;
		}
		j->grants[j->ngrants++] = g;
	}
	json_decref(doc);
	if (changed)
		save_grants(j);
}

/* ---------- BPF objects, pins, attachments ---------- */

static int pin_path(const char *dir, const char *name, char *out, size_t len)
{
	return util_path_join(out, len, dir, name);
}

static int tc_detach(int ifindex)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_INGRESS);
	DECLARE_LIBBPF_OPTS(bpf_tc_opts, opts, .handle = TC_HANDLE, .priority = TC_PRIO);

	return bpf_tc_detach(&hook, &opts);
}

int jit_unpin_all(const char *pin_dir)
{
	DIR *d = opendir(pin_dir);
	struct dirent *e;
	struct if_nameindex *ni;
	int r = 0;

	if (!d)
		return errno == ENOENT ? 0 : -errno;
	/* TC filters are not pinned: remove vigil's (its handle and priority) from
	 * every interface, only when there is a pin directory, i.e. JIT ran here */
	ni = if_nameindex();
	for (struct if_nameindex *p = ni; p && p->if_index; p++)
		tc_detach((int)p->if_index);
	if (ni)
		if_freenameindex(ni);
	while ((e = readdir(d))) {
		char p[PATH_MAX];

		if (e->d_name[0] == '.')
			continue;
		if (pin_path(pin_dir, e->d_name, p, sizeof(p)) == 0 && unlink(p) && errno != ENOENT)
			r = -errno;
	}
	closedir(d);
	if (rmdir(pin_dir) && errno != ENOENT && !r)
		r = -errno;
	return r;
}

static void iface_detach(struct jit *j, struct jit_iface *f, bool unpin)
{
	char p[PATH_MAX], n[IF_NAMESIZE + 8];

	if (f->link_fd >= 0) {
		if (unpin) {
			snprintf(n, sizeof(n), "xdp_%s", f->name);
			if (pin_path(j->pin_dir, n, p, sizeof(p)) == 0)
				unlink(p);
			bpf_link_detach(f->link_fd);
		}
		close(f->link_fd);
		f->link_fd = -1;
	} else if (f->hook == JIT_HOOK_TC && unpin) {
		tc_detach(f->ifindex);
	}
}

/* XDP mode in force on ifindex: JIT_HOOK_XDP (driver) or JIT_HOOK_XDP_GENERIC. */
static int xdp_mode(int ifindex)
{
	DECLARE_LIBBPF_OPTS(bpf_xdp_query_opts, q);

	if (bpf_xdp_query(ifindex, 0, &q) == 0 && q.attach_mode == XDP_ATTACHED_SKB)
		return JIT_HOOK_XDP_GENERIC;
	return JIT_HOOK_XDP;
}

static int attach_tc(struct jit *j, struct jit_iface *f)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = f->ifindex, .attach_point = BPF_TC_INGRESS);
	DECLARE_LIBBPF_OPTS(bpf_tc_opts, opts, .handle = TC_HANDLE, .priority = TC_PRIO,
			    .prog_fd = bpf_program__fd(j->skel->progs.vigil_jit_tc));
	DECLARE_LIBBPF_OPTS(bpf_tc_opts, q, .handle = TC_HANDLE, .priority = TC_PRIO);
	int r;

	r = bpf_tc_hook_create(&hook);
	if (r && r != -EEXIST)
		return r;
	f->adopted = bpf_tc_query(&hook, &q) == 0;
	/* REPLACE swaps the program of an existing filter in one step */
	opts.flags = BPF_TC_F_REPLACE;
	r = bpf_tc_attach(&hook, &opts);
	if (r)
		return r;
	f->hook = JIT_HOOK_TC;
	f->link_fd = -1;
	return 0;
}

static int attach_xdp(struct jit *j, struct jit_iface *f, bool generic)
{
	DECLARE_LIBBPF_OPTS(bpf_link_create_opts, lo, .flags = generic ? XDP_FLAGS_SKB_MODE : 0);
	int prog = bpf_program__fd(j->skel->progs.vigil_jit_xdp);
	char p[PATH_MAX], n[IF_NAMESIZE + 8];
	int fd, r;

	snprintf(n, sizeof(n), "xdp_%s", f->name);
	if ((r = pin_path(j->pin_dir, n, p, sizeof(p))))
		return r;
	fd = bpf_obj_get(p);
	if (fd >= 0) {
		struct bpf_link_info info = { 0 };
		uint32_t il = sizeof(info);

		if (bpf_obj_get_info_by_fd(fd, &info, &il) == 0 && info.type == BPF_LINK_TYPE_XDP &&
		    (int)info.xdp.ifindex == f->ifindex && bpf_link_update(fd, prog, NULL) == 0) {
			f->link_fd = fd;
			f->adopted = true;
			f->hook = xdp_mode(f->ifindex);
			return 0;
		}
		/* a link of a vanished interface, or of another kind: start afresh */
		close(fd);
		unlink(p);
	}
	fd = bpf_link_create(prog, f->ifindex, BPF_XDP, &lo);
	if (fd < 0)
		return -errno;
	if (bpf_obj_pin(fd, p)) {
		r = -errno;
		bpf_link_detach(fd);
		close(fd);
		return r;
	}
	f->link_fd = fd;
	f->adopted = false;
	f->hook = xdp_mode(f->ifindex);
	return 0;
}

static int iface_attach(struct jit *j, struct jit_iface *f)
{
	int hook = j->cfg->hook, r;

	f->link_fd = -1;
	if (hook == JIT_HOOK_TC)
		return attach_tc(j, f);
	r = attach_xdp(j, f, hook == JIT_HOOK_XDP_GENERIC);
	if (r && hook == JIT_HOOK_AUTO) {
		r = attach_xdp(j, f, true);
		if (r)
			r = attach_tc(j, f);
	}
	if (!r && hook != JIT_HOOK_TC) {
		/* adopted from TC after a hook change: no double judging */
		tc_detach(f->ifindex);
	}
	return r;
}

static bool iface_wanted(const struct jit *j, const char *name, unsigned flags)
{
	if (j->cfg->interfaces.n) {
		for (size_t i = 0; i < j->cfg->interfaces.n; i++)
			if (!strcmp(j->cfg->interfaces.v[i], name))
				return true;
		return false;
	}
	return !(flags & IFF_LOOPBACK);
}

/* Attaches to wanted interfaces that are not attached yet and detaches
 * from interfaces that are gone or no longer wanted. */
static void sync_ifaces(struct jit *j)
{
	struct if_nameindex *ni, *p;
	int sk;

	if (!j->skel)
		return;
	ni = if_nameindex();
	if (!ni)
		return;
	sk = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	for (size_t i = 0; i < j->nifs; i++)
		j->ifs[i].seen = false;
	for (p = ni; p->if_index; p++) {
		struct ifreq ifr = { 0 };
		struct jit_iface *f = NULL;

		snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", p->if_name);
		if (sk < 0 || ioctl(sk, SIOCGIFFLAGS, &ifr))
			continue;
		if (!iface_wanted(j, p->if_name, (unsigned)ifr.ifr_flags))
			continue;
		for (size_t i = 0; i < j->nifs; i++)
			if (j->ifs[i].ifindex == (int)p->if_index && !strcmp(j->ifs[i].name, p->if_name))
				f = &j->ifs[i];
		if (f) {
			f->seen = true;
			continue;
		}
		if (j->nifs >= ARRAY_SIZE(j->ifs))
			continue;
		f = &j->ifs[j->nifs];
		memset(f, 0, sizeof(*f));
		snprintf(f->name, sizeof(f->name), "%s", p->if_name);
		f->ifindex = (int)p->if_index;
		int r = iface_attach(j, f);
		if (r) {
			snprintf(j->attach_error, sizeof(j->attach_error), "%s: %s", f->name, strerror(-r));
			continue;
		}
		f->seen = true;
		j->nifs++;
	}
	for (size_t i = 0; i < j->nifs;) {
		if (!j->ifs[i].seen) {
			/* gone (its XDP link went with it) or no longer wanted */
			iface_detach(j, &j->ifs[i], true);
			j->ifs[i] = j->ifs[--j->nifs];
		} else {
			i++;
		}
	}
	if (sk >= 0)
		close(sk);
	if_freenameindex(ni);
}

static int on_drop(void *ctx, void *data, size_t size);

static void write_cfg(struct jit *j)
{
	struct vigil_jit_cfg c = {
		.mode = (uint32_t)j->cfg->mode,
		.strict = j->cfg->strict,
		.nports = (uint32_t)j->cfg->nports,
		.bf_threshold = j->cfg->bf_threshold,
		.bf_window_ns = (uint64_t)j->cfg->bf_window_s * NS,
		.sample_ns = SAMPLE_NS,
	};
	uint32_t zero = 0;

	bpf_map_update_elem(j->fd_cfg, &zero, &c, BPF_ANY);
}

/* Ports: add the new set first, then remove what left the policy. */
static void sync_ports(struct jit *j)
{
	struct vigil_jit_port k, next, *prev = NULL, stale[VIGIL_JIT_MAX_PORTS];
	size_t nstale = 0;
	uint32_t one = 1;

	for (size_t i = 0; i < j->cfg->nports; i++) {
		struct vigil_jit_port pk = { .proto = j->cfg->ports[i].proto, .port = j->cfg->ports[i].port };
		bpf_map_update_elem(j->fd_ports, &pk, &one, BPF_ANY);
	}
	while (bpf_map_get_next_key(j->fd_ports, prev, &next) == 0) {
		bool keep = false;

		k = next;
		prev = &k;
		for (size_t i = 0; i < j->cfg->nports && !keep; i++)
			keep = j->cfg->ports[i].proto == k.proto && j->cfg->ports[i].port == k.port;
		if (!keep && nstale < ARRAY_SIZE(stale))
			stale[nstale++] = k;
	}
	for (size_t i = 0; i < nstale; i++)
		bpf_map_delete_elem(j->fd_ports, &stale[i]);
}

static int set_pins(struct jit *j)
{
	for (size_t i = 0; i < ARRAY_SIZE(map_names); i++) {
		struct bpf_map *m = bpf_object__find_map_by_name(j->skel->obj, map_names[i]);
		char p[PATH_MAX];
		int r;

		if (!m || (r = pin_path(j->pin_dir, map_names[i], p, sizeof(p))) || (r = bpf_map__set_pin_path(m, p)))
			return m ? r : -ENOENT;
	}
	return 0;
}

static void bpf_close(struct jit *j, bool unpin)
{
	for (size_t i = 0; i < j->nifs; i++)
		iface_detach(j, &j->ifs[i], unpin);
	j->nifs = 0;
	if (j->rb) {
		epoll_ctl(j->epfd, EPOLL_CTL_DEL, ring_buffer__epoll_fd(j->rb), NULL);
		ring_buffer__free(j->rb);
		j->rb = NULL;
	}
	jit_bpf__destroy(j->skel);
	j->skel = NULL;
	j->fd_cfg = j->fd_ports = j->fd_grant = j->fd_src = j->fd_stat = -1;
	if (unpin)
		jit_unpin_all(j->pin_dir);
}

/* Opens the object with its maps pinned (reusing pinned ones), loads it,
 * configures the maps and attaches.  0 or -errno with err set. */
static int bpf_open(struct jit *j, char *err, size_t errlen)
{
	int r;

	snprintf(j->pin_dir, sizeof(j->pin_dir), "%s", j->cfg->pin_dir);
	r = util_mkdir_p(j->pin_dir, 0700);
	if (r) {
		snprintf(err, errlen, "jit: cannot create the pin directory %s: %s", j->pin_dir, strerror(-r));
		return r;
	}
	for (int attempt = 0; attempt < 2; attempt++) {
		j->skel = jit_bpf__open();
		if (!j->skel) {
			r = -errno;
			snprintf(err, errlen, "jit: cannot open the BPF object: %s", strerror(-r));
			return r;
		}
		if ((r = set_pins(j))) {
			snprintf(err, errlen, "jit: cannot set pin paths under %s: %s", j->pin_dir, strerror(-r));
			goto fail;
		}
		r = jit_bpf__load(j->skel);
		if (!r)
			break;
		/* pinned maps of an incompatible layout (another vigil version): replace them */
		jit_bpf__destroy(j->skel);
		j->skel = NULL;
		if (attempt == 0) {
			for (size_t i = 0; i < ARRAY_SIZE(map_names); i++) {
				char p[PATH_MAX];
				if (!pin_path(j->pin_dir, map_names[i], p, sizeof(p)))
					unlink(p);
			}
			continue;
		}
		snprintf(err, errlen, "jit: cannot load the BPF programs: %s", strerror(-r));
		return r;
	}
	j->fd_cfg = bpf_map__fd(j->skel->maps.vigil_jit_cfg);
	j->fd_ports = bpf_map__fd(j->skel->maps.vigil_jit_ports);
	j->fd_grant = bpf_map__fd(j->skel->maps.vigil_jit_grant);
	j->fd_src = bpf_map__fd(j->skel->maps.vigil_jit_src);
	j->fd_stat = bpf_map__fd(j->skel->maps.vigil_jit_stat);
	/* pinned programs, for bpftool and operators: replace the previous ones */
	{
		char p[PATH_MAX];
		if (!pin_path(j->pin_dir, "prog_xdp", p, sizeof(p))) {
			unlink(p);
			bpf_program__pin(j->skel->progs.vigil_jit_xdp, p);
		}
		if (!pin_path(j->pin_dir, "prog_tc", p, sizeof(p))) {
			unlink(p);
			bpf_program__pin(j->skel->progs.vigil_jit_tc, p);
		}
	}
	j->rb = ring_buffer__new(bpf_map__fd(j->skel->maps.vigil_jit_ev), on_drop, j, NULL);
	if (!j->rb) {
		r = -errno;
		snprintf(err, errlen, "jit: cannot poll the JIT ringbuf: %s", strerror(-r));
		goto fail;
	}
	struct epoll_event ee = { .events = EPOLLIN, .data.u32 = 1 };
	epoll_ctl(j->epfd, EPOLL_CTL_ADD, ring_buffer__epoll_fd(j->rb), &ee);
	/* grants and ports before the mode: an adopted program never sees a gap */
	map_sync_grants(j);
	sync_ports(j);
	write_cfg(j);
	j->attach_error[0] = 0;
	sync_ifaces(j);
	if (j->cfg->interfaces.n && j->nifs == 0 && j->attach_error[0]) {
		snprintf(err, errlen, "jit: cannot attach to any interface (%s)", j->attach_error);
		r = -ENODEV;
		goto fail;
	}
	return 0;
fail:
	bpf_close(j, false);
	return r;
}

/* ---------- kernel records ---------- */

static bool alert_budget(struct jit *j)
{
	uint64_t now = util_boot_ns();

	if (now - j->alert_window_start > ALERT_WINDOW_NS) {
		j->alert_window_start = now;
		j->alert_count = 0;
	}
	if (j->alert_count >= ALERT_BURST) {
		j->alerts_suppressed++;
		return false;
	}
	j->alert_count++;
	return true;
}

static int on_drop(void *ctx, void *data, size_t size)
{
	struct jit *j = ctx;
	const struct vigil_jit_drop *d = data;
	char src[INET6_ADDRSTRLEN], ifname[IF_NAMESIZE] = "";
	bool audit, brute, bad;
	json_t *al, *f;

	j->records++;
	if (size < sizeof(*d) || d->type != VIGIL_JIT_REC_DROP)
		return 0;
	audit = d->flags & VIGIL_JIT_F_AUDIT;
	brute = d->flags & VIGIL_JIT_F_BRUTE;
	bad = d->reason != VIGIL_JIT_R_NO_GRANT;
	addr_text(d->addr, src, sizeof(src));
	if_indextoname(d->ifindex, ifname);

	f = json_object();
	json_object_set_new(f, "source", json_string(src));
	json_object_set_new(f, "port", json_integer(d->port));
	json_object_set_new(f, "protocol", json_string(jit_proto_name(d->proto)));
	json_object_set_new(f, "interface", json_string(ifname));
	json_object_set_new(f, "reason", json_string(reason_name(d->reason)));
	json_object_set_new(f, "ip_version", json_integer(d->flags & VIGIL_JIT_F_V6 ? 6 : 4));
	json_object_set_new(f, "attempts", json_integer((json_int_t)d->drops));

	if (brute) {
		al = alert_new("jit_brute_force", "Repeated connection attempts to a JIT-protected port",
			       VIGIL_SEV_MEDIUM, &mitre_brute,
			       "A source keeps trying a closed management port: block it upstream, check the "
			       "service's authentication logs for the same source, and keep JIT enforced.",
			       audit ? "audited" : "blocked");
		json_object_set_new(f, "window_attempts", json_integer((json_int_t)d->win_drops));
		json_object_set_new(f, "window_s", json_integer(j->cfg ? j->cfg->bf_window_s : 0));
		set_time(f, "window_start", util_boot_to_wall_ns(d->win_start_ns));
		const struct vigil_mitre *m = mitre_for_port(d->port);
		json_object_set_new(f, "related_techniques", json_pack("[{s:s, s:s}]", "technique", m->technique,
									"technique_name", m->technique_name));
	} else {
		if (!alert_budget(j)) {
			json_decref(f);
			return 0;
		}
		if (bad)
			al = alert_new("jit_malformed_packet", "Malformed packet toward JIT-protected ports refused",
				       VIGIL_SEV_MEDIUM, &mitre_evasion,
				       "Crafted headers (fragments, extension-header chains, VLAN stacking) can be "
				       "used to slip past port filters; find the sender and block it upstream.",
				       audit ? "audited" : "blocked");
		else
			al = alert_new(audit ? "jit_access_audited" : "jit_access_blocked",
				       audit ? "Connection to a JIT-protected port without a grant (audit mode)"
					     : "Connection to a JIT-protected port without a grant refused",
				       VIGIL_SEV_LOW, mitre_for_port(d->port),
				       "If this access is legitimate, request it with 'vigil jit request'; otherwise "
				       "find out why this source reaches a management port.",
				       audit ? "audited" : "blocked");
	}
	if (!al) {
		json_decref(f);
		return 0;
	}
	set_time(al, "time", util_boot_to_wall_ns(d->ts_ns));
	agent_add_actor(j->a, al, NULL, NULL);
	json_object_set_new(al, "network", f);
	agent_emit_alert(j->a, al);
	json_decref(al);
	return 0;
}

/* ---------- expiry ---------- */

static void check_sessions(struct jit *j, const struct jit_grant *g)
{
	json_t *s = NULL;

	if (g->proto != IPPROTO_TCP || (j->cfg && j->cfg->strict))
		return;
	if (jit_scan_sessions("/proc/net", g->port, &g->src, &s) || !json_array_size(s)) {
		json_decref(s);
		return;
	}
	json_t *al = alert_new("jit_session_outlived_grant", "Session on a JIT-protected port outlived its grant",
			       VIGIL_SEV_LOW, mitre_for_port(g->port),
			       "The grant ended but an established session stays open (only new connections are "
			       "refused). End the session if it is no longer needed, or set jit.strict.", "audited");
	if (!al) {
		json_decref(s);
		return;
	}
	agent_add_actor(j->a, al, NULL, NULL);
	json_t *jg = grant_json(g, 0);
	json_object_set_new(jg, "sessions", s);
	json_object_set_new(al, "jit", jg);
	agent_emit_alert(j->a, al);
	json_decref(al);
}

static void remove_grant(struct jit *j, size_t i)
{
	grant_free(&j->grants[i]);
	j->grants[i] = j->grants[--j->ngrants];
}

static void expire(struct jit *j, uint64_t now_boot)
{
	bool changed = false;

	for (size_t i = 0; i < j->ngrants;) {
		struct jit_grant *g = &j->grants[i];

		if (g->end_boot_ns > now_boot) {
			i++;
			continue;
		}
		map_del_grant(j, g);
		history(j, "expired", json_pack("{s:o}", "grant", grant_json(g, 0)));
		emit_grant_alert(j, "jit_grant_expired", "JIT access grant expired", g, NULL, NULL, NULL);
		check_sessions(j, g);
		remove_grant(j, i);
		changed = true;
	}
	if (changed)
		save_grants(j);
}

/* ---------- requests ---------- */

static json_t *request_json(const struct jit_request *req, const struct jit_requestor *who)
{
	json_t *o = json_object();

	json_object_set_new(o, "port", json_integer(req->port));
	jsonx_set_str(o, "protocol", req->proto ? req->proto : "tcp");
	if (req->source)
		jsonx_set_str(o, "source", req->source);
	json_object_set_new(o, "duration_s", json_integer((json_int_t)req->duration_s));
	if (req->justification)
		jsonx_set_str(o, "justification", req->justification);
	json_t *r = json_pack("{s:I, s:I}", "uid", (json_int_t)who->uid, "pid", (json_int_t)who->pid);
	jsonx_set_str(r, "user", who->user ? who->user : "");
	jsonx_set_str(r, "via", who->via ? who->via : "cli");
	json_object_set_new(o, "requestor", r);
	return o;
}

int jit_request_apply(struct jit *j, const struct jit_request *req, const struct jit_requestor *who,
		      json_t **out, char *reason, size_t rlen)
{
	const struct jit_port_cfg *pc;
	struct jit_grant g = { 0 }, *slot = NULL, old = { 0 };
	struct jit_prefix src;
	uint8_t rnd[8];
	int r;

	r = jit_request_check(j->cfg, req, &src, &pc, reason, rlen);
	if (!r && (j->disabled || !j->skel)) {
		snprintf(reason, rlen, "JIT enforcement is not loaded (%s)",
			 j->disabled ? "disabled with 'vigil jit disable'; reload the policy to enable" : "see vigil status");
		r = -ENOTCONN;
	}
	if (r) {
		history(j, "refused", json_pack("{s:o, s:s}", "request", request_json(req, who), "reason", reason));
		return r;
	}
	{
		char id[33];
		alert_new_id(id);
		for (int i = 0; i < 8; i++) {
			unsigned v;
			sscanf(id + 2 * i, "%2x", &v);
			rnd[i] = (uint8_t)v;
		}
	}
	for (int i = 0; i < 8; i++)
		g.id_num = g.id_num << 8 | rnd[i];
	snprintf(g.id, sizeof(g.id), "%016llx", (unsigned long long)g.id_num);
	g.src = src;
	g.proto = pc->proto;
	g.port = pc->port;
	g.uid = who->uid;
	g.pid = who->pid;
	snprintf(g.user, sizeof(g.user), "%s", who->user ? who->user : "");
	snprintf(g.via, sizeof(g.via), "%s", who->via ? who->via : "cli");
	g.justification = strdup(req->justification);
	g.start_wall_ns = util_now_ns();
	g.end_wall_ns = g.start_wall_ns + (uint64_t)req->duration_s * NS;
	g.end_boot_ns = util_boot_ns() + (uint64_t)req->duration_s * NS;
	if (!g.justification) {
		snprintf(reason, rlen, "out of memory");
		return -ENOMEM;
	}
	for (size_t i = 0; i < j->ngrants; i++) {
		struct jit_grant *e = &j->grants[i];
		if (e->proto == g.proto && e->port == g.port && e->src.len == g.src.len &&
		    !memcmp(e->src.addr, g.src.addr, 16))
			slot = e;
	}
	if (slot) {
		old = *slot;
		*slot = g;
	} else {
		struct jit_grant *ng;

		if (j->ngrants >= VIGIL_JIT_MAX_GRANTS) {
			snprintf(reason, rlen, "too many grants (%d)", VIGIL_JIT_MAX_GRANTS);
			grant_free(&g);
			return -ENOSPC;
		}
		ng = realloc(j->grants, (j->ngrants + 1) * sizeof(*ng));
		if (!ng) {
			snprintf(reason, rlen, "out of memory");
			grant_free(&g);
			return -ENOMEM;
		}
		j->grants = ng;
		slot = &j->grants[j->ngrants++];
		*slot = g;
	}
	/* state first, then the kernel: a crash in between leaves nothing open that is not on record */
	r = save_grants(j);
	if (!r)
		r = map_put_grant(j, slot);
	if (r) {
		snprintf(reason, rlen, "cannot store the grant: %s", strerror(-r));
		if (old.justification) {
			grant_free(slot);
			*slot = old;
		} else {
			grant_free(slot);
			j->ngrants--;
		}
		save_grants(j);
		history(j, "refused", json_pack("{s:o, s:s}", "request", request_json(req, who), "reason", reason));
		return r;
	}
	json_t *h = json_pack("{s:o, s:o}", "request", request_json(req, who), "grant", grant_json(slot, 0));
	if (old.justification)
		json_object_set_new(h, "replaces", json_string(old.id));
	history(j, "issued", h);
	emit_grant_alert(j, "jit_grant_issued", "JIT access granted", slot, who,
			 old.justification ? "replaces" : NULL, old.justification ? json_string(old.id) : NULL);
	if (out) {
		*out = grant_json(slot, util_boot_ns());
		if (old.justification)
			json_object_set_new(*out, "replaces", json_string(old.id));
	}
	grant_free(&old);
	return 0;
}

int jit_revoke(struct jit *j, const char *id, const struct jit_requestor *who, char *reason, size_t rlen)
{
	for (size_t i = 0; i < j->ngrants; i++) {
		struct jit_grant *g = &j->grants[i];

		if (strcmp(g->id, id))
			continue;
		map_del_grant(j, g);
		json_t *w = json_pack("{s:I, s:I}", "uid", (json_int_t)who->uid, "pid", (json_int_t)who->pid);
		jsonx_set_str(w, "user", who->user ? who->user : "");
		history(j, "revoked", json_pack("{s:o, s:o}", "grant", grant_json(g, 0), "by", w));
		emit_grant_alert(j, "jit_grant_revoked", "JIT access grant revoked", g, who, NULL, NULL);
		check_sessions(j, g);
		remove_grant(j, i);
		save_grants(j);
		return 0;
	}
	snprintf(reason, rlen, "no grant with id \"%.32s\" (see 'vigil jit list')", id);
	return -ENOENT;
}

json_t *jit_unprotected_listeners(struct jit *j)
{
	json_t *a = NULL;
	const struct jit_config *cfg = j && !j->disabled && j->skel ? j->cfg : NULL;

	if (jit_scan_listeners("/proc/net", cfg, &a))
		return json_array();
	return a;
}

/* ---------- control commands ---------- */

static void requestor(const struct ctl_peer *peer, struct jit_requestor *who)
{
	who->uid = peer ? peer->uid : 0;
	who->pid = peer ? peer->pid : 0;
	who->user = peer ? peer->user : "";
	who->via = "cli";
}

static json_t *cmd_request(void *ctx, json_t *req, const struct ctl_peer *peer)
{
	struct jit *j = ctx;
	struct jit_request rq = { 0 };
	struct jit_requestor who;
	json_t *d = json_object_get(req, "duration"), *out = NULL;
	char reason[512];

	requestor(peer, &who);
	rq.port = json_is_integer(json_object_get(req, "port")) ? (int)json_integer_value(json_object_get(req, "port")) : -1;
	rq.proto = json_string_value(json_object_get(req, "protocol"));
	rq.source = json_string_value(json_object_get(req, "from"));
	rq.justification = json_string_value(json_object_get(req, "justification"));
	if (json_is_integer(d)) {
		rq.duration_s = json_integer_value(d);
	} else if (json_is_string(d)) {
		long s = util_parse_duration(json_string_value(d));
		if (s < 0) {
			snprintf(reason, sizeof(reason), "malformed duration \"%.32s\" (e.g. 90s, 15m, 1h)",
				 json_string_value(d));
			history(j, "refused", json_pack("{s:o, s:s}", "request", request_json(&rq, &who), "reason", reason));
			return ctl_error("%s", reason);
		}
		rq.duration_s = s;
	}
	if (!rq.source) {
		snprintf(reason, sizeof(reason), "missing source address (--from ADDR[/LEN])");
		history(j, "refused", json_pack("{s:o, s:s}", "request", request_json(&rq, &who), "reason", reason));
		return ctl_error("%s", reason);
	}
	if (jit_request_apply(j, &rq, &who, &out, reason, sizeof(reason)))
		return ctl_error("%s", reason);
	json_t *o = ctl_ok();
	json_object_set_new(o, "grant", out);
	return o;
}

static json_t *cmd_list(void *ctx, json_t *req, const struct ctl_peer *peer)
{
	struct jit *j = ctx;
	json_t *o = ctl_ok(), *a = json_array();
	uint64_t now = util_boot_ns();

	for (size_t i = 0; i < j->ngrants; i++)
		if (j->grants[i].end_boot_ns > now)
			json_array_append_new(a, grant_json(&j->grants[i], now));
	json_object_set_new(o, "grants", a);
	return o;
}

static json_t *cmd_revoke(void *ctx, json_t *req, const struct ctl_peer *peer)
{
	struct jit *j = ctx;
	struct jit_requestor who;
	const char *id = json_string_value(json_object_get(req, "id"));
	char reason[256];

	requestor(peer, &who);
	if (!id)
		return ctl_error("missing grant id");
	if (jit_revoke(j, id, &who, reason, sizeof(reason)))
		return ctl_error("%s", reason);
	return ctl_ok();
}

static json_t *cmd_disable(void *ctx, json_t *req, const struct ctl_peer *peer)
{
	struct jit *j = ctx;
	char dir[PATH_MAX];

	snprintf(dir, sizeof(dir), "%s", j->skel ? j->pin_dir : j->cfg->pin_dir);
	bpf_close(j, true);
	jit_unpin_all(dir);
	j->disabled = true;
	history(j, "disabled", json_pack("{s:I, s:s}", "uid", (json_int_t)(peer ? peer->uid : 0),
					 "user", peer ? peer->user : ""));
	json_t *o = ctl_ok();
	json_object_set_new(o, "pin_dir", json_string(dir));
	return o;
}

static json_t *cmd_history(void *ctx, json_t *req, const struct ctl_peer *peer)
{
	struct jit *j = ctx;
	json_t *o = ctl_ok(), *a = json_array();
	FILE *f = fopen(j->history_path, "re");
	char line[8192];

	while (f && fgets(line, sizeof(line), f)) {
		json_t *e = json_loads(line, 0, NULL);
		if (e)
			json_array_append_new(a, e);
		if (json_array_size(a) > 1000)
			json_array_remove(a, 0);
	}
	if (f)
		fclose(f);
	json_object_set_new(o, "history", a);
	return o;
}

static json_t *status(void *st);

static json_t *cmd_status(void *ctx, json_t *req, const struct ctl_peer *peer)
{
	json_t *o = ctl_ok();

	json_object_set_new(o, "jit", status(ctx));
	json_object_set_new(o, "unprotected_listeners", jit_unprotected_listeners(ctx));
	return o;
}

static const struct ctl_cmd cmds[] = {
	{ "jit_request", cmd_request },
	{ "jit_list", cmd_list },
	{ "jit_revoke", cmd_revoke },
	{ "jit_disable", cmd_disable },
	{ "jit_history", cmd_history },
	{ "jit_status", cmd_status },
	{ NULL, NULL },
};

/* ---------- engine callbacks ---------- */

static int nl_open(void)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_groups = RTMGRP_LINK };
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE);

	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		close(fd);
		return -1;
	}
	return fd;
}

static void destroy(void *st)
{
	struct jit *j = st;

	if (!j)
		return;
	/* enforcement outlives vigild: links and maps stay pinned */
	bpf_close(j, false);
	for (size_t i = 0; i < j->ngrants; i++)
		grant_free(&j->grants[i]);
	free(j->grants);
	if (j->epfd >= 0)
		close(j->epfd);
	if (j->nlfd >= 0)
		close(j->nlfd);
	free(j);
}

static int apply(void *st, const struct vigil_policy *pol, char *err, size_t errlen)
{
	struct jit *j = st;
	const struct jit_config *nc = pol->feature[POLICY_JIT];
	const struct jit_config *oc = j->cfg;
	int r;

	if (!nc) {
		snprintf(err, errlen, "jit: policy section not parsed");
		return -EINVAL;
	}
	j->cfg = nc;
	j->disabled = false;
	if (nc->mode == VIGIL_JIT_OFF) {
		if (j->skel)
			bpf_close(j, true);
		else if (!oc || oc->mode != VIGIL_JIT_OFF || strcmp(oc->pin_dir, nc->pin_dir))
			jit_unpin_all(nc->pin_dir);
		return 0;
	}
	if (j->skel && (strcmp(j->pin_dir, nc->pin_dir) || (oc && oc->hook != nc->hook)))
		bpf_close(j, true);
	if (!j->skel) {
		r = bpf_open(j, err, errlen);
		if (r) {
			j->cfg = oc;
			if (oc && oc->mode != VIGIL_JIT_OFF && !j->skel)
				bpf_open(j, err + strlen(err), 0);
			return r;
		}
		return 0;
	}
	sync_ports(j);
	write_cfg(j);
	sync_ifaces(j);
	return 0;
}

static void *create(struct agent *a, const struct vigil_policy *pol, char *err, size_t errlen)
{
	struct jit *j = calloc(1, sizeof(*j));
	const char *sd = agent_state_dir(a);
	int r;

	if (!j) {
		snprintf(err, errlen, "jit: out of memory");
		return NULL;
	}
	j->a = a;
	j->fd_cfg = j->fd_ports = j->fd_grant = j->fd_src = j->fd_stat = -1;
	j->nlfd = -1;
	j->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (j->epfd < 0 || util_path_join(j->dir, sizeof(j->dir), sd, "jit") ||
	    util_path_join(j->grants_path, sizeof(j->grants_path), j->dir, "grants.json") ||
	    util_path_join(j->history_path, sizeof(j->history_path), j->dir, "history.jsonl")) {
		snprintf(err, errlen, "jit: cannot set up (state dir path too long or no epoll)");
		destroy(j);
		return NULL;
	}
	if ((r = util_mkdir_p(j->dir, 0700))) {
		snprintf(err, errlen, "jit: cannot create %s: %s", j->dir, strerror(-r));
		destroy(j);
		return NULL;
	}
	read_boot_id(j->boot_id, sizeof(j->boot_id));
	j->nlfd = nl_open();
	if (j->nlfd >= 0) {
		struct epoll_event ee = { .events = EPOLLIN, .data.u32 = 2 };
		epoll_ctl(j->epfd, EPOLL_CTL_ADD, j->nlfd, &ee);
	}
	j->cfg = pol->feature[POLICY_JIT];
	load_grants(j);
	if (!j->cfg) {
		snprintf(err, errlen, "jit: policy section not parsed");
		destroy(j);
		return NULL;
	}
	if (j->cfg->mode == VIGIL_JIT_OFF) {
		/* a previous run's enforcement must not outlive a policy that turned it off */
		jit_unpin_all(j->cfg->pin_dir);
		return j;
	}
	if (bpf_open(j, err, errlen)) {
		destroy(j);
		return NULL;
	}
	return j;
}

static void tick(void *st, uint64_t boot_ns)
{
	struct jit *j = st;

	expire(j, boot_ns);
}

static int poll_fd(void *st)
{
	return ((struct jit *)st)->epfd;
}

static void on_poll(void *st)
{
	struct jit *j = st;
	struct epoll_event evs[4];
	int n = epoll_wait(j->epfd, evs, 4, 0);

	for (int i = 0; i < n; i++) {
		if (evs[i].data.u32 == 1 && j->rb) {
			ring_buffer__consume(j->rb);
		} else if (evs[i].data.u32 == 2) {
			char buf[8192];
			while (recv(j->nlfd, buf, sizeof(buf), 0) > 0)
				;
			sync_ifaces(j);
		}
	}
}

static json_t *status(void *st)
{
	static const char *const stat_names[VIGIL_JIT_ST_MAX] = {
		"judged", "granted", "established", "dropped", "audited", "malformed", "records_lost",
	};
	struct jit *j = st;
	json_t *o = json_object(), *ifs = json_array(), *stats = json_object();
	int ncpu = libbpf_num_possible_cpus();

	json_object_set_new(o, "mode", json_string(j->disabled ? "disabled" : jit_mode_name(j->cfg->mode)));
	json_object_set_new(o, "strict", json_boolean(j->cfg->strict));
	json_object_set_new(o, "loaded", json_boolean(j->skel != NULL));
	json_object_set_new(o, "pin_dir", json_string(j->skel ? j->pin_dir : j->cfg->pin_dir));
	for (size_t i = 0; i < j->nifs; i++)
		json_array_append_new(ifs, json_pack("{s:s, s:i, s:s, s:b}", "name", j->ifs[i].name,
						     "ifindex", j->ifs[i].ifindex, "hook", hook_name(j->ifs[i].hook),
						     "adopted", j->ifs[i].adopted));
	json_object_set_new(o, "interfaces", ifs);
	if (j->attach_error[0])
		json_object_set_new(o, "attach_error", json_string(j->attach_error));
	json_object_set_new(o, "grants", json_integer((json_int_t)j->ngrants));
	if (j->fd_stat >= 0 && ncpu > 0) {
		uint64_t *v = calloc((size_t)ncpu, sizeof(uint64_t));
		for (uint32_t k = 0; v && k < VIGIL_JIT_ST_MAX; k++) {
			uint64_t sum = 0;
			if (bpf_map_lookup_elem(j->fd_stat, &k, v) == 0)
				for (int c = 0; c < ncpu; c++)
					sum += v[c];
			json_object_set_new(stats, stat_names[k], json_integer((json_int_t)sum));
		}
		free(v);
	}
	json_object_set_new(o, "packets", stats);
	json_object_set_new(o, "records", json_integer((json_int_t)j->records));
	json_object_set_new(o, "alerts_suppressed", json_integer((json_int_t)j->alerts_suppressed));
	json_object_set_new(o, "history_write_failures", json_integer((json_int_t)j->history_failures));
	return o;
}

const struct engine jit_engine = {
	.name = "jit",
	.create = create,
	.apply = apply,
	.tick = tick,
	.poll_fd = poll_fd,
	.on_poll = on_poll,
	.cmds = cmds,
	.status = status,
	.destroy = destroy,
};
