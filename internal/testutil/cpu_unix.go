//go:build unix

package testutil

import (
	"syscall"
	"time"
)

// CPUTime is the process's user + system CPU time so far (getrusage): a
// benchmark's CPU per operation varies far less than its wall time on a
// shared machine, and it counts the work of helper goroutines (the audit
// journal's syncer) that ns/op only shows as waiting.
func CPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
