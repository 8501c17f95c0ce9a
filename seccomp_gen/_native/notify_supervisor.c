/* seccomp-gen's compiled USER_NOTIF supervisor loop for the notify recorder.
 *
 * seccomp_gen/recorders/notify.py holds the listener fd of a SECCOMP_RET_USER_NOTIF filter
 * loaded in the workload; every call the filter does not allow waits until it is answered.
 * A Python loop answering them costs ~13 us per call; most of that is the interpreter, not the
 * kernel. This file keeps the hot path in C: poll, SECCOMP_IOCTL_NOTIF_RECV, count the call,
 * SECCOMP_IOCTL_NOTIF_SEND with SECCOMP_USER_NOTIF_FLAG_CONTINUE. Python calls sgen_notify_run()
 * through ctypes (which releases the GIL) and gets control back only for what needs Python, with
 * the notification still unanswered in the shared buffer when it is one:
 *
 *   SGEN_EV_NOTIF   a thread this file has no token for (Python reads /proc while the thread
 *                   still waits for the answer), a call Python has not classified yet or wants
 *                   to see every time (execve, clone3 ...), a (token, instruction pointer)
 *                   with no call-site id yet (Python reads /proc/PID/maps, the caller waits),
 *                   or the first call of a syscall from a site (Python samples the waiting
 *                   thread's stack for its caller). Python accounts for it exactly as its own
 *                   loop would, answers it with sgen_notify_answer(), and tells us what it
 *                   learned (sgen_table.h's sgen_set_tid, sgen_set_call, sgen_set_site,
 *                   sgen_set_site_call).
 *   SGEN_EV_PIDFD   the workload's main process ended (Python reaps it, then unwatches the fd).
 *   SGEN_EV_HUP     no task uses the filter any more.
 *   SGEN_EV_SIGNAL  a signal arrived: poll() or RECV was interrupted, or the signal.set_wakeup_fd
 *                   pipe became readable. Returning lets CPython run its handlers (Ctrl-C is
 *                   forwarded to the workload from Python) while no call is left waiting.
 *   SGEN_EV_IDLE    nothing left to watch.
 *   < 0             -errno of a failed poll/RECV/SEND or of an allocation; sgen_notify_failed_op
 *                   says which. A call counted here is answered before an error is returned.
 *
 * What this file records must equal what the Python loop records, so it only counts what Python
 * has taught it (struct sgen_taught in sgen_table.h, shared with trace_loop.c):
 *   - per (token, arch, nr, site id) a call count; a token is Python's (process, executable)
 *     lifetime, registered per thread id; a site id is Python's id of the call site (mapped
 *     file, offset), registered per (token, seccomp_data.instruction_pointer), the address right
 *     after the syscall instruction, as in every backend. Python forgets a thread (token -1)
 *     when its process execs, so its next call comes back to Python, which reads the new
 *     executable. Only an (arch, nr, site id) Python has counted once itself
 *     (sgen_set_site_call) is counted here: the first call of each comes to Python, as every
 *     call does in its own loop.
 *   - per call Python classified as SGEN_CALL_ARGS, the values of up to two argument registers:
 *     each distinct (arch, nr, values) row is queued once, in arrival order, for Python to fold
 *     into its per-syscall sets with its own cap (argspec.ARG_VALUE_CAP). Python takes the queue
 *     before it accounts for any call itself, so the order it sees is the order of the calls.
 *     Past row_cap distinct rows of one syscall (the cap plus one: enough for Python to know the
 *     cap was exceeded) further rows are dropped, which bounds memory.
 *
 * struct seccomp_notif's size comes from SECCOMP_GET_NOTIF_SIZES: the kernel may write more than
 * this header's struct, and RECV insists on a zeroed buffer.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sgen_table.h"

#if defined(__has_include)
#if __has_include(<linux/seccomp.h>)
#include <linux/seccomp.h>
#define SGEN_HAVE_SECCOMP_H 1
#endif
#endif

#ifndef SGEN_HAVE_SECCOMP_H
/* The kernel's UAPI (include/uapi/linux/seccomp.h), for systems without kernel headers. */
struct seccomp_data {
    int nr;
    uint32_t arch;
    uint64_t instruction_pointer;
    uint64_t args[6];
};
struct seccomp_notif_sizes {
    uint16_t seccomp_notif;
    uint16_t seccomp_notif_resp;
    uint16_t seccomp_data;
};
struct seccomp_notif {
    uint64_t id;
    uint32_t pid;
    uint32_t flags;
    struct seccomp_data data;
};
struct seccomp_notif_resp {
    uint64_t id;
    int64_t val;
    int32_t error;
    uint32_t flags;
};
#define SECCOMP_GET_NOTIF_SIZES 3
#endif
#ifndef SECCOMP_USER_NOTIF_FLAG_CONTINUE
#define SECCOMP_USER_NOTIF_FLAG_CONTINUE (1UL << 0)
#endif
#ifndef SECCOMP_IOCTL_NOTIF_RECV
#define SECCOMP_IOCTL_NOTIF_RECV _IOWR('!', 0, struct seccomp_notif)
#endif
#ifndef SECCOMP_IOCTL_NOTIF_SEND
#define SECCOMP_IOCTL_NOTIF_SEND _IOWR('!', 1, struct seccomp_notif_resp)
#endif

enum {
    SGEN_EV_NOTIF = 1,
    SGEN_EV_PIDFD = 2,
    SGEN_EV_HUP = 3,
    SGEN_EV_SIGNAL = 4,
    SGEN_EV_IDLE = 5,
};

enum { SGEN_OP_POLL = 1, SGEN_OP_RECV = 2, SGEN_OP_SEND = 3, SGEN_OP_MEMORY = 4 };

