/*
 * libFuzzer target: the kernel record decoders, fed whole records as the ring
 * buffer hands them to vigild (bpf/vigil_events.h).  hdr.type picks the path:
 *   exec  event_exec_check, then the copies handle_exec() makes into the process
 *         table (exe, argv, cwd, script) and proc_to_json/proctab_ancestry
 *   fork  proctab_fork; exit: proctab_exit (the table is bounded and kept
 *         between inputs, so eviction and pid reuse are exercised too)
 *   file  event_file_to_json; network: event_net_to_json
 * Every object produced must dump as one line of JSON that parses back.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "event.h"
#include "jsonx.h"
#include "proctab.h"

#define CHECK(c) do { if (!(c)) __builtin_trap(); } while (0)

static struct proctab *tab;

static void check_json(json_t *o)
{
	json_error_t jerr;
	char *line = jsonx_dump_line(o);
	json_t *back;

	CHECK(line);
	back = json_loads(line, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
	CHECK(back);
	json_decref(back);
	free(line);
}

static void on_exec(const struct vigil_exec *ev, size_t len)
{
	const char *d = ev->data;
	struct proc *p;

	if (event_exec_check(ev, len))
		return;
	/* what handle_exec() reads, with the same offsets */
	p = proctab_get(tab, ev->hdr.tgid, ev->hdr.start_ns);
	CHECK(p);
	p->ppid = ev->ppid;
	p->pstart_ns = ev->pstart_ns;
	memcpy(p->comm, ev->hdr.comm, sizeof(p->comm));
	CHECK(!proc_set_bytes(&p->exe, &p->exe_len, d, ev->exe_len ? ev->exe_len - 1 : 0));
	CHECK(!proc_set_bytes(&p->argv, &p->argv_len, d + ev->exe_len, ev->argv_len));
	if (ev->cwd_len)
		CHECK(!proc_set_bytes(&p->cwd, NULL, d + ev->exe_len + ev->argv_len, ev->cwd_len - 1));
	free(p->script);
	p->script = NULL;
	if (ev->script_len)
		CHECK(!proc_set_bytes(&p->script, NULL, d + ev->exe_len + ev->argv_len + ev->cwd_len,
				      ev->script_len - 1));
	json_t *o = json_object();
	json_object_set_new(o, "process", proc_to_json(p));
	json_object_set_new(o, "parents", proctab_ancestry(tab, p, 8));
	check_json(o);
	json_decref(o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct vigil_hdr *h;
	void *rec;
	json_t *o;

	if (size < sizeof(*h) || size > VIGIL_EVENT_MAX)
		return 0;
	if (!tab)
		CHECK(tab = proctab_new(16));
	/* ring buffer records are 8-byte aligned: give the decoders the same */
	rec = aligned_alloc(8, (size + 7) & ~(size_t)7);
	CHECK(rec);
	memcpy(rec, data, size);
	h = rec;
	if (h->size > size)     /* agent_handle_record() drops these first */
		goto out;
	switch (h->type) {
	case VIGIL_EV_EXEC:
		on_exec(rec, size);
		break;
	case VIGIL_EV_FORK:
		if (size >= sizeof(struct vigil_fork)) {
			const struct vigil_fork *f = rec;
			proctab_fork(tab, h->tgid, h->start_ns, f->child_tgid, f->child_start_ns);
		}
		break;
	case VIGIL_EV_EXIT:
		if (size >= sizeof(struct vigil_exit)) {
			proctab_exit(tab, h->tgid, h->start_ns, ((const struct vigil_exit *)rec)->exit_code);
			proctab_sweep(tab, 0);
		}
		break;
	case VIGIL_EV_FILE:
		o = json_object();
		if (event_file_to_json(rec, size, o) == 0) {
			CHECK(json_is_object(json_object_get(o, "file")));
			check_json(o);
		}
		json_decref(o);
		break;
	case VIGIL_EV_NET:
		o = json_object();
		if (event_net_to_json(rec, size, o) == 0) {
			CHECK(json_is_object(json_object_get(o, "network")));
			check_json(o);
		}
		json_decref(o);
		break;
	}
out:
	free(rec);
	return 0;
}
