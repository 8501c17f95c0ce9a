# seccomp-gen profile: args=safe default=errno 1 baseline=none arches=observed
# host x86_64, kernel 6.18.44-fc-v1045, libseccomp 2.5.4, backend ptrace, pinned to cpu 1
# recorded: /usr/bin/python3 sample_traces/src/wordcount.py /etc/services
# note: x86, x32 not used by the traces: calls of those ABIs are killed (--arches family lists them)
seccomp.keep access,arch_prctl,brk,clone3:ENOSYS,close,execve,exit_group,fcntl,futex,getcwd,getdents64,getegid,geteuid,getgid,getpid,getrandom,gettid,getuid,ioctl,lseek,mmap,mprotect,munmap,newfstatat,openat,pread64,prlimit64,read,readlink,rseq,rt_sigaction,set_robust_list,set_tid_address,sysinfo,unlink,write
seccomp.block-secondary
seccomp-error-action EPERM
