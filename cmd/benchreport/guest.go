package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// guest is a TamaGo boot driven one command at a time: each command is
// sent after the previous one's result line.
type guest struct {
	cmd   *exec.Cmd
	in    io.WriteCloser
	lines chan string
	log   *os.File
	// banner is the boot's "tamaswap: " lines, up to the runtime's.
	banner []string
}

// startGuest boots the TamaGo image on transport tr with the given
// qemu/run arguments, logging to logDir/TR-NAME.log, and waits for the
// shell.
func startGuest(c *modeConfig, tr, name string, extra []string) (*guest, error) {
	args := []string{"--runtime", "tamago", "--arch", c.arch, "--qemu", c.qemu, "--mem", "512M", "--timeout", strconv.Itoa(c.timeout)}
	if tr == "pci" {
		args = append(args, "--machine", "pci")
	}
	args = append(args, extra...)
	if err := os.MkdirAll(c.logDir, 0o755); err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(c.logDir, fmt.Sprintf("%s-%s.log", tr, name)))
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(logf, "$ qemu/run %s\n", strings.Join(args, " "))
	g := &guest{cmd: exec.Command(filepath.Join(c.root, "qemu", "run"), args...), log: logf, lines: make(chan string, 64)}
	g.cmd.Dir = c.root
	g.cmd.Stderr = logf
	if g.in, err = g.cmd.StdinPipe(); err != nil {
		logf.Close()
		return nil, err
	}
	out, err := g.cmd.StdoutPipe()
	if err != nil {
		logf.Close()
		return nil, err
	}
	if err := g.cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			fmt.Fprintln(logf, sc.Text())
			g.lines <- sc.Text()
		}
		close(g.lines)
	}()
	for {
		l, err := g.await("tamaswap: ")
		if err != nil {
			g.stop()
			return nil, err
		}
		g.banner = append(g.banner, l)
		if strings.HasPrefix(l, "tamaswap: runtime=") {
			return g, nil
		}
	}
}

// guestWait bounds the wait for one result line.
const guestWait = 10 * time.Minute

// await returns the next line that starts with prefix (not a progress
// line); an error line or a FAIL is an error.
func (g *guest) await(prefix string) (string, error) {
	timeout := time.After(guestWait)
	for {
		select {
		case l, ok := <-g.lines:
			if !ok {
				return "", fmt.Errorf("guest stopped before %q (log %s)", prefix, g.log.Name())
			}
			if !strings.HasPrefix(l, prefix) || strings.Contains(l, ": progress ") {
				continue
			}
			if strings.Contains(l, ": error:") || strings.Contains(l, ": FAIL") {
				return l, fmt.Errorf("%s (log %s)", l, g.log.Name())
			}
			return l, nil
		case <-timeout:
			return "", fmt.Errorf("no %q in %v (log %s)", prefix, guestWait, g.log.Name())
		}
	}
}

// send sends one command and returns its result line.
func (g *guest) send(cmd, prefix string) (string, error) {
	fmt.Fprintln(g.log, "> "+cmd)
	if _, err := fmt.Fprintln(g.in, cmd); err != nil {
		return "", err
	}
	return g.await(prefix)
}

// sendAll sends one command and returns its first n result lines.
func (g *guest) sendAll(cmd, prefix string, n int) ([]string, error) {
	l, err := g.send(cmd, prefix)
	if err != nil {
		return nil, err
	}
	out := []string{l}
	for len(out) < n {
		if l, err = g.await(prefix); err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, nil
}

// benchCPU runs one bench command and returns its line's figures and
// the QEMU process's (pid) host CPU seconds per 1000 of its requests,
// read around the command (clk: clockTicks).
func (g *guest) benchCPU(cmd string, pid int, clk float64) (map[string]float64, float64, error) {
	cpu0, err := cpuSeconds(pid, clk)
	if err != nil {
		return nil, 0, err
	}
	l, err := g.send(cmd, "bench:")
	if err != nil {
		return nil, 0, err
	}
	cpu1, err := cpuSeconds(pid, clk)
	if err != nil {
		return nil, 0, err
	}
	f := keyValues(l)
	if f["ops"] <= 0 {
		return nil, 0, fmt.Errorf("%s: no ops= in %q", cmd, l)
	}
	return f, (cpu1 - cpu0) / f["ops"] * 1000, nil
}

// setMode selects m on the current disk.
func (g *guest) setMode(m mode) error {
	for _, c := range m.cmds {
		name, _, _ := strings.Cut(c, " ")
		if _, err := g.send(c, name+":"); err != nil {
			return err
		}
	}
	return nil
}

// exit powers the guest off and waits for it.
func (g *guest) exit() error {
	fmt.Fprintln(g.in, "exit 0")
	g.in.Close()
	for range g.lines {
	}
	err := g.cmd.Wait()
	g.log.Close()
	if err != nil {
		return fmt.Errorf("qemu/run: %v (log %s)", err, g.log.Name())
	}
	return nil
}

// stop ends a guest that exit did not: it kills the QEMU process
// qemu/run started (which would outlive it: a console at end of input
// does not stop QEMU), then qemu/run.
func (g *guest) stop() {
	if g.cmd.ProcessState != nil {
		return
	}
	g.in.Close()
	if pid, err := qemuPID(g.cmd.Process.Pid); err == nil {
		if p, err := os.FindProcess(pid); err == nil {
			p.Kill()
		}
	}
	g.cmd.Process.Kill()
	go func() {
		for range g.lines {
		}
	}()
	g.cmd.Wait()
	g.log.Close()
}
