/* Bad input from C: NULLs, invalid UTF-8, bad addresses and namespaces get
 * CTRD_ERR_INVALID_ARGUMENT and a message; out-params stay untouched. */
/* ctrd_debug_panic_next_call: the library is built with --features test-hooks. */
#define CTRD_TEST_HOOKS 1
#include "check.h"

int main(void) {
  ctrd_client *client = (ctrd_client *)0x1; /* must stay untouched */
  const char bad_utf8[] = {'/', (char)0xff, 0};

  CHECK_STATUS(ctrd_client_connect("/x.sock", NULL, NULL), CTRD_ERR_INVALID_ARGUMENT,
               "ctrd_client_connect: out is NULL");
  CHECK_STATUS(ctrd_client_connect(bad_utf8, NULL, &client), CTRD_ERR_INVALID_ARGUMENT,
               "address is not valid UTF-8");
  CHECK_STATUS(ctrd_client_connect("x.sock", NULL, &client), CTRD_ERR_INVALID_ARGUMENT,
               "must be absolute");
  CHECK_STATUS(ctrd_client_connect("/x.sock", "no spaces", &client),
               CTRD_ERR_INVALID_ARGUMENT, "invalid namespace");
  CHECK(client == (ctrd_client *)0x1);
  CHECK_STATUS(ctrd_client_server_version(NULL, NULL, NULL), CTRD_ERR_INVALID_ARGUMENT,
               "client is NULL");
  CHECK_STATUS(ctrd_client_set_timeout_ms(NULL, 1), CTRD_ERR_INVALID_ARGUMENT,
               "client is NULL");

  /* A success clears the message; names are static. */
  CHECK(ctrd_client_connect(NULL, NULL, &client) == CTRD_OK);
  CHECK(strcmp(ctrd_last_error(), "") == 0);
  CHECK(strcmp(ctrd_status_name(CTRD_ERR_FORKED), "CTRD_ERR_FORKED") == 0);
  CHECK(strcmp(ctrd_status_name((ctrd_status)77), "CTRD_STATUS_INVALID") == 0);

  /* A panic inside the library comes back as CTRD_ERR_INTERNAL. */
  CHECK(ctrd_debug_panic_next_call("ctrd_client_server_version") == CTRD_OK);
  CHECK_STATUS(ctrd_client_server_version(client, NULL, NULL), CTRD_ERR_INTERNAL, "panic");
  CHECK(ctrd_client_server_version(client, NULL, NULL) == CTRD_OK);

  ctrd_client_free(client);
  ctrd_client_free(NULL);
  ctrd_string_free(NULL);
  ctrd_string_array_free(NULL, 0);
  puts("errors: ok");
  return 0;
}
