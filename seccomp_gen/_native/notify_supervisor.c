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
 *                   learned (sgen_notify_set_tid, sgen_notify_set_call, sgen_notify_set_site,
 *                   sgen_notify_set_site_call).
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
 * has told it how to count:
 *   - per (token, arch, nr, site id) a call count; a token is Python's (process, executable)
 *     lifetime, registered per thread id; a site id is Python's id of the call site (mapped
 *     file, offset), registered per (token, seccomp_data.instruction_pointer), the address right
 *     after the syscall instruction, as in every backend. Python forgets a thread (token -1)
 *     when its process execs, so its next call comes back to Python, which reads the new
 *     executable. Only an (arch, nr, site id) Python has counted once itself
 *     (sgen_notify_set_site_call) is counted here: the first call of each comes to Python,
 *     as every call does in its own loop. That is looked up only when a (token, arch, nr,
 *     site) counter is new, never on the per-call path.
 *   - per call Python classified as SGEN_CALL_ARGS, the values of up to two argument registers:
 *     each distinct (arch, nr, values) row is queued once, in arrival order, for Python to fold
 *     into its per-syscall sets with its own cap (argspec.ARG_VALUE_CAP). Python takes the queue
 *     before it accounts for any call itself, so the order it sees is the order of the calls.
 *     Past row_cap distinct rows of one syscall (the cap plus one: enough for Python to know the
 *     cap was exceeded) further rows are dropped, which bounds memory.
 * All tables grow on demand (open addressing, linear probing); nothing is ever full.
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

/* Shared with Python (_native/notify_supervisor.py COUNT and ROW; sizes checked at load). */
struct sgen_count {
    int64_t token;
    uint32_t arch;
    int32_t nr;
    int64_t site;
    uint64_t count;
};

struct sgen_notify {
    struct pollfd fds[3]; /* listener, pidfd, wakeup pipe; fd -1 when not watched */
    int listener;
    int failed_op;
    unsigned row_cap;
    size_t notif_size;
    size_t resp_size;
    struct seccomp_notif *notif;
    struct seccomp_notif_resp *resp;
    struct table tids;   /* tid -> token (-1: ask Python) */
    struct table calls;  /* arch << 32 | nr -> classification */
    struct table sites;  /* (token, instruction pointer) -> site id */
    struct table counts; /* (token, arch << 32 | nr, site id) -> calls */
    struct table site_calls; /* (arch << 32 | nr, site id) Python has counted */
    struct table rowset; /* (arch << 32 | nr, v0, v1) seen */
    struct sgen_row *rows; /* queued for Python, in arrival order */
    size_t nrows, rows_cap;
    uint64_t *total; /* calls answered here, in the caller's memory: a status line in another
                        thread may read it at any time, even after sgen_notify_free */
};

unsigned sgen_notify_count_size(void) { return sizeof(struct sgen_count); }
unsigned sgen_notify_row_size(void) { return sizeof(struct sgen_row); }

