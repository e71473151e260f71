/* Lets ctest run one case of a cmocka program on its own (a case whose full
 * value needs a sanitizer gets its own ctest entry, labelled asan-only):
 *   prog --only NAME   runs only NAME
 *   prog --skip NAME   runs all but NAME
 * (cmocka's patterns: * and ? wildcards). */
#ifndef TOKEND_UNIT_FILTER_H
#define TOKEND_UNIT_FILTER_H

#include <stdio.h>
#include <string.h>

static inline int unit_filter(int argc, char **argv)
{
	if (argc == 1)
		return 0;
	if (argc == 3 && strcmp(argv[1], "--only") == 0) {
		cmocka_set_test_filter(argv[2]);
		return 0;
	}
	if (argc == 3 && strcmp(argv[1], "--skip") == 0) {
		cmocka_set_skip_filter(argv[2]);
		return 0;
	}
	fprintf(stderr, "usage: %s [--only NAME | --skip NAME]\n", argv[0]);
	return -1;
}

#endif
