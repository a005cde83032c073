/*
 * Kernel sensors: opens, configures, loads and attaches the BPF objects
 * (libbpf skeletons: process, file, net), and polls their ringbufs with one
 * epoll.  Lifecycle as in libbpf-bootstrap: open -> configure -> load ->
 * attach -> poll; sensors_free() detaches everything.
 */
#ifndef VIGIL_SENSORS_H
#define VIGIL_SENSORS_H

#include <stdint.h>
#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>
#include "vigil_events.h"

struct sensors_opts {
	bool exec, file, net;         /* which sensors to attach */
	uint32_t self_tgid;           /* vigild's own pid: never reported as actor for files */
	const char *const *watch;     /* file sensor prefixes (absolute paths) */
	size_t nwatch;
	bool file_all;                /* report every file change (tests, debugging) */
};

/* Called for each record with its exact length. Return 0 to continue. */
typedef int (*sensors_event_fn)(void *ctx, const void *rec, size_t len);

struct sensors;

/* Loads and attaches.  NULL on failure with errno set and a one-line reason in err. */
struct sensors *sensors_open(const struct sensors_opts *o, sensors_event_fn fn, void *ctx,
			     char *err, size_t errlen);
/* Epoll fd that becomes readable when any ringbuf has data. */
int sensors_fd(struct sensors *s);
/* Consumes pending records (calls fn), at most a batch of 4096 so the caller's loop keeps
 * serving its other work under a flood; the fd stays readable while more is pending.
 * Returns records consumed or -errno. */
int sensors_consume(struct sensors *s);
/* The sensors wake the consumer at most once per CPU per millisecond (common.bpf.h): after a
 * read that returned records, call sensors_consume() again within this many ms even if the
 * fd did not become readable, to collect records sent without a wake-up. */
#define SENSORS_RECHECK_MS 2
/* Replaces the file sensor's watched roots from prefixes; missing paths are watched through
 * their nearest existing ancestor.  Returns 0 or -errno. */
int sensors_set_watch(struct sensors *s, const char *const *watch, size_t n, bool file_all);
/* Sums the per-CPU loss counters: out[type * VIGIL_LOSS_CAUSE_MAX + cause]. */
void sensors_loss(struct sensors *s, uint64_t out[VIGIL_LOSS_SLOTS]);
/* Sums the per-CPU sent counters by event type. */
void sensors_sent(struct sensors *s, uint64_t out[VIGIL_EV_TYPE_MAX]);
/* New JSON array of {"sensor","program","attached"} for vigil status. */
json_t *sensors_programs(struct sensors *s);
/* Bytes of BPF map memory (max_entries * (key+value), approximate). */
uint64_t sensors_map_bytes(struct sensors *s);
/* Detaches and frees; NULL is a no-op. */
void sensors_free(struct sensors *s);

#endif
