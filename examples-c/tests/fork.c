/* After fork(), the child cannot use the parent's runtime (its threads did
 * not survive): calls there return CTRD_ERR_FORKED at once instead of
 * hanging, while the parent goes on working. What needs neither the daemon
 * nor the runtime (a spec without an image) still works in the child. */
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

int main(void) {
  ctrd_client *client = NULL;
  CHECK(ctrd_client_connect(NULL, NULL, &client) == CTRD_OK);
  CHECK(ctrd_client_server_version(client, NULL, NULL) == CTRD_OK);

  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    alarm(10); /* a hang would be the bug under test */
    ctrd_status s = ctrd_client_server_version(client, NULL, NULL);
    if (s != CTRD_ERR_FORKED || strstr(ctrd_last_error(), "fork") == NULL) {
      fprintf(stderr, "child: got %s: %s\n", ctrd_status_name(s), ctrd_last_error());
      _exit(1);
    }
    /* A spec without an image needs neither the daemon nor the runtime. */
    const char *argv[] = {"echo", "from-child", NULL};
    char *json = NULL;
    s = ctrd_spec_generate(client, "forked", NULL, argv, &json);
    if (s != CTRD_OK || strstr(json, "from-child") == NULL) {
      fprintf(stderr, "child: spec: %s: %s\n", ctrd_status_name(s), ctrd_last_error());
      _exit(3);
    }
    ctrd_string_free(json);
    /* Bad input is reported as such, before any call: not as a fork. */
    ctrd_container_opts bad = {.struct_size = sizeof(ctrd_container_opts), .id = "forked", .spec_json = "{not json"};
    ctrd_container *k = NULL;
    s = ctrd_container_create(client, &bad, &k);
    if (s != CTRD_ERR_INVALID_ARGUMENT || strstr(ctrd_last_error(), "spec_json") == NULL) {
      fprintf(stderr, "child: bad create: %s: %s\n", ctrd_status_name(s), ctrd_last_error());
      _exit(4);
    }
    ctrd_client *other = NULL;
    s = ctrd_client_connect(NULL, NULL, &other);
    _exit(s == CTRD_ERR_FORKED ? 0 : 2);
  }
  int status = 0;
  CHECK(waitpid(pid, &status, 0) == pid);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);

  /* The parent is unaffected. */
  CHECK(ctrd_client_server_version(client, NULL, NULL) == CTRD_OK);
  ctrd_client_free(client);
  puts("fork: ok");
  return 0;
}