void sgen_notify_free(struct sgen_notify *st)
{
    if (!st)
        return;
    free(st->notif);
    free(st->resp);
    free(st->tids.slots);
    free(st->calls.slots);
    free(st->sites.slots);
    free(st->counts.slots);
    free(st->site_calls.slots);
    free(st->rowset.slots);
    free(st->rows);
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
    st->listener = listener;
    st->row_cap = row_cap;
    st->total = total;
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
    table_init(&st->tids, 1, 1);
    table_init(&st->calls, 1, 2);
    table_init(&st->sites, 2, 1);
    table_init(&st->counts, 3, 1);
    table_init(&st->site_calls, 2, 0);
    table_init(&st->rowset, 3, 0);
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

int sgen_notify_set_tid(struct sgen_notify *st, int tid, int64_t token)
{
    uint64_t key = (uint32_t)tid;
    int fresh;
    uint64_t *value = table_get(&st->tids, &key, &fresh);
    if (!value)
        return -ENOMEM;
    *value = (uint64_t)token;
    return 0;
}

int sgen_notify_set_call(struct sgen_notify *st, uint32_t arch, int32_t nr, int kind,
                         unsigned nidx, unsigned idx0, unsigned idx1)
{
    if (kind == SGEN_CALL_ARGS && (nidx < 1 || nidx > 2 || idx0 > 5 || idx1 > 5))
        return -EINVAL;
    uint64_t key = call_key(arch, nr);
    int fresh;
    uint64_t *value = table_get(&st->calls, &key, &fresh);
    if (!value)
        return -ENOMEM;
    value[0] = (uint64_t)(kind & 0xff) | (uint64_t)nidx << 8 | (uint64_t)idx0 << 16 |
               (uint64_t)idx1 << 24;
    return 0;
}

int sgen_notify_set_site(struct sgen_notify *st, int64_t token, uint64_t ip, int64_t site)
{
    uint64_t key[2] = {(uint64_t)token, ip};
    int fresh;
    uint64_t *value = table_get(&st->sites, key, &fresh);
    if (!value)
        return -ENOMEM;
    *value = (uint64_t)site;
    return 0;
}

/* Python has counted (arch, nr) from ``site`` (and sampled its caller): count the rest here. */
int sgen_notify_set_site_call(struct sgen_notify *st, uint32_t arch, int32_t nr, int64_t site)
{
    uint64_t key[2] = {call_key(arch, nr), (uint64_t)site};
    int fresh;
    return table_get(&st->site_calls, key, &fresh) ? 0 : -ENOMEM;
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

/* Count the call in the buffer under ``key`` (token, arch << 32 | nr, site id), whose counter
 * is ``n`` (NULL: a new one), whose syscall is classified ``how`` (COUNT or ARGS).
 * 0, or -ENOMEM. */
static int account(struct sgen_notify *st, const uint64_t *key, uint64_t *n, uint64_t *how)
{
    const struct seccomp_data *d = &st->notif->data;
    uint64_t ck = key[1];
    int fresh;
    if (!n && !(n = table_get(&st->counts, key, &fresh)))
        return -ENOMEM;
    ++*n;
    if (CALL_KIND(how[0]) != SGEN_CALL_ARGS || how[1] > st->row_cap)
        return 0;
    unsigned nvals = CALL_NIDX(how[0]);
    uint64_t row[3] = {ck, d->args[CALL_IDX(how[0], 0)],
                       nvals > 1 ? d->args[CALL_IDX(how[0], 1)] : 0};
    if (!table_get(&st->rowset, row, &fresh))
        return -ENOMEM;
    if (!fresh || ++how[1] > st->row_cap)
        return 0;
    if (st->nrows == st->rows_cap) {
        size_t cap = st->rows_cap ? st->rows_cap * 2 : 64;
        struct sgen_row *rows = realloc(st->rows, cap * sizeof *rows);
        if (!rows)
            return -ENOMEM;
        st->rows = rows;
        st->rows_cap = cap;
    }
    st->rows[st->nrows++] = (struct sgen_row){
        .arch = d->arch, .nr = d->nr, .nvals = nvals, .vals = {row[1], row[2]}};
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
        uint64_t tid = st->notif->pid;
        const uint64_t *token = table_find(&st->tids, &tid);
        if (!token || (int64_t)*token < 0)
            return SGEN_EV_NOTIF;
        uint64_t ck = call_key(st->notif->data.arch, st->notif->data.nr);
        uint64_t *how = table_find(&st->calls, &ck);
        if (!how || CALL_KIND(how[0]) == SGEN_CALL_PYTHON)
            return SGEN_EV_NOTIF;
        uint64_t where[2] = {*token, st->notif->data.instruction_pointer};
        const uint64_t *site = table_find(&st->sites, where);
        if (!site)
            return SGEN_EV_NOTIF;
        uint64_t key[3] = {*token, ck, *site};
        uint64_t *n = table_find(&st->counts, key);
        if (!n) {
            uint64_t sc_key[2] = {ck, *site};
            if (!table_find(&st->site_calls, sc_key))
                return SGEN_EV_NOTIF; /* the first call of this syscall from this site */
        }
        int rc = account(st, key, n, how);
        if (rc < 0)
            st->failed_op = SGEN_OP_MEMORY;
        int sent = sgen_notify_answer(st);
        if (sent < 0)
            return sent;
        if (rc < 0)
            return rc;
        __atomic_store_n(st->total, *st->total + 1, __ATOMIC_RELAXED);
    }
}

/* How many (token, arch, nr, site) counters there are. */
long sgen_notify_ncounts(struct sgen_notify *st) { return (long)st->counts.used; }

/* Copy up to ``cap`` counters into ``out``; returns how many. */
long sgen_notify_counts(struct sgen_notify *st, struct sgen_count *out, long cap)
{
    long n = 0;
    for (size_t i = 0; i < st->counts.cap && n < cap; i++) {
        const uint64_t *slot = st->counts.slots + i * st->counts.width;
        if (!slot[0])
            continue;
        out[n++] = (struct sgen_count){.token = (int64_t)slot[1],
                                       .arch = (uint32_t)(slot[2] >> 32),
                                       .nr = (int32_t)(uint32_t)slot[2],
                                       .site = (int64_t)slot[3],
                                       .count = slot[4]};
    }
    return n;
}

/* How many argument rows are queued for Python. */
long sgen_notify_nrows(struct sgen_notify *st) { return (long)st->nrows; }

/* Move up to ``cap`` queued rows, oldest first, into ``out``; returns how many. */
long sgen_notify_take_rows(struct sgen_notify *st, struct sgen_row *out, long cap)
{
    size_t n = cap < 0 ? 0 : (size_t)cap;
    if (n > st->nrows)
        n = st->nrows;
    if (!n)
        return 0;
    memcpy(out, st->rows, n * sizeof *out);
    memmove(st->rows, st->rows + n, (st->nrows - n) * sizeof *out);
    st->nrows -= n;
    return (long)n;
}
