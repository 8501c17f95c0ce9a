/* seccomp-gen's SIGSYS handler for seccomp_gen.sandbox(): native code, async-signal-safe.
 *
 * The filter sends every syscall the profile does not allow to SECCOMP_RET_TRAP. The kernel then
 * skips the call and raises SIGSYS in the calling thread, with si_syscall, si_arch and
 * si_call_addr in the siginfo and the caller's registers in the ucontext. This handler:
 *
 *   1. copies the call (arch, number, 6 argument registers, pid, tid) into a fixed-size record
 *      on its own stack;
 *   2. sets the return register to -errno, so the denied call returns -1 with that errno in the
 *      libc wrapper instead of killing the process;
 *   3. write(2)s the record to a non-blocking pipe in one call (80 bytes < PIPE_BUF, so records
 *      from several threads never interleave; when the pipe is full the record is counted as
 *      dropped, never blocked on);
 *   4. asks CPython to run the Python-level SIGSYS handler at its next bytecode boundary by
 *      calling PyErr_SetInterruptEx(SIGSYS) through a function pointer, a call CPython documents
 *      as async-signal-safe. That Python handler drains the pipe and reports.
 *
 * Nothing here allocates, locks, or calls stdio. The only syscalls made are getpid, gettid,
 * write and (on return) rt_sigreturn; sandbox() adds exactly those to the filter.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#if !defined(__x86_64__)
#error "the seccomp-gen SIGSYS handler reads x86_64 registers; other arches are not supported yet"
#endif

#define SGEN_MAGIC 0x314e4753u        /* "SGN1" */
#define SGEN_AUDIT_ARCH_I386 0x40000003u
#ifndef SYS_SECCOMP
#define SYS_SECCOMP 1
#endif

/* Must match seccomp_gen/_native/sigsys_handler.py RECORD (struct "=IIiiiiQ6Q", 80 bytes). */
struct sgen_record {
    uint32_t magic;
    uint32_t arch;      /* AUDIT_ARCH_* of the calling ABI (si_arch) */
    int32_t nr;         /* syscall number as the kernel saw it (x32 calls carry bit 30) */
    int32_t pid;
    int32_t tid;
    int32_t err;        /* the errno the call was made to fail with */
    uint64_t ip;        /* si_call_addr: the address after the syscall instruction */
    uint64_t args[6];
};

typedef int (*sgen_notify_fn)(int);

static volatile int sgen_fd = -1;
static volatile int sgen_errno = 1;
static sgen_notify_fn volatile sgen_notify = 0;
static struct sigaction sgen_old;
static volatile int sgen_have_old = 0;
static unsigned long sgen_trapped = 0;
static unsigned long sgen_dropped = 0;
static unsigned long sgen_foreign = 0;

static void sgen_handler(int sig, siginfo_t *info, void *vctx)
{
    int saved_errno = errno;
    ucontext_t *uc = (ucontext_t *)vctx;
    greg_t *g = uc->uc_mcontext.gregs;
    struct sgen_record r = {0};
    (void)sig;

    if (info->si_code != SYS_SECCOMP) {
        /* Someone sent SIGSYS with kill(); there is no syscall to fail. */
        __atomic_add_fetch(&sgen_foreign, 1, __ATOMIC_RELAXED);
        errno = saved_errno;
        return;
    }
    r.magic = SGEN_MAGIC;
    r.arch = (uint32_t)info->si_arch;
    r.nr = info->si_syscall;
    r.ip = (uint64_t)(uintptr_t)info->si_call_addr;
    if (r.arch == SGEN_AUDIT_ARCH_I386) {
        /* int $0x80 from a 64-bit process: i386 argument order, 32-bit registers. */
        r.args[0] = (uint32_t)g[REG_RBX];
        r.args[1] = (uint32_t)g[REG_RCX];
        r.args[2] = (uint32_t)g[REG_RDX];
        r.args[3] = (uint32_t)g[REG_RSI];
        r.args[4] = (uint32_t)g[REG_RDI];
        r.args[5] = (uint32_t)g[REG_RBP];
    } else {
        /* x86_64 and x32: the syscall instruction's registers. */
        r.args[0] = (uint64_t)g[REG_RDI];
        r.args[1] = (uint64_t)g[REG_RSI];
        r.args[2] = (uint64_t)g[REG_RDX];
        r.args[3] = (uint64_t)g[REG_R10];
        r.args[4] = (uint64_t)g[REG_R8];
        r.args[5] = (uint64_t)g[REG_R9];
    }
    r.pid = (int32_t)getpid();
    r.tid = (int32_t)syscall(SYS_gettid);
    r.err = sgen_errno;

    /* The kernel skipped the call; what is in RAX on return is its result. */
    g[REG_RAX] = -(greg_t)sgen_errno;

    __atomic_add_fetch(&sgen_trapped, 1, __ATOMIC_RELAXED);
    if (write(sgen_fd, &r, sizeof r) != (ssize_t)sizeof r)
        __atomic_add_fetch(&sgen_dropped, 1, __ATOMIC_RELAXED);
    if (sgen_notify)
        sgen_notify(SIGSYS);
    errno = saved_errno;
}

/* Install the handler for SIGSYS. Returns 0 or -errno. Called once, before the filter loads. */
int sgen_install(int fd, int err, void *notify)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sgen_fd = fd;
    sgen_errno = err;
    sgen_notify = (sgen_notify_fn)notify;
    sa.sa_sigaction = sgen_handler;
    sa.sa_flags = SA_SIGINFO;
    /* Block every other signal while the handler runs, so no other handler can interleave. */
    sigfillset(&sa.sa_mask);
    if (sigaction(SIGSYS, &sa, &sgen_old) != 0)
        return -errno;
    sgen_have_old = 1;
    return 0;
}

/* Replace the notify function; NULL stops notifying CPython (used once the interpreter is
 * finalizing and can no longer run the Python-level handler). Records are still written. */
void sgen_set_notify(void *notify)
{
    sgen_notify = (sgen_notify_fn)notify;
}

/* Put back the action that was there before sgen_install (used when the filter fails to load). */
int sgen_restore(void)
{
    if (!sgen_have_old)
        return 0;
    if (sigaction(SIGSYS, &sgen_old, 0) != 0)
        return -errno;
    sgen_have_old = 0;
    return 0;
}

/* 1 if our handler is still the SIGSYS action, 0 if someone replaced it, -errno on failure. */
int sgen_installed(void)
{
    struct sigaction cur;
    if (sigaction(SIGSYS, 0, &cur) != 0)
        return -errno;
    return (cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == sgen_handler;
}

unsigned long sgen_trapped_count(void) { return __atomic_load_n(&sgen_trapped, __ATOMIC_RELAXED); }
unsigned long sgen_dropped_count(void) { return __atomic_load_n(&sgen_dropped, __ATOMIC_RELAXED); }
unsigned long sgen_foreign_count(void) { return __atomic_load_n(&sgen_foreign, __ATOMIC_RELAXED); }
int sgen_record_size(void) { return (int)sizeof(struct sgen_record); }
