/* seccomp-gen's compiled stop loop for the seccomp (SECCOMP_RET_TRACE) recorder.
 *
 * Every call the recording filter does not allow stops its thread (PTRACE_EVENT_SECCOMP) until
 * the tracer resumes it. recorders/seccomp.py's Python loop spends ~5 us of interpreter time per
 * stop on top of the kernel's; this file keeps the plain stops in C: waitpid(-1, __WALL),
 * PTRACE_GET_SYSCALL_INFO, count, PTRACE_CONT. Python calls sgen_trace_run() through ctypes (the
 * GIL released) and gets back, still pending and not yet resumed, every stop that needs it:
 *
 *   SGEN_EV_STOP    sgen_trace_stop_tid/_status hold a stop as waitpid returned it: an event,
 *                   a signal, an exit, a seccomp stop of a thread with no token here, of a
 *                   syscall Python has not classified (or wants every time), from a call site
 *                   (token, ip) Python has not named yet, the first call of a syscall from a
 *                   site (Python samples the stack there), or any stop of the ``watch`` thread.
 *                   Python handles it exactly as its own loop would (resuming it), then tells us
 *                   what it learned (sgen_trace_set_tid, _set_call, _set_site).
 *   SGEN_EV_SIGNAL  a signal arrived (waitpid was interrupted, or one came in while a stop was
 *                   handled here: see sgen_trace_watch_signal): CPython runs its handlers once
 *                   back in bytecode (signal forwarding), even while the workload is busy.
 *   SGEN_EV_DONE    no tracee is left (ECHILD).
 *   < 0             -errno of a failed waitpid/PTRACE_CONT or of an allocation;
 *                   sgen_trace_failed_op says which. A stop counted here is resumed first.
 *
 * What is counted here must equal what the Python loop counts, so only what Python has taught:
 *   - per (token, arch, nr) a call count; a token is Python's (process, executable) lifetime,
 *     registered per thread id (-1: ask Python, e.g. after an exec or an exit).
 *   - per syscall classified SGEN_CALL_ARGS, the distinct rows of up to two argument registers,
 *     queued in arrival order (sgen_table.h); Python takes the queue before it accounts for any
 *     call itself, so the order it sees is the order of the calls.
 *   - with sites on, per (arch, nr, site id) a call count, the site of (token, ip) as Python's
 *     SiteResolver named it (ip: the syscall info's instruction pointer), for the (arch, nr,
 *     site) Python has counted once itself (sgen_trace_set_site_call).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sgen_table.h"

#ifndef PTRACE_GET_SYSCALL_INFO
#define PTRACE_GET_SYSCALL_INFO 0x420e
#endif
#ifndef PTRACE_EVENT_SECCOMP
#define PTRACE_EVENT_SECCOMP 7
#endif
#ifndef __WALL
#define __WALL 0x40000000
#endif

/* waitpid's status of a PTRACE_EVENT_SECCOMP stop. */
#define SECCOMP_STOP_STATUS (((SIGTRAP | (PTRACE_EVENT_SECCOMP << 8)) << 8) | 0x7f)

enum { SGEN_EV_STOP = 1, SGEN_EV_SIGNAL = 2, SGEN_EV_DONE = 3 };
enum { SGEN_OP_WAIT = 1, SGEN_OP_CONT = 2, SGEN_OP_MEMORY = 3 };

/* struct ptrace_syscall_info as the seccomp stop fills it (linux/ptrace.h). */
struct info {
    uint8_t op;
    uint8_t pad[3];
    uint32_t arch;
    uint64_t ip;
    uint64_t sp;
    uint64_t nr;
    uint64_t args[6];
    uint32_t ret_data;
    uint32_t pad2;
};

struct sgen_trace {
    int sites;
    int failed_op;
    unsigned row_cap;
    pid_t tid; /* the stop handed to Python */
    int status;
    struct info info;
    struct table tids;       /* tid -> token (-1: ask Python) */
    struct table calls;      /* arch << 32 | nr -> classification */
    struct table counts;     /* (token, arch << 32 | nr) -> calls */
    struct table site_of;    /* (token, ip) -> site id */
    struct table site_calls; /* (arch << 32 | nr, site id) -> calls counted here */
    struct rows rows;
    uint64_t *total; /* calls resumed here, in the caller's memory: a status line in another
                        thread may read it at any time, even after sgen_trace_free */
};

/* The signals Python forwards: their handlers (CPython's) are wrapped so that one arriving
 * while this file handles a stop, not only one that interrupts waitpid, brings us back. */
