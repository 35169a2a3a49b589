/* From C: a namespace created with labels, listed, refused a second time,
 * deleted; bad names refused before any call; the server info JSON, whose
 * plugin count is printed. */
#define _POSIX_C_SOURCE 200809L
#include <unistd.h>

#include "check.h"

/* Whether `names` (`len` items) holds `name`. */
static int holds(char **names, size_t len, const char *name) {
  for (size_t i = 0; i < len; i++)
    if (strcmp(names[i], name) == 0) return 1;
  return 0;
}

/* Occurrences of `needle` in `s`. */
static size_t count(const char *s, const char *needle) {
  size_t n = 0;
  for (const char *p = strstr(s, needle); p != NULL; p = strstr(p + 1, needle)) n++;
  return n;
}

int main(void) {
  char name[64];
  snprintf(name, sizeof name, "c-ns-%ld", (long)getpid());

  ctrd_client *client = NULL;
  CHECK(ctrd_client_connect(NULL, NULL, &client) == CTRD_OK);

  const char *labels[] = {"owner=c-test", "purpose=namespaces", NULL};
  CHECK(ctrd_namespace_create(client, name, labels) == CTRD_OK);
  CHECK_STATUS(ctrd_namespace_create(client, name, NULL), CTRD_ERR_ALREADY_EXISTS,
               "already exists");

  char **names = NULL;
  size_t len = 0;
  CHECK(ctrd_namespace_list(client, &names, &len) == CTRD_OK);
  CHECK(holds(names, len, name));
  ctrd_string_array_free(names, len);

  CHECK(ctrd_namespace_delete(client, name) == CTRD_OK);
  CHECK_STATUS(ctrd_namespace_delete(client, name), CTRD_ERR_NOT_FOUND, "not found");
  names = NULL;
  len = 0;
  CHECK(ctrd_namespace_list(client, &names, &len) == CTRD_OK);
  CHECK(!holds(names, len, name));
  ctrd_string_array_free(names, len);

  CHECK_STATUS(ctrd_namespace_create(client, "no spaces allowed", NULL),
               CTRD_ERR_INVALID_ARGUMENT, "invalid namespace \"no spaces allowed\"");
  const char *bad_labels[] = {"novalue", NULL};
  CHECK_STATUS(ctrd_namespace_create(client, name, bad_labels), CTRD_ERR_INVALID_ARGUMENT,
               "label \"novalue\" is not key=value");
  CHECK_STATUS(ctrd_namespace_delete(client, NULL), CTRD_ERR_INVALID_ARGUMENT, "name is NULL");

  char *json = NULL;
  CHECK(ctrd_client_server_info_json(client, &json) == CTRD_OK);
  CHECK(strstr(json, "\"uuid\":\"") != NULL);
  /* Each plugin has one "status"; nothing else has that key. */
  size_t plugins = count(json, "\"status\":\"");
  size_t ok = count(json, "\"status\":\"ok\"");
  CHECK(plugins > 0 && ok > 0);
  printf("server info: %zu plugins, %zu ok\n", plugins, ok);
  ctrd_string_free(json);

  ctrd_client_free(client);
  return 0;
}
