/* See registry.h. */
#include <stdlib.h>

#include "drv_log.h"
#include "piv_driver.h"
#include "registry.h"

#define DRIVERS_MAX 4

int drivers_default(struct tk_driver ***out, size_t *n)
{
	struct tk_driver **list;
	size_t k = 0;
	int r;

	*out = NULL;
	*n = 0;
	if (!(list = calloc(DRIVERS_MAX, sizeof(*list))))
		return TK_ERR_NOMEM;
	if ((r = piv_driver_new(&list[k])) == 0)
		k++;
	else
		DRV_LOG("PIV driver: %s; serving no PIV tokens",
			tk_strerror(r));
	*out = list;
	*n = k;
	return 0;
}
