/* Images already in containerd, from C: list them (all, and by a name
 * filter), get the test image, print its name, digest and size, read its
 * config, check it is unpacked for overlayfs and not for native. A missing
 * image is CTRD_ERR_NOT_FOUND, a bad filter and bad input
 * CTRD_ERR_INVALID_ARGUMENT with a message; out-params stay untouched. */
#include <inttypes.h>

#include "check.h"

#define IMAGE "docker.io/library/ctrd-test:latest"

int main(void) {
  ctrd_client *client = NULL;
  CHECK(ctrd_client_connect(NULL, NULL, &client) == CTRD_OK);

  char **names = NULL;
  size_t len = 0;
  CHECK(ctrd_image_list(client, NULL, &names, &len) == CTRD_OK);
  int found = 0;
  for (size_t k = 0; k < len; k++) {
    printf("image: %s\n", names[k]);
    if (strcmp(names[k], IMAGE) == 0) found = 1;
  }
  CHECK(found);
  ctrd_string_array_free(names, len);

  CHECK(ctrd_image_list(client, "name==" IMAGE, &names, &len) == CTRD_OK);
  CHECK(len == 1 && strcmp(names[0], IMAGE) == 0);
  ctrd_string_array_free(names, len);
  names = NULL;
  len = 0;
  CHECK_STATUS(ctrd_image_list(client, "name==", &names, &len), CTRD_ERR_INVALID_ARGUMENT,
               "parse error");
  CHECK(names == NULL && len == 0);

  ctrd_image *image = NULL;
  CHECK_STATUS(ctrd_image_get(client, "docker.io/library/nothing:here", &image),
               CTRD_ERR_NOT_FOUND, "not found");
  CHECK_STATUS(ctrd_image_get(client, "", &image), CTRD_ERR_INVALID_ARGUMENT,
               "name is empty");
  CHECK(image == NULL);
  CHECK(ctrd_image_get(client, IMAGE, &image) == CTRD_OK);
  CHECK(strcmp(ctrd_image_name(image), IMAGE) == 0);
  const char *digest = ctrd_image_digest(image);
  CHECK(strncmp(digest, "sha256:", 7) == 0 && strlen(digest) == 71);

  uint64_t bytes = 0;
  CHECK(ctrd_image_size(image, &bytes) == CTRD_OK);
  /* The busybox layer alone is several hundred KiB. */
  CHECK(bytes > 100 * 1024);
  printf("%s %s %" PRIu64 " bytes\n", ctrd_image_name(image), digest, bytes);

  char *config = NULL;
  CHECK(ctrd_image_config_json(image, &config) == CTRD_OK);
  CHECK(strstr(config, "\"rootfs\"") != NULL && strstr(config, "\"diff_ids\"") != NULL);
  ctrd_string_free(config);

  bool unpacked = false;
  CHECK(ctrd_image_is_unpacked(image, NULL, &unpacked) == CTRD_OK);
  CHECK(unpacked);
  CHECK(ctrd_image_is_unpacked(image, "native", &unpacked) == CTRD_OK);
  CHECK(!unpacked);
  unpacked = true;
  CHECK_STATUS(ctrd_image_is_unpacked(image, "", &unpacked), CTRD_ERR_INVALID_ARGUMENT,
               "snapshotter is empty");
  CHECK(unpacked);

  CHECK_STATUS(ctrd_image_delete(client, IMAGE, 4u), CTRD_ERR_INVALID_ARGUMENT,
               "unknown flags 0x4");
  CHECK_STATUS(ctrd_image_delete(client, "docker.io/library/nothing:here", CTRD_IMAGE_DELETE_SYNC),
               CTRD_ERR_NOT_FOUND, "not found");
  CHECK(strcmp(ctrd_status_name(CTRD_ERR_UNAUTHENTICATED), "CTRD_ERR_UNAUTHENTICATED") == 0);

  CHECK(strcmp(ctrd_image_name(NULL), "") == 0);
  ctrd_image_free(image);
  ctrd_image_free(NULL);
  ctrd_client_free(client);
  printf("ok\n");
  return 0;
}
