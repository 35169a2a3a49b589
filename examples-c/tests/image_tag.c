/* ctrd_image_tag from C: a second name for the test image has its digest;
 * an existing name is CTRD_ERR_ALREADY_EXISTS (naming it) unless
 * CTRD_IMAGE_TAG_FORCE; a missing source is CTRD_ERR_NOT_FOUND; bad input
 * is CTRD_ERR_INVALID_ARGUMENT with a message; a refused call makes no
 * record. Names carry the pid: ctest may run tests side by side. */
#include <unistd.h>

#include "check.h"

#define IMAGE "docker.io/library/ctrd-test:latest"

static int exists(ctrd_client *client, const char *name) {
  char filter[300];
  char **names = NULL;
  size_t len = 0;
  snprintf(filter, sizeof filter, "name==%s", name);
  CHECK(ctrd_image_list(client, filter, &names, &len) == CTRD_OK);
  ctrd_string_array_free(names, len);
  return len == 1;
}

int main(void) {
  ctrd_client *client = NULL;
  CHECK(ctrd_client_connect(NULL, NULL, &client) == CTRD_OK);
  char tagged[200], missing[200];
  snprintf(tagged, sizeof tagged, "docker.io/library/ctrd-c-tagged-%d:1", (int)getpid());
  snprintf(missing, sizeof missing, "docker.io/library/ctrd-c-untagged-%d:1", (int)getpid());

  CHECK(ctrd_image_tag(client, IMAGE, tagged, 0) == CTRD_OK);
  ctrd_image *source = NULL, *copy = NULL;
  CHECK(ctrd_image_get(client, IMAGE, &source) == CTRD_OK);
  CHECK(ctrd_image_get(client, tagged, &copy) == CTRD_OK);
  CHECK(strcmp(ctrd_image_name(copy), tagged) == 0);
  CHECK(strcmp(ctrd_image_digest(copy), ctrd_image_digest(source)) == 0);
  printf("%s %s\n", ctrd_image_name(copy), ctrd_image_digest(copy));
  ctrd_image_free(copy);
  ctrd_image_free(source);

  CHECK_STATUS(ctrd_image_tag(client, IMAGE, tagged, 0), CTRD_ERR_ALREADY_EXISTS, tagged);
  CHECK_STATUS(ctrd_image_tag(client, IMAGE, IMAGE, 0), CTRD_ERR_ALREADY_EXISTS,
               "already exists");
  CHECK(ctrd_image_tag(client, IMAGE, tagged, CTRD_IMAGE_TAG_FORCE) == CTRD_OK);
  CHECK(ctrd_image_tag(client, IMAGE, IMAGE, CTRD_IMAGE_TAG_FORCE) == CTRD_OK);

  CHECK_STATUS(ctrd_image_tag(client, "docker.io/library/nothing:here", missing, 0),
               CTRD_ERR_NOT_FOUND, "not found");
  CHECK_STATUS(ctrd_image_tag(NULL, IMAGE, missing, 0), CTRD_ERR_INVALID_ARGUMENT,
               "client is NULL");
  CHECK_STATUS(ctrd_image_tag(client, NULL, missing, 0), CTRD_ERR_INVALID_ARGUMENT,
               "name is NULL");
  CHECK_STATUS(ctrd_image_tag(client, IMAGE, NULL, 0), CTRD_ERR_INVALID_ARGUMENT,
               "new_name is NULL");
  CHECK_STATUS(ctrd_image_tag(client, IMAGE, "", 0), CTRD_ERR_INVALID_ARGUMENT,
               "new_name is empty");
  CHECK_STATUS(ctrd_image_tag(client, IMAGE, missing, CTRD_IMAGE_TAG_FORCE | 6u),
               CTRD_ERR_INVALID_ARGUMENT, "unknown flags 0x6");
  CHECK(!exists(client, missing));

  CHECK(ctrd_image_delete(client, tagged, 0) == CTRD_OK);
  CHECK(!exists(client, tagged) && exists(client, IMAGE));
  ctrd_client_free(client);
  printf("ok\n");
  return 0;
}
