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
 *                   what it learned (sgen_table.h's sgen_set_tid, _set_call, _set_site,
 *                   _set_site_call).
 *   SGEN_EV_SIGNAL  a signal arrived (waitpid was interrupted, or one came in while a stop was
 *                   handled here: see sgen_trace_watch_signal): CPython runs its handlers once
 *                   back in bytecode (signal forwarding), even while the workload is busy.
 *   SGEN_EV_DONE    no tracee is left (ECHILD).
 *   < 0             -errno of a failed waitpid/PTRACE_CONT or of an allocation;
 *                   sgen_trace_failed_op says which. A stop counted here is resumed first.
 *
 * What is counted here is what Python has taught (struct sgen_taught in sgen_table.h, taught
 * through its sgen_set_* entry points): per (token, arch, nr, site id) a call count, the site of
 * (token, ip) as Python's SiteResolver named it (ip: the syscall info's instruction pointer),
 * and per syscall classified SGEN_CALL_ARGS the distinct argument rows, queued in arrival order;
 * Python takes the queue before it accounts for any call itself, so the order it sees is the
 * order of the calls. A thread's token is registered per thread id (-1: ask Python, e.g. after
 * an exec or an exit).
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
    struct sgen_taught taught; /* first: Python passes this state to sgen_table.h's sgen_* */
    int failed_op;
    pid_t tid; /* the stop handed to Python */
    int status;
    struct info info;
};
_Static_assert(offsetof(struct sgen_trace, taught) == 0, "sgen_* take the state as taught");

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

void sgen_trace_free(struct sgen_trace *st)
{
    if (!st)
        return;
    taught_free(&st->taught);
    free(st);
}

/* A loop state that keeps up to ``row_cap`` argument rows per syscall and counts the stops it
 * resumes in *total. Returns 0 and sets *out, or -ENOMEM. */
int sgen_trace_new(unsigned row_cap, uint64_t *total, struct sgen_trace **out)
{
    struct sgen_trace *st = calloc(1, sizeof *st);
    *out = NULL;
    if (!st)
        return -ENOMEM;
    taught_init(&st->taught, row_cap, total);
    *out = st;
    return 0;
}

int sgen_trace_stop_tid(struct sgen_trace *st) { return st->tid; }
int sgen_trace_stop_status(struct sgen_trace *st) { return st->status; }
int sgen_trace_failed_op(struct sgen_trace *st) { return st->failed_op; }

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
        const uint64_t *token = taught_token(&st->taught, (uint32_t)tid);
        if (!token)
            return SGEN_EV_STOP;
        if (ptrace(PTRACE_GET_SYSCALL_INFO, tid, sizeof *in, in) <= 0 || in->nr > INT32_MAX)
            return SGEN_EV_STOP; /* gone, or a number Python keys differently: its loop decides */
        struct sgen_call call;
        if (!taught_claim(&st->taught, *token, in->arch, (int32_t)in->nr, in->ip, &call))
            return SGEN_EV_STOP;
        int rc = taught_account(&st->taught, &call, in->args);
        if (rc < 0)
            st->failed_op = SGEN_OP_MEMORY;
        if (ptrace(PTRACE_CONT, tid, 0, 0) == -1 && errno != ESRCH) {
            st->failed_op = SGEN_OP_CONT;
            return -errno;
        }
        if (rc < 0)
            return rc;
        taught_passed(&st->taught);
    }
}
