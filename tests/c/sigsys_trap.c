/* Installs a SA_SIGINFO SIGSYS handler, then calls getppid. Under a filter that answers getppid
 * with SECCOMP_RET_TRAP the handler runs: it records si_syscall, si_arch and the rax register of
 * the interrupted call and sets the call's return value to -1000. Prints what it saw, so that a
 * tracer that emulates TRAP can be compared with the kernel doing it. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

static volatile int seen_nr = -1;
static volatile unsigned seen_arch;
static volatile long long seen_rax = -1;

static void on_sigsys(int sig, siginfo_t *info, void *ctx)
{
    ucontext_t *uc = ctx;
    (void)sig;
    seen_nr = info->si_syscall;
    seen_arch = info->si_arch;
    seen_rax = uc->uc_mcontext.gregs[REG_RAX];
    uc->uc_mcontext.gregs[REG_RAX] = -1000;
}

int main(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sigsys;
    sa.sa_flags = SA_SIGINFO;
    if (sigaction(SIGSYS, &sa, NULL) != 0)
        return 2;
    long ret = syscall(SYS_getppid);
    printf("ret=%ld trapped_nr=%d arch=%#x rax=%lld\n", ret, seen_nr, seen_arch, seen_rax);
    return 0;
}
