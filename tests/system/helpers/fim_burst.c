/* fim_burst DIR NFILES NWRITES: writes NWRITES times to each of DIR/f0..f<NFILES-1>
 * (open, write, close each time), as fast as it can: a burst FIM must coalesce. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	char path[4096], buf[64];
	int nf, nw;

	if (argc != 4)
		return 2;
	nf = atoi(argv[2]);
	nw = atoi(argv[3]);
	for (int i = 0; i < nf; i++) {
		snprintf(path, sizeof(path), "%s/f%d", argv[1], i);
		for (int w = 0; w < nw; w++) {
			int fd = open(path, O_WRONLY | O_APPEND);
			int n = snprintf(buf, sizeof(buf), "write %d\n", w);
			if (fd < 0 || write(fd, buf, n) != n) {
				perror(path);
				return 1;
			}
			close(fd);
		}
	}
	return 0;
}
