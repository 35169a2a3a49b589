/* Events from C: subscribe with a topic filter, create a container through
 * the C API, wait (bounded) for its /containers/create event on the library's
 * callback thread, check the JSON, then delete the container and free the
 * subscription: no callback runs after that. */
#define _POSIX_C_SOURCE 200809L
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

struct seen {
  char want[128];         /* "\"id\":\"<id>\"" */
  atomic_int found;       /* set (release) once json/ns hold the event */
  atomic_int calls;       /* every callback */
  char json[4096];
  char ns[256];
};

static void on_event(void *user_data, const char *topic, const char *ns,
                     const char *event_json) {
  struct seen *s = user_data;
  atomic_fetch_add(&s->calls, 1);
  /* The strings are valid only during the call: copy what we keep. */
  if (strcmp(topic, "/containers/create") != 0 || strstr(event_json, s->want) == NULL ||
      atomic_load(&s->found))
    return;
  snprintf(s->json, sizeof s->json, "%s", event_json);
  snprintf(s->ns, sizeof s->ns, "%s", ns);
  atomic_store_explicit(&s->found, 1, memory_order_release);
}

static void sleep_ms(long ms) {
  struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&t, NULL);
}

int main(void) {
  char id[64];
  snprintf(id, sizeof id, "events-c-%ld", (long)getpid());
  static struct seen seen;
  snprintf(seen.want, sizeof seen.want, "\"id\":\"%s\"", id);

  ctrd_client *client = NULL;
  CHECK(ctrd_client_connect(NULL, NULL, &client) == CTRD_OK);

  /* Bad input is refused. */
  ctrd_subscription *sub = NULL;
  CHECK_STATUS(ctrd_events_subscribe(client, NULL, NULL, NULL, &sub),
               CTRD_ERR_INVALID_ARGUMENT, "cb is NULL");
  CHECK(sub == NULL);

  const char *filters[] = {"topic==\"/containers/create\"", NULL};
  CHECK(ctrd_events_subscribe(client, filters, on_event, &seen, &sub) == CTRD_OK);
  CHECK(sub != NULL);

  /* Established when subscribe returned: this create is not missed. */
  char *spec = NULL;
  CHECK(ctrd_spec_generate(client, id, NULL, NULL, &spec) == CTRD_OK);
  ctrd_container_opts opts = {.struct_size = sizeof(ctrd_container_opts), .id = id, .spec_json = spec, .image = "example/image:1"};
  ctrd_container *container = NULL;
  CHECK(ctrd_container_create(client, &opts, &container) == CTRD_OK);
  ctrd_string_free(spec);

  for (int i = 0; i < 200 && !atomic_load_explicit(&seen.found, memory_order_acquire); i++)
    sleep_ms(50);
  CHECK(atomic_load_explicit(&seen.found, memory_order_acquire));
  printf("event in %s: %s\n", seen.ns, seen.json);
  CHECK(strcmp(seen.ns, getenv("CONTAINERD_NAMESPACE") ? getenv("CONTAINERD_NAMESPACE")
                                                       : "default") == 0);
  CHECK(strstr(seen.json, "\"image\":\"example/image:1\"") != NULL);
  CHECK(strstr(seen.json, "\"name\":\"io.containerd.runc.v2\"") != NULL);

  CHECK(ctrd_container_delete(container, 0) == CTRD_OK);
  ctrd_container_free(container);

  /* After free returns, no callback runs: the count stays put. */
  ctrd_subscription_free(sub);
  int calls = atomic_load(&seen.calls);
  CHECK(ctrd_spec_generate(client, id, NULL, NULL, &spec) == CTRD_OK);
  opts.spec_json = spec;
  CHECK(ctrd_container_create(client, &opts, &container) == CTRD_OK);
  ctrd_string_free(spec);
  CHECK(ctrd_container_delete(container, 0) == CTRD_OK);
  ctrd_container_free(container);
  sleep_ms(200);
  CHECK(atomic_load(&seen.calls) == calls);

  ctrd_subscription_free(NULL);
  ctrd_client_free(client);
  puts("events: ok");
  return 0;
}
