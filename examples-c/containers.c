/* Makes a container from an image with a generated default spec, lists it,
 * prints its spec, then deletes it with its rootfs snapshot.
 *
 *   containers [IMAGE]   (default: docker.io/library/ctrd-test:latest)
 *
 * Uses $CONTAINERD_ADDRESS and $CONTAINERD_NAMESPACE. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "containerd_c.h"

static int fail(const char *what, ctrd_status s) {
  fprintf(stderr, "%s: %s: %s\n", what, ctrd_status_name(s), ctrd_last_error());
  return 1;
}

int main(int argc, char **argv) {
  const char *image = argc > 1 ? argv[1] : "docker.io/library/ctrd-test:latest";
  char id[64];
  snprintf(id, sizeof id, "example-%ld", (long)getpid());

  ctrd_client *client = NULL;
  ctrd_status s = ctrd_client_connect(NULL, NULL, &client);
  if (s != CTRD_OK) return fail("connect", s);

  /* The image's default command, replaced here by our own. */
  const char *args[] = {"echo", "hello", NULL};
  char *spec = NULL;
  if ((s = ctrd_spec_generate(client, id, image, args, &spec)) != CTRD_OK)
    return fail("spec", s);
  /* The rootfs: a snapshot on top of the image's unpacked layers. */
  if ((s = ctrd_snapshot_prepare_from_image(client, image, NULL, id)) != CTRD_OK)
    return fail("snapshot", s);

  const char *labels[] = {"example=containers", NULL};
  ctrd_container_opts opts = {.struct_size = sizeof(ctrd_container_opts),
      .id = id, .spec_json = spec, .image = image, .snapshot_key = id, .labels = labels};
  ctrd_container *container = NULL;
  s = ctrd_container_create(client, &opts, &container);
  ctrd_string_free(spec);
  if (s != CTRD_OK) {
    ctrd_snapshot_remove(client, NULL, id);
    return fail("create", s);
  }
  printf("created %s\n", ctrd_container_id(container));

  char **ids = NULL;
  size_t n = 0;
  if ((s = ctrd_container_list(client, "labels.example==containers", &ids, &n)) != CTRD_OK)
    return fail("list", s);
  int found = 0;
  for (size_t i = 0; i < n; i++) {
    printf("listed %s\n", ids[i]);
    found |= strcmp(ids[i], id) == 0;
  }
  ctrd_string_array_free(ids, n);

  char *json = NULL;
  if ((s = ctrd_container_spec_json(container, &json)) != CTRD_OK) return fail("spec_json", s);
  printf("spec: %.200s...\n", json);
  ctrd_string_free(json);

  if ((s = ctrd_container_delete(container, 0)) != CTRD_OK) return fail("delete", s);
  printf("deleted %s\n", ctrd_container_id(container));
  ctrd_container_free(container);
  ctrd_client_free(client);
  return found ? 0 : 1;
}
