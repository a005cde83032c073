/* Loads and attaches the floor programs, prints "ready", waits for SIGTERM/SIGINT. */
#include <signal.h>
#include <stdio.h>
#include <unistd.h>
#include "floor.skel.h"

static volatile sig_atomic_t stop;
static void on_sig(int s) { stop = 1; }

int main(void)
{
	struct floor_bpf *skel = floor_bpf__open_and_load();

	if (!skel || floor_bpf__attach(skel)) {
		fprintf(stderr, "floor: cannot load/attach\n");
		return 1;
	}
	signal(SIGTERM, on_sig);
	signal(SIGINT, on_sig);
	printf("ready\n");
	fflush(stdout);
	while (!stop)
		pause();
	floor_bpf__destroy(skel);
	return 0;
}
