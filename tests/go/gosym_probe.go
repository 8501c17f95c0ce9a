// A Go program for the pclntab tests: it writes through os.(*File).Write (the syscall layers
// of the standard library) and makes one raw syscall, so its sites are in Go's runtime and
// syscall packages and their callers in main and os.
package main

import (
	"os"
	"syscall"
)

//go:noinline
func probeWrite() {
	os.Stdout.Write([]byte("gosym probe\n"))
}

//go:noinline
func probeGetpid() uintptr {
	pid, _, _ := syscall.Syscall(syscall.SYS_GETPID, 0, 0, 0)
	return pid
}

func main() {
	probeWrite()
	if probeGetpid() == 0 {
		os.Exit(2)
	}
}
