package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
)

// Host-side figures of a guest boot: its result lines' key=value
// fields and the QEMU process's CPU time (modes.go).

// keyValues parses the key=value fields of a result line.
func keyValues(l string) map[string]float64 {
	m := map[string]float64{}
	for _, f := range strings.Fields(l) {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			continue
		}
		if x, err := strconv.ParseFloat(strings.TrimSuffix(v, ","), 64); err == nil {
			m[k] = x
		}
	}
	return m
}

// qemuPID finds the QEMU process qemu/run (pid) started: its child
// whose command starts with qemu-system.
func qemuPID(run int) (int, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		comm, ppid, err := procStat(pid)
		if err == nil && ppid == run && strings.HasPrefix(comm, "qemu-system") {
			return pid, nil
		}
	}
	return 0, fmt.Errorf("no qemu-system child of qemu/run (pid %d)", run)
}

// procStat returns the command and parent of pid (proc(5), /proc/PID/stat).
func procStat(pid int) (comm string, ppid int, err error) {
	fields, comm, err := statFields(pid)
	if err != nil {
		return "", 0, err
	}
	ppid, err = strconv.Atoi(fields[1])
	return comm, ppid, err
}

// statFields returns the fields of /proc/PID/stat after the command
// (field 3, state, is the first) and the command.
func statFields(pid int) ([]string, string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, "", err
	}
	s := string(b)
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return nil, "", fmt.Errorf("/proc/%d/stat: %q", pid, s)
	}
	fields := strings.Fields(s[end+1:])
	if len(fields) < 13 {
		return nil, "", fmt.Errorf("/proc/%d/stat: %d fields", pid, len(fields))
	}
	return fields, s[open+1 : end], nil
}

// cpuSeconds is pid's user and system CPU time (utime and stime, fields
// 14 and 15 of /proc/PID/stat, in clock ticks).
func cpuSeconds(pid int, clk float64) (float64, error) {
	fields, _, err := statFields(pid)
	if err != nil {
		return 0, err
	}
	u, err1 := strconv.ParseFloat(fields[11], 64)
	s, err2 := strconv.ParseFloat(fields[12], 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return (u + s) / clk, nil
}

// clockTicks is sysconf(_SC_CLK_TCK), the unit of /proc/PID/stat's times.
func clockTicks() (float64, error) {
	out, err := exec.Command("getconf", "CLK_TCK").Output()
	if err != nil {
		return 0, fmt.Errorf("getconf CLK_TCK: %w", err)
	}
	return strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
}
