/* The container record from C: create a container with labels and runc
 * options, read its info JSON, set and remove a label, update its spec,
 * see a change made through another handle after a refresh, delete it.
 * Bad input gets CTRD_ERR_INVALID_ARGUMENT with a message, out-params stay
 * untouched. */
#define _POSIX_C_SOURCE 200809L
#include <unistd.h>

#include "check.h"

/* The handle's record as JSON (compact, keys sorted); the caller frees it. */
static char *info_of(ctrd_container *k) {
  char *json = NULL;
  CHECK(ctrd_container_info_json(k, &json) == CTRD_OK);
  CHECK(json != NULL);
  return json;
}

static int has(const char *json, const char *text) {
  if (strstr(json, text) != NULL) return 1;
  fprintf(stderr, "no %s in %s\n", text, json);
  return 0;
}

int main(void) {
  char id[64];
  snprintf(id, sizeof id, "info-c-%ld", (long)getpid());
  const char bad_utf8[] = {'a', '=', (char)0xff, 0};

  ctrd_client *client = NULL;
  CHECK(ctrd_client_connect(NULL, NULL, &client) == CTRD_OK);
  char *spec = NULL;
  CHECK(ctrd_spec_generate(client, id, NULL, NULL, &spec) == CTRD_OK);

  /* Bad runtime options are refused before any call, naming the key. */
  ctrd_container *container = NULL;
  ctrd_container_opts bad = {.struct_size = sizeof(ctrd_container_opts), .id = id, .spec_json = spec,
                             .runtime_options_json = "{\"SystemdCgroups\":true}"};
  CHECK_STATUS(ctrd_container_create(client, &bad, &container), CTRD_ERR_INVALID_ARGUMENT,
               "unknown key \"SystemdCgroups\"");
  bad.runtime_options_json = "{\"IoUid\":-1}";
  CHECK_STATUS(ctrd_container_create(client, &bad, &container), CTRD_ERR_INVALID_ARGUMENT,
               "\"IoUid\" must be a whole number");
  bad.runtime_options_json = "{not json";
  CHECK_STATUS(ctrd_container_create(client, &bad, &container), CTRD_ERR_INVALID_ARGUMENT,
               "runtime_options_json is not valid JSON");
  CHECK(container == NULL);

  const char *labels[] = {"app=web", "gone=soon", NULL};
  ctrd_container_opts opts = {.struct_size = sizeof(ctrd_container_opts),
      .id = id,
      .spec_json = spec,
      .image = "example/image:1",
      .labels = labels,
      .runtime_options_json = "{\"SystemdCgroup\":false,\"BinaryName\":\"/usr/sbin/runc\"}",
  };
  CHECK(ctrd_container_create(client, &opts, &container) == CTRD_OK);

  char *json = info_of(container);
  printf("info: %.300s...\n", json);
  char want[128];
  snprintf(want, sizeof want, "\"id\":\"%s\"", id);
  CHECK(has(json, want));
  CHECK(has(json, "\"labels\":{\"app\":\"web\",\"gone\":\"soon\"}"));
  CHECK(has(json, "\"image\":\"example/image:1\""));
  CHECK(has(json, "\"name\":\"io.containerd.runc.v2\""));
  CHECK(has(json, "\"typeUrl\":\"containerd.runc.v1.Options\""));
  CHECK(has(json, "\"BinaryName\":\"/usr/sbin/runc\""));
  CHECK(has(json, "\"SystemdCgroup\":false"));
  CHECK(has(json, "\"snapshotter\":\"overlayfs\""));
  CHECK(has(json, "\"createdAt\":\"20"));
  CHECK(has(json, "\"spec\":{"));
  CHECK(has(json, "\"ociVersion\":"));
  ctrd_string_free(json);

  /* Set one label, remove another; the others stay. */
  const char *change[] = {"tier=front", "gone=", NULL};
  CHECK(ctrd_container_set_labels(container, change) == CTRD_OK);
  json = info_of(container);
  CHECK(has(json, "\"labels\":{\"app\":\"web\",\"tier\":\"front\"}"));
  ctrd_string_free(json);

  /* Update the spec: the handle's copy is the new one. */
  char *patched = NULL;
  CHECK(ctrd_spec_patch(spec, "{\"hostname\":\"from-c\"}", &patched) == CTRD_OK);
  CHECK(ctrd_container_update_spec(container, patched) == CTRD_OK);
  char *stored = NULL;
  CHECK(ctrd_container_spec_json(container, &stored) == CTRD_OK);
  CHECK(strcmp(stored, patched) == 0);
  ctrd_string_free(stored);
  json = info_of(container);
  CHECK(has(json, "\"hostname\":\"from-c\""));
  CHECK(has(json, "\"tier\":\"front\""));
  ctrd_string_free(json);

  /* A change through another handle shows here after a refresh only. */
  ctrd_container *other = NULL;
  CHECK(ctrd_container_load(client, id, &other) == CTRD_OK);
  const char *more[] = {"by=other", NULL};
  CHECK(ctrd_container_set_labels(other, more) == CTRD_OK);
  json = info_of(container);
  CHECK(strstr(json, "\"by\":\"other\"") == NULL);
  ctrd_string_free(json);
  CHECK(ctrd_container_refresh(container) == CTRD_OK);
  json = info_of(container);
  CHECK(has(json, "\"by\":\"other\""));
  CHECK(has(json, "\"hostname\":\"from-c\""));
  ctrd_string_free(json);
  ctrd_container_free(other);

  /* Bad input changes nothing. */
  char *untouched = (char *)0x1;
  CHECK_STATUS(ctrd_container_info_json(NULL, &untouched), CTRD_ERR_INVALID_ARGUMENT,
               "ctrd_container_info_json: container is NULL");
  CHECK_STATUS(ctrd_container_info_json(container, NULL), CTRD_ERR_INVALID_ARGUMENT,
               "json is NULL");
  CHECK(untouched == (char *)0x1);
  CHECK_STATUS(ctrd_container_refresh(NULL), CTRD_ERR_INVALID_ARGUMENT, "container is NULL");
  CHECK_STATUS(ctrd_container_set_labels(NULL, change), CTRD_ERR_INVALID_ARGUMENT,
               "container is NULL");
  CHECK_STATUS(ctrd_container_set_labels(container, NULL), CTRD_ERR_INVALID_ARGUMENT,
               "labels is NULL");
  const char *none[] = {NULL};
  CHECK_STATUS(ctrd_container_set_labels(container, none), CTRD_ERR_INVALID_ARGUMENT,
               "labels has no items");
  const char *no_eq[] = {"novalue", NULL};
  CHECK_STATUS(ctrd_container_set_labels(container, no_eq), CTRD_ERR_INVALID_ARGUMENT,
               "label \"novalue\" is not key=value");
  const char *empty_key[] = {"=v", NULL};
  CHECK_STATUS(ctrd_container_set_labels(container, empty_key), CTRD_ERR_INVALID_ARGUMENT,
               "has an empty key");
  const char *twice[] = {"k=1", "k=", NULL};
  CHECK_STATUS(ctrd_container_set_labels(container, twice), CTRD_ERR_INVALID_ARGUMENT,
               "given twice");
  const char *not_utf8[] = {bad_utf8, NULL};
  CHECK_STATUS(ctrd_container_set_labels(container, not_utf8), CTRD_ERR_INVALID_ARGUMENT,
               "labels[0] is not valid UTF-8");
  CHECK_STATUS(ctrd_container_update_spec(NULL, spec), CTRD_ERR_INVALID_ARGUMENT,
               "container is NULL");
  CHECK_STATUS(ctrd_container_update_spec(container, NULL), CTRD_ERR_INVALID_ARGUMENT,
               "spec_json is NULL");
  CHECK_STATUS(ctrd_container_update_spec(container, bad_utf8), CTRD_ERR_INVALID_ARGUMENT,
               "spec_json is not valid UTF-8");
  CHECK_STATUS(ctrd_container_update_spec(container, "{not json"), CTRD_ERR_INVALID_ARGUMENT,
               "spec is not valid JSON");
  CHECK_STATUS(ctrd_container_update_spec(container, "{\"process\":{}}"),
               CTRD_ERR_INVALID_ARGUMENT, "\"ociVersion\" is missing");
  CHECK(ctrd_container_refresh(container) == CTRD_OK);
  json = info_of(container);
  CHECK(has(json, "\"hostname\":\"from-c\""));
  CHECK(has(json, "\"labels\":{\"app\":\"web\",\"by\":\"other\",\"tier\":\"front\"}"));
  ctrd_string_free(json);

  /* Deleted: the copy stays readable, re-reading it is NOT_FOUND. */
  CHECK(ctrd_container_delete(container, 0) == CTRD_OK);
  CHECK_STATUS(ctrd_container_refresh(container), CTRD_ERR_NOT_FOUND, id);
  json = info_of(container);
  CHECK(has(json, want));
  ctrd_string_free(json);
  ctrd_container_free(container);

  ctrd_string_free(patched);
  ctrd_string_free(spec);
  ctrd_client_free(client);
  puts("container_info: ok");
  return 0;
}
