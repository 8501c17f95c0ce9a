"""eBPF, assembled here: the bpf(2) calls (:mod:`.kernel`), a small assembler (:mod:`.asm`), the
kernel's BTF for field offsets (:mod:`.btf`), and the programs that count a process tree's
syscalls in the kernel (:mod:`.syscall_counter`), used by the ebpf recorder."""