#define SGEN_NSIG 65
static struct sigaction sgen_old_action[SGEN_NSIG];
static unsigned char sgen_wrapped[SGEN_NSIG];
static volatile sig_atomic_t sgen_signalled;

static void sgen_on_signal(int sig, siginfo_t *info, void *context)
{
    const struct sigaction *old = &sgen_old_action[sig];
    sgen_signalled = 1;
    if (old->sa_flags & SA_SIGINFO)
        old->sa_sigaction(sig, info, context);
    else if (old->sa_handler != SIG_DFL && old->sa_handler != SIG_IGN)
        old->sa_handler(sig);
}

/* Wrap the handler of ``sig`` (a no-op for a default or ignored one); 0 or -errno. */
int sgen_trace_watch_signal(int sig)
{
    struct sigaction old, ours;
    if (sig <= 0 || sig >= SGEN_NSIG)
        return -EINVAL;
    if (sgen_wrapped[sig])
        return 0;
    if (sigaction(sig, NULL, &old) != 0)
        return -errno;
    if (!(old.sa_flags & SA_SIGINFO) && (old.sa_handler == SIG_DFL || old.sa_handler == SIG_IGN))
        return 0;
    sgen_old_action[sig] = old;
    ours = old;
    ours.sa_sigaction = sgen_on_signal;
    ours.sa_flags = (old.sa_flags | SA_SIGINFO) & ~SA_RESTART;
    if (sigaction(sig, &ours, NULL) != 0)
        return -errno;
    sgen_wrapped[sig] = 1;
    return 0;
}

/* Put back the handler sgen_trace_watch_signal wrapped. */
void sgen_trace_unwatch_signal(int sig)
{
    if (sig > 0 && sig < SGEN_NSIG && sgen_wrapped[sig]) {
        sigaction(sig, &sgen_old_action[sig], NULL);
        sgen_wrapped[sig] = 0;
    }
}

unsigned sgen_trace_row_size(void) { return sizeof(struct sgen_row); }

void sgen_trace_free(struct sgen_trace *st)
{
    if (!st)
        return;
    free(st->tids.slots);
    free(st->calls.slots);
    free(st->counts.slots);
    free(st->site_of.slots);
    free(st->site_calls.slots);
    rows_free(&st->rows);
    free(st);
}

/* A loop state that keeps up to ``row_cap`` argument rows per syscall, counts per call site if
 * ``sites``, and counts the stops it resumes in *total. Returns 0 and sets *out, or -ENOMEM. */
int sgen_trace_new(unsigned row_cap, int sites, uint64_t *total, struct sgen_trace **out)
{
    struct sgen_trace *st = calloc(1, sizeof *st);
    *out = NULL;
    if (!st)
        return -ENOMEM;
    st->row_cap = row_cap;
    st->sites = sites;
    st->total = total;
    table_init(&st->tids, 1, 1);
    table_init(&st->calls, 1, 2);
    table_init(&st->counts, 2, 1);
    table_init(&st->site_of, 2, 1);
    table_init(&st->site_calls, 2, 1);
    rows_init(&st->rows);
    *out = st;
    return 0;
}

int sgen_trace_stop_tid(struct sgen_trace *st) { return st->tid; }
int sgen_trace_stop_status(struct sgen_trace *st) { return st->status; }
int sgen_trace_failed_op(struct sgen_trace *st) { return st->failed_op; }

/* Set one table entry (key words, one value word); 0 or -ENOMEM. */
static int set_word(struct table *t, const uint64_t *key, uint64_t value)
{
    int fresh;
    uint64_t *slot = table_get(t, key, &fresh);
    if (!slot)
        return -ENOMEM;
    slot[0] = value;
    return 0;
}

int sgen_trace_set_tid(struct sgen_trace *st, int tid, int64_t token)
{
    uint64_t key = (uint32_t)tid;
    return set_word(&st->tids, &key, (uint64_t)token);
}

int sgen_trace_set_call(struct sgen_trace *st, uint32_t arch, int32_t nr, int kind,
                        unsigned nidx, unsigned idx0, unsigned idx1)
{
    int64_t how = call_how(kind, nidx, idx0, idx1);
    uint64_t key = call_key(arch, nr);
    return how < 0 ? (int)how : set_word(&st->calls, &key, (uint64_t)how);
}

int sgen_trace_set_site(struct sgen_trace *st, int64_t token, uint64_t ip, int64_t site)
{
    uint64_t key[2] = {(uint64_t)token, ip};
    return set_word(&st->site_of, key, (uint64_t)site);
}

