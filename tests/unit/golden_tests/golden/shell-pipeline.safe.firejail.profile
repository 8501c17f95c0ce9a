# seccomp-gen profile: args=safe default=errno 1 baseline=none arches=observed
# host x86_64, kernel 6.18.44-fc-v1045, libseccomp 2.5.4, backend ptrace, pinned to cpu 1
# recorded: sh -c 'grep -v "^#" /etc/services | sort | uniq -c | sort -rn | head -n 3'
# note: x86, x32 not used by the traces: calls of those ABIs are killed (--arches family lists them)
# widened: firejail cannot check arguments: allowed with any arguments: clone
seccomp.keep access,arch_prctl,brk,clone,clone3:ENOSYS,close,dup2,execve,exit_group,fadvise64,futex,getegid,geteuid,getgid,getpid,getppid,getrandom,gettid,getuid,lseek,mmap,mprotect,munmap,newfstatat,openat,pipe2,pread64,prlimit64,read,rseq,rt_sigaction,rt_sigreturn,sched_getaffinity,set_robust_list,set_tid_address,sigaltstack,sysinfo,tgkill,wait4,write
seccomp.block-secondary
seccomp-error-action EPERM
