/*
 * gen_ptab_seeds: write the sample tables as the fuzzer's seed corpus.
 * Run from the top of the source tree after a format change:
 *	tests/unit/gen_ptab_seeds fuzz/seeds/ptab
 * (ptab_test fails while the committed seeds differ from the builder's.)
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include "ptab.h"
#include "ptab_sample.h"

int
main(int argc, char **argv)
{
	const char	*dir = argc > 1 ? argv[1] : "fuzz/seeds/ptab";
	char		 path[4096], err[256];
	uint8_t		*img;
	size_t		 len;
	int		 v;

	for (v = 0; v < SAMPLE_VARIANTS; v++) {
		if (sample_table(v, &img, &len, err, sizeof(err)) == -1) {
			fprintf(stderr, "gen_ptab_seeds: %s\n", err);
			return 1;
		}
		snprintf(path, sizeof(path), "%s/sample%d.bin", dir, v);
		if (ptab_write_file(path, img, len, err, sizeof(err)) == -1) {
			fprintf(stderr, "gen_ptab_seeds: %s\n", err);
			return 1;
		}
		printf("%s: %zu bytes\n", path, len);
		free(img);
	}
	return 0;
}
