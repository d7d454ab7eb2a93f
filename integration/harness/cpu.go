package harness

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat times: 100 on every
// Linux architecture Go supports.
const clockTicks = 100

// ProcCPU returns the CPU time (user + system) a process has used so far,
// from /proc/<pid>/stat. It is the figure the benchmark divides by requests:
// load on a shared machine disturbs it far less than throughput.
func ProcCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces: fields are counted from
	// the closing parenthesis.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: bad times", pid)
	}
	return time.Duration(ut+st) * time.Second / clockTicks, nil
}

// Pin binds every thread of process pid (and so the threads it starts
// later) to the given CPU list ("0", "1-3") with taskset, when taskset
// exists. It reports whether the process was pinned.
func Pin(pid int, cpus string) bool {
	path, err := exec.LookPath("taskset")
	if err != nil {
		return false
	}
	return exec.Command(path, "-a", "-cp", cpus, strconv.Itoa(pid)).Run() == nil
}
