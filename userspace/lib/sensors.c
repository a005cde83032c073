/* Kernel sensors: skeleton lifecycle and ringbuf polling.  See sensors.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <limits.h>
#include <bpf/libbpf.h>
#include <bpf/bpf.h>

#include "hostfs.h"
#include "sensors.h"
#include "util.h"
#include "log.h"
#include <stdarg.h>
#include "process.skel.h"
#include "file.skel.h"
#include "net.skel.h"

struct vigil_ino_key {
	uint64_t dev;
	uint64_t ino;
};

struct sensors {
	struct process_bpf *proc;
	struct file_bpf *file;
	struct net_bpf *net;
	struct ring_buffer *rb;
	int rb_fd;                 /* the shared ringbuf, -1 until the first sensor loads */
	int batch;                 /* records handled in this sensors_consume() call */
	sensors_event_fn fn;
	void *ctx;
};

/* Records handled per sensors_consume() call: under a sustained flood the ringbuf never
 * drains, and without a bound the agent would never get back to its timers, signals and
 * control socket. */
#define CONSUME_BATCH 4096
#define BATCH_FULL    (-EAGAIN)

static int on_record(void *ctx, void *data, size_t size)
{
	struct sensors *s = ctx;

	s->fn(s->ctx, data, size);
	/* libbpf has already consumed this record when a callback stops the loop */
	return ++s->batch >= CONSUME_BATCH ? BATCH_FULL : 0;
}

static int set_cfg(struct bpf_map *map, const struct sensors_opts *o)
{
	struct vigil_cfg cfg = {
		.self_tgid = o->self_tgid,
		.file_all = o->file_all,
		.net_enabled = o->net,
		.exec_enabled = o->exec,
		.file_enabled = o->file,
	};
	uint32_t zero = 0;

	return bpf_map_update_elem(bpf_map__fd(map), &zero, &cfg, BPF_ANY) ? -errno : 0;
}

/* Every sensor writes into the first sensor's ringbuf: one buffer to size, poll and
 * account (a ringbuf's pages are mapped twice into vigild, so each one costs 2x its size in RSS). */
static int share_rb(struct sensors *s, struct bpf_map *map)
{
	if (s->rb_fd < 0)
		return 0;
	return bpf_map__reuse_fd(map, s->rb_fd);
}

static int add_rb(struct sensors *s, struct bpf_map *map)
{
	if (s->rb_fd >= 0)
		return 0;   /* shared: already polled */
	s->rb_fd = bpf_map__fd(map);
	if (!s->rb) {
		s->rb = ring_buffer__new(bpf_map__fd(map), on_record, s, NULL);
		return s->rb ? 0 : -errno;
	}
	return ring_buffer__add(s->rb, bpf_map__fd(map), on_record, s) ? -errno : 0;
}

