# seccomp-gen profile: args=strict default=errno 1 baseline=runc arches=observed
# host x86_64, kernel 6.18.44-fc-v657, libseccomp 2.5.4, backend ptrace, pinned to cpu 1
# recorded: /tmp/hello32
# note: x32 not used by the traces: calls of that ABI are killed (--arches family lists them)
# widened: firejail cannot check arguments: allowed with any arguments: mprotect prctl
seccomp.keep capget,capset,chdir,clone3:ENOSYS,close,epoll_ctl,execve,faccessat2,fcntl,fstat,fstatfs,futex,getcwd,getdents64,getpid,getppid,newfstatat,openat,prctl,read,rt_sigreturn,sched_yield,setgid,setgroups,setuid,tgkill,write
seccomp.32.keep brk,clone3:ENOSYS,close,exit_group,getpid,getrandom,mprotect,openat,read,readlink,rseq,set_robust_list,set_thread_area,set_tid_address,ugetrlimit,write
seccomp-error-action EPERM
