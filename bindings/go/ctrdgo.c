/* See ctrdgo.h. */
#include "ctrdgo.h"
#include "_cgo_export.h"

static void event_cb(void *user_data, const char *topic, const char *ns, const char *json) {
	ctrdGoEvent(user_data, (char *)topic, (char *)ns, (char *)json);
}

static void exit_cb(void *user_data, enum ctrd_status status, uint32_t exit_status) {
	ctrdGoExit(user_data, status, exit_status);
}

static void progress_cb(void *user_data, const ctrd_progress *p) {
	ctrdGoProgress(user_data, (ctrd_progress *)p);
}

enum ctrd_status ctrdgo_subscribe(ctrd_client *c, const char *const *filters, uintptr_t h,
                                  ctrd_subscription **out) {
	return ctrd_events_subscribe(c, filters, event_cb, (void *)h, out);
}

enum ctrd_status ctrdgo_task_wait_async(ctrd_task *t, uintptr_t h, ctrd_wait **out) {
	return ctrd_task_wait_async(t, exit_cb, (void *)h, out);
}

enum ctrd_status ctrdgo_process_wait_async(ctrd_process *p, uintptr_t h, ctrd_wait **out) {
	return ctrd_process_wait_async(p, exit_cb, (void *)h, out);
}

void ctrdgo_set_progress(ctrd_pull_opts *o, uintptr_t h) {
	o->progress = progress_cb;
	o->user_data = (void *)h;
}

void ctrdgo_set_push_progress(ctrd_push_opts *o, uintptr_t h) {
	o->progress = progress_cb;
	o->user_data = (void *)h;
}
