/* C helpers of the Go binding: the library's callback types bound to the
 * exported Go trampolines (callbacks.go). user_data is a runtime/cgo.Handle,
 * an integer; it becomes a void * here, in C, so that Go never makes an
 * unsafe.Pointer out of an integer. */
#ifndef CONTAINERDC_GO_H
#define CONTAINERDC_GO_H

#include <stdint.h>
#include "containerd_c.h"

enum ctrd_status ctrdgo_subscribe(ctrd_client *c, const char *const *filters, uintptr_t h,
                                  ctrd_subscription **out);
enum ctrd_status ctrdgo_task_wait_async(ctrd_task *t, uintptr_t h, ctrd_wait **out);
enum ctrd_status ctrdgo_process_wait_async(ctrd_process *p, uintptr_t h, ctrd_wait **out);
void ctrdgo_set_progress(ctrd_pull_opts *o, uintptr_t h);
void ctrdgo_set_push_progress(ctrd_push_opts *o, uintptr_t h);

#endif
