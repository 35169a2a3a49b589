/* The header on its own, as C11: it must compile without warnings and link. */
#include "containerd_c.h"

#include <stdio.h>

int main(void) {
  ctrd_client *c = NULL;
  ctrd_status s = CTRD_OK;
  printf("%s %s\n", ctrd_version(), ctrd_status_name(s));
  ctrd_client_free(c);
  return 0;
}
