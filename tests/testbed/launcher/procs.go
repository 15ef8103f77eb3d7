package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// proc is one recorded server process.
type proc struct {
	Component string   `json:"component"` // etcd, kube-apiserver, kube-controller-manager
	Cluster   string   `json:"cluster,omitempty"`
	Pid       int      `json:"pid"`
	Cmdline   []string `json:"cmdline"`
	Port      int      `json:"port,omitempty"`
	Log       string   `json:"log"`
	Stopped   bool     `json:"stopped,omitempty"` // by `testbed stop`
}

func (p *proc) String() string {
	if p.Cluster == "" {
		return p.Component
	}
	return p.Component + " of " + p.Cluster
}

// child is a process started by this invocation; done closes when it exits.
type child struct {
	proc *proc
	done chan struct{}
	err  error
}

// start runs p.Cmdline in its own session, so it outlives this command and
// is not hit by a Ctrl-C in the terminal, with output appended to p.Log.
func start(p *proc) (*child, error) {
	logf, err := os.OpenFile(p.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child has its own copy
	fmt.Fprintf(logf, "=== testbed: starting %s at %s\n", p, time.Now().Format(time.RFC3339))

	cmd := exec.Command(p.Cmdline[0], p.Cmdline[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", p, err)
	}
	p.Pid, p.Stopped = cmd.Process.Pid, false
	c := &child{proc: p, done: make(chan struct{})}
	go func() { c.err = cmd.Wait(); close(c.done) }()
	return c, nil
}

// running reports whether p's pid is alive and still runs the command line we
// recorded: a pid reused by an unrelated process must never be signalled.
// A zombie has an empty cmdline, so it counts as dead.
func running(p *proc) bool {
	if p.Pid <= 0 {
		return false
	}
	data, err := os.ReadFile("/proc/" + strconv.Itoa(p.Pid) + "/cmdline")
	if err != nil {
		return false
	}
	args := strings.Split(string(bytes.TrimSuffix(data, []byte{0})), "\x00")
	return slices.Equal(args, p.Cmdline)
}

// stop sends SIGTERM, waits up to 15 s for a clean exit, then SIGKILLs.
func stop(p *proc) error {
	if !running(p) {
		return nil
	}
	if err := syscall.Kill(p.Pid, syscall.SIGTERM); err != nil {
		return fmt.Errorf("stopping %s (pid %d): %w", p, p.Pid, err)
	}
	if waitGone(p, 15*time.Second) {
		return nil
	}
	fmt.Fprintf(os.Stderr, "testbed: %s (pid %d) ignored SIGTERM for 15s, killing it\n", p, p.Pid)
	if err := syscall.Kill(p.Pid, syscall.SIGKILL); err != nil {
		return fmt.Errorf("killing %s (pid %d): %w", p, p.Pid, err)
	}
	if !waitGone(p, 5*time.Second) {
		return fmt.Errorf("%s (pid %d) is still running after SIGKILL", p, p.Pid)
	}
	return nil
}

func waitGone(p *proc, timeout time.Duration) bool {
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if !running(p) {
			return true
		}
	}
	return !running(p)
}

// stopAll stops processes in reverse start order (controllers, apiservers,
// then etcd) and returns the first error.
func stopAll(procs []*proc) error {
	var first error
	for _, p := range slices.Backward(procs) {
		if err := stop(p); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// tail returns the last n lines of a log file, for error messages.
func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