/* Python has counted (arch, nr) from ``site``: count its further calls here (from zero). */
int sgen_trace_set_site_call(struct sgen_trace *st, uint32_t arch, int32_t nr, int64_t site)
{
    uint64_t key[2] = {call_key(arch, nr), (uint64_t)site};
    int fresh;
    return table_get(&st->site_calls, key, &fresh) ? 0 : -ENOMEM;
}

/* Add one to the counter of ``key`` in ``t``; 0 or -ENOMEM. */
static int bump(struct table *t, const uint64_t *key)
{
    int fresh;
    uint64_t *n = table_get(t, key, &fresh);
    if (!n)
        return -ENOMEM;
    ++*n;
    return 0;
}

/* Resume plain seccomp stops until one needs Python; see the top of this file. */
int sgen_trace_run(struct sgen_trace *st, int watch)
{
    struct info *in = &st->info;
    for (;;) {
        int status;
        if (sgen_signalled) {
            sgen_signalled = 0;
            return SGEN_EV_SIGNAL;
        }
        pid_t tid = waitpid(-1, &status, __WALL);
        if (tid < 0) {
            if (errno == EINTR)
                return SGEN_EV_SIGNAL;
            if (errno == ECHILD)
                return SGEN_EV_DONE;
            st->failed_op = SGEN_OP_WAIT;
            return -errno;
        }
        st->tid = tid;
        st->status = status;
        if (status != SECCOMP_STOP_STATUS || tid == watch)
            return SGEN_EV_STOP;
        uint64_t key = (uint32_t)tid;
        const uint64_t *token = table_find(&st->tids, &key);
        if (!token || (int64_t)*token < 0)
            return SGEN_EV_STOP;
        if (ptrace(PTRACE_GET_SYSCALL_INFO, tid, sizeof *in, in) <= 0 || in->nr > INT32_MAX)
            return SGEN_EV_STOP; /* gone, or a number Python keys differently: its loop decides */
        uint64_t ck = call_key(in->arch, (int32_t)in->nr);
        uint64_t *how = table_find(&st->calls, &ck);
        if (!how || CALL_KIND(how[0]) == SGEN_CALL_PYTHON)
            return SGEN_EV_STOP;
        uint64_t site_key[2] = {*token, in->ip};
        const uint64_t *site = NULL;
        if (st->sites && !(site = table_find(&st->site_of, site_key)))
            return SGEN_EV_STOP;
        uint64_t *at_site = NULL;
        if (site) {
            uint64_t sc_key[2] = {ck, *site};
            if (!(at_site = table_find(&st->site_calls, sc_key)))
                return SGEN_EV_STOP; /* the first call of this syscall from this site */
        }
        uint64_t count_key[2] = {*token, ck};
        int rc = bump(&st->counts, count_key);
        if (!rc)
            rc = rows_add(&st->rows, how, st->row_cap, in->arch, (int32_t)in->nr, in->args);
        if (at_site)
            ++*at_site;
        if (rc < 0)
            st->failed_op = SGEN_OP_MEMORY;
        if (ptrace(PTRACE_CONT, tid, 0, 0) == -1 && errno != ESRCH) {
            st->failed_op = SGEN_OP_CONT;
            return -errno;
        }
        if (rc < 0)
            return rc;
        __atomic_store_n(st->total, *st->total + 1, __ATOMIC_RELAXED);
    }
}

/* The counters, as table_dump writes them: (token, arch << 32 | nr, calls) words per entry
 * (sgen_trace_counts), (arch << 32 | nr, site id, calls) per entry (sgen_trace_site_counts). */
long sgen_trace_ncounts(struct sgen_trace *st) { return (long)st->counts.used; }
long sgen_trace_counts(struct sgen_trace *st, uint64_t *out, long cap)
{
    return table_dump(&st->counts, out, cap);
}
long sgen_trace_nsite_counts(struct sgen_trace *st) { return (long)st->site_calls.used; }
long sgen_trace_site_counts(struct sgen_trace *st, uint64_t *out, long cap)
{
    return table_dump(&st->site_calls, out, cap);
}

/* How many argument rows are queued for Python. */
long sgen_trace_nrows(struct sgen_trace *st) { return (long)st->rows.n; }

/* Move up to ``cap`` queued rows, oldest first, into ``out``; returns how many. */
long sgen_trace_take_rows(struct sgen_trace *st, struct sgen_row *out, long cap)
{
    return rows_take(&st->rows, out, cap);
}