struct sgen_notify {
    struct sgen_taught taught; /* first: Python passes this state to sgen_table.h's sgen_* */
    struct pollfd fds[3]; /* listener, pidfd, wakeup pipe; fd -1 when not watched */
    int listener;
    int failed_op;
    size_t notif_size;
    size_t resp_size;
    struct seccomp_notif *notif;
    struct seccomp_notif_resp *resp;
};
_Static_assert(offsetof(struct sgen_notify, taught) == 0, "sgen_* take the state as taught");

void sgen_notify_free(struct sgen_notify *st)
{
    if (!st)
        return;
    free(st->notif);
    free(st->resp);
    taught_free(&st->taught);
    free(st);
}

/* A supervisor for ``listener`` that also watches ``pidfd`` and ``wakefd`` (-1: none) and
 * counts the calls it answers in *total. Returns 0 and sets *out, or -errno. */
int sgen_notify_new(int listener, int pidfd, int wakefd, unsigned row_cap, uint64_t *total,
                    struct sgen_notify **out)
{
    struct seccomp_notif_sizes sizes;
    *out = NULL;
    if (syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sizes) != 0)
        return -errno;
    struct sgen_notify *st = calloc(1, sizeof *st);
    if (!st)
        return -ENOMEM;
    taught_init(&st->taught, row_cap, total);
    st->listener = listener;
    st->notif_size = sizes.seccomp_notif > sizeof *st->notif ? sizes.seccomp_notif
                                                             : sizeof *st->notif;
    st->resp_size = sizes.seccomp_notif_resp > sizeof *st->resp ? sizes.seccomp_notif_resp
                                                                : sizeof *st->resp;
    st->notif = calloc(1, st->notif_size);
    st->resp = calloc(1, st->resp_size);
    if (!st->notif || !st->resp) {
        sgen_notify_free(st);
        return -ENOMEM;
    }
    st->resp->flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
    st->fds[0] = (struct pollfd){.fd = listener, .events = POLLIN};
    st->fds[1] = (struct pollfd){.fd = pidfd, .events = POLLIN};
    st->fds[2] = (struct pollfd){.fd = wakefd, .events = POLLIN};
    *out = st;
    return 0;
}

/* The buffer RECV fills (struct seccomp_notif, at least the kernel's size of it). */
void *sgen_notify_buffer(struct sgen_notify *st) { return st->notif; }
unsigned sgen_notify_buffer_size(struct sgen_notify *st) { return (unsigned)st->notif_size; }
int sgen_notify_failed_op(struct sgen_notify *st) { return st->failed_op; }

/* Stop watching ``fd`` (the listener after POLLHUP, the pidfd once the child is reaped). */
void sgen_notify_unwatch(struct sgen_notify *st, int fd)
{
    for (int i = 0; i < 3; i++)
        if (st->fds[i].fd == fd)
            st->fds[i].fd = -1;
}

/* Answer the notification in the buffer: let the call run. 0, or -errno; ENOENT (the caller
 * was killed, or its wait was interrupted and it will be notified again) is not an error. */
int sgen_notify_answer(struct sgen_notify *st)
{
    st->resp->id = st->notif->id;
    while (ioctl(st->listener, SECCOMP_IOCTL_NOTIF_SEND, st->resp) != 0) {
        if (errno == EINTR)
            continue;
        if (errno == ENOENT)
            return 0;
        st->failed_op = SGEN_OP_SEND;
        return -errno;
    }
    return 0;
}

/* Answer notifications until something needs Python; see the top of this file. */
int sgen_notify_run(struct sgen_notify *st)
{
    for (;;) {
        if (st->fds[0].fd < 0 && st->fds[1].fd < 0)
            return SGEN_EV_IDLE;
        if (poll(st->fds, 3, -1) < 0) {
            if (errno == EINTR)
                return SGEN_EV_SIGNAL;
            st->failed_op = SGEN_OP_POLL;
            return -errno;
        }
        if (st->fds[2].revents)
            return SGEN_EV_SIGNAL;
        if (st->fds[1].revents)
            return SGEN_EV_PIDFD;
        short ev = st->fds[0].revents;
        if (!ev)
            continue;
        if (!(ev & POLLIN)) {
            if (ev & (POLLHUP | POLLERR))
                return SGEN_EV_HUP;
            st->failed_op = SGEN_OP_POLL;
            return -EBADF; /* POLLNVAL: the listener was closed under us */
        }
        memset(st->notif, 0, st->notif_size);
        if (ioctl(st->listener, SECCOMP_IOCTL_NOTIF_RECV, st->notif) != 0) {
            if (errno == ENOENT)
                continue; /* the caller was killed before we read its call */
            if (errno == EINTR)
                return SGEN_EV_SIGNAL;
            st->failed_op = SGEN_OP_RECV;
            return -errno;
        }
        const struct seccomp_data *d = &st->notif->data;
        const uint64_t *token = taught_token(&st->taught, st->notif->pid);
        struct sgen_call call;
        if (!token ||
            !taught_claim(&st->taught, *token, d->arch, d->nr, d->instruction_pointer, &call))
            return SGEN_EV_NOTIF;
        uint64_t args[6]; /* the kernel's __u64, which need not be uint64_t's type */
        memcpy(args, d->args, sizeof args);
        int rc = taught_account(&st->taught, &call, args);
        if (rc < 0)
            st->failed_op = SGEN_OP_MEMORY;
        int sent = sgen_notify_answer(st);
        if (sent < 0)
            return sent;
        if (rc < 0)
            return rc;
        taught_passed(&st->taught);
    }
}
