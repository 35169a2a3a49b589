// The header on its own, as C++17: it must compile without warnings and link.
#include "containerd_c.h"

#include <cstdio>

int main() {
  ctrd_client *c = nullptr;
  ctrd_status s = CTRD_ERR_NOT_FOUND;
  std::printf("%s %s\n", ctrd_version(), ctrd_status_name(s));
  ctrd_client_free(c);
  return 0;
}
