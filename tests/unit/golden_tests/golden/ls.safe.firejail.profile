# seccomp-gen profile: args=safe default=errno 1 baseline=none arches=observed
# host x86_64, kernel 6.18.44-fc-v1045, libseccomp 2.5.4, backend ptrace, pinned to cpu 1
# recorded: ls -la /
# note: x86, x32 not used by the traces: calls of those ABIs are killed (--arches family lists them)
seccomp.keep access,arch_prctl,brk,clone3:ENOSYS,close,connect,execve,exit_group,futex,getdents64,getrandom,getxattr,ioctl,lgetxattr,lseek,mmap,mprotect,munmap,newfstatat,openat,pread64,prlimit64,read,readlink,rseq,set_robust_list,set_tid_address,socket,statfs,statx,write
seccomp.block-secondary
seccomp-error-action EPERM
protocol unix
