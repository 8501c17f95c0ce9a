# seccomp-gen profile: args=strict default=errno 1 baseline=runc arches=observed
# host x86_64, kernel 6.18.44-fc-v1045, libseccomp 2.5.4, backend ptrace, pinned to cpu 1
# recorded: sh -c 'grep -v "^#" /etc/services | sort | uniq -c | sort -rn | head -n 3'
# note: x86, x32 not used by the traces: calls of those ABIs are killed (--arches family lists them)
# widened: firejail cannot check arguments: allowed with any arguments: arch_prctl clone mmap mprotect prctl
seccomp.keep access,arch_prctl,brk,capget,capset,chdir,clone,clone3:ENOSYS,close,dup2,epoll_ctl,execve,exit_group,faccessat2,fadvise64,fcntl,fstat,fstatfs,futex,getcwd,getdents64,getegid,geteuid,getgid,getpid,getppid,getrandom,gettid,getuid,lseek,mmap,mprotect,munmap,newfstatat,openat,pipe2,prctl,pread64,prlimit64,read,rseq,rt_sigaction,rt_sigreturn,sched_getaffinity,sched_yield,set_robust_list,set_tid_address,setgid,setgroups,setuid,sigaltstack,sysinfo,tgkill,wait4,write
seccomp.block-secondary
seccomp-error-action EPERM