#define OPEN_SENSOR(s, field, name, o, err, errlen)                                     \
	({                                                                              \
		int __r = 0;                                                            \
		(s)->field = name##_bpf__open();                                        \
		if (!(s)->field) {                                                      \
			__r = -errno;                                                   \
			snprintf(err, errlen, "cannot open the " #name " BPF object: %s", strerror(-__r)); \
		} else if ((__r = share_rb(s, (s)->field->maps.vigil_events))) {        \
			snprintf(err, errlen, "cannot share the ringbuf with the " #name " sensor: %s", strerror(-__r)); \
		} else if ((__r = name##_bpf__load((s)->field))) {                      \
			snprintf(err, errlen, "cannot load the " #name " BPF programs: %s", strerror(-__r)); \
		} else if ((__r = set_cfg((s)->field->maps.vigil_cfg, o))) {            \
			snprintf(err, errlen, "cannot configure the " #name " sensor: %s", strerror(-__r)); \
		} else if ((__r = name##_bpf__attach((s)->field))) {                    \
			snprintf(err, errlen, "cannot attach the " #name " BPF programs: %s", strerror(-__r)); \
		} else if ((__r = add_rb(s, (s)->field->maps.vigil_events))) {          \
			snprintf(err, errlen, "cannot poll the " #name " ringbuf: %s", strerror(-__r)); \
		}                                                                       \
		__r;                                                                    \
	})

/* libbpf's own messages (a failed load prints the whole verifier log): only with -v, the
 * agent reports a failure in one line of its own. */
static int libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (vlog_verbosity < VLOG_DEBUG || (level == LIBBPF_DEBUG && vlog_verbosity < VLOG_DEBUG + 1))
		return 0;
	return vfprintf(stderr, fmt, ap);
}

struct sensors *sensors_open(const struct sensors_opts *o, sensors_event_fn fn, void *ctx,
			     char *err, size_t errlen)
{
	struct sensors *s = calloc(1, sizeof(*s));
	int r = 0;

	if (!s) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->fn = fn;
	s->ctx = ctx;
	s->rb_fd = -1;
	libbpf_set_print(libbpf_log);
	/* the process sensor always runs: the process table depends on it */
	r = OPEN_SENSOR(s, proc, process, o, err, errlen);
	if (!r && o->file) {
		r = OPEN_SENSOR(s, file, file, o, err, errlen);
		if (!r)
			r = sensors_set_watch(s, o->watch, o->nwatch, o->file_all);
		if (r && !*err)
			snprintf(err, errlen, "cannot set the watched paths: %s", strerror(-r));
	}
	if (!r && o->net)
		r = OPEN_SENSOR(s, net, net, o, err, errlen);
	if (r) {
		sensors_free(s);
		errno = -r;
		return NULL;
	}
	return s;
}

int sensors_fd(struct sensors *s)
{
	return ring_buffer__epoll_fd(s->rb);
}

int sensors_consume(struct sensors *s)
{
	int r;

	s->batch = 0;
	r = ring_buffer__consume(s->rb);
	if (r == BATCH_FULL)
		return s->batch;   /* more is pending: the fd stays readable */
	return r < 0 ? r : s->batch;
}

/* Adds the nearest existing ancestor-or-self of path (and, for a non-directory, its parent,
 * so that rename-over and re-creation in that directory are seen). */
static int add_root(int fd, const char *path)
{
	char buf[PATH_MAX];
	struct stat st;
	uint8_t one = 1;
	int r;

	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return -ENAMETOOLONG;
	for (;;) {
		if (hostfs_stat(buf, &st) == 0) {
			struct vigil_ino_key k = { .dev = util_dev_to_kdev(st.st_dev), .ino = st.st_ino };

			if (bpf_map_update_elem(fd, &k, &one, BPF_ANY))
				return -errno;
			if (S_ISDIR(st.st_mode))
				return 0;
		}
		char *slash = strrchr(buf, '/');
		if (!slash || slash == buf) {
			if ((r = hostfs_stat("/", &st)))
				return r;
			if (slash == buf && buf[1] == 0)
				return 0;
			strcpy(buf, "/");
			continue;
		}
		*slash = 0;
	}
}

int sensors_set_watch(struct sensors *s, const char *const *watch, size_t n, bool file_all)
{
	struct vigil_ino_key k, next;
	int fd, r;

	if (!s->file)
		return 0;
	fd = bpf_map__fd(s->file->maps.vigil_roots);
	/* clear, then add: a short window with fewer roots, never a wrong one */
	while (bpf_map_get_next_key(fd, NULL, &k) == 0)
		bpf_map_delete_elem(fd, &k);
	(void)next;
	for (size_t i = 0; i < n; i++) {
		r = add_root(fd, watch[i]);
		if (r)
			return r;
	}
	{
		uint32_t zero = 0;
		struct vigil_cfg cfg;
		int cfd = bpf_map__fd(s->file->maps.vigil_cfg);

		if (bpf_map_lookup_elem(cfd, &zero, &cfg))
			return -errno;
		cfg.file_all = file_all;
		cfg.nprefixes = n;
		if (bpf_map_update_elem(cfd, &zero, &cfg, BPF_ANY))
			return -errno;
	}
	return 0;
}

static void sum_percpu(struct bpf_map *map, uint32_t nkeys, uint64_t *out)
{
	int ncpu = libbpf_num_possible_cpus();
	uint64_t *vals;

	if (!map || ncpu <= 0)
		return;
	vals = calloc(ncpu, sizeof(uint64_t));
	if (!vals)
		return;
	for (uint32_t k = 0; k < nkeys; k++) {
		if (bpf_map_lookup_elem(bpf_map__fd(map), &k, vals))
			continue;
		for (int c = 0; c < ncpu; c++)
			out[k] += vals[c];
	}
	free(vals);
}

void sensors_loss(struct sensors *s, uint64_t out[VIGIL_LOSS_SLOTS])
{
	memset(out, 0, sizeof(uint64_t) * VIGIL_LOSS_SLOTS);
	if (s->proc)
		sum_percpu(s->proc->maps.vigil_loss, VIGIL_LOSS_SLOTS, out);
	if (s->file)
		sum_percpu(s->file->maps.vigil_loss, VIGIL_LOSS_SLOTS, out);
	if (s->net)
		sum_percpu(s->net->maps.vigil_loss, VIGIL_LOSS_SLOTS, out);
}

void sensors_sent(struct sensors *s, uint64_t out[VIGIL_EV_TYPE_MAX])
{
	memset(out, 0, sizeof(uint64_t) * VIGIL_EV_TYPE_MAX);
	if (s->proc)
		sum_percpu(s->proc->maps.vigil_sent, VIGIL_EV_TYPE_MAX, out);
	if (s->file)
		sum_percpu(s->file->maps.vigil_sent, VIGIL_EV_TYPE_MAX, out);
	if (s->net)
		sum_percpu(s->net->maps.vigil_sent, VIGIL_EV_TYPE_MAX, out);
}

static void add_progs(json_t *arr, const char *sensor, struct bpf_object *obj)
{
	struct bpf_program *p;

	bpf_object__for_each_program(p, obj) {
		json_array_append_new(arr, json_pack("{s:s, s:s, s:b}", "sensor", sensor,
						     "program", bpf_program__name(p),
						     "attached", bpf_program__fd(p) >= 0));
	}
}

json_t *sensors_programs(struct sensors *s)
{
	json_t *arr = json_array();

	if (s->proc)
		add_progs(arr, "process", s->proc->obj);
	if (s->file)
		add_progs(arr, "file", s->file->obj);
	if (s->net)
		add_progs(arr, "network", s->net->obj);
	return arr;
}

static uint64_t obj_map_bytes(struct bpf_object *obj)
{
	struct bpf_map *m;
	uint64_t total = 0;
	int ncpu = libbpf_num_possible_cpus();

	bpf_object__for_each_map(m, obj) {
		uint64_t per = (uint64_t)bpf_map__key_size(m) + bpf_map__value_size(m);
		enum bpf_map_type t = bpf_map__type(m);

		if (t == BPF_MAP_TYPE_RINGBUF)
			total += bpf_map__max_entries(m);
		else if (t == BPF_MAP_TYPE_PERCPU_ARRAY || t == BPF_MAP_TYPE_PERCPU_HASH)
			total += (uint64_t)bpf_map__max_entries(m) * bpf_map__value_size(m) * (ncpu > 0 ? ncpu : 1);
		else
			total += per * bpf_map__max_entries(m);
	}
	return total;
}

uint64_t sensors_map_bytes(struct sensors *s)
{
	uint64_t t = 0;

	if (s->proc)
		t += obj_map_bytes(s->proc->obj);
	if (s->file)
		t += obj_map_bytes(s->file->obj);
	if (s->net)
		t += obj_map_bytes(s->net->obj);
	return t;
}

void sensors_free(struct sensors *s)
{
	if (!s)
		return;
	ring_buffer__free(s->rb);
	net_bpf__destroy(s->net);
	file_bpf__destroy(s->file);
	process_bpf__destroy(s->proc);
	free(s);
}
