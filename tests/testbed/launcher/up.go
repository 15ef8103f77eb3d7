package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// Start timeouts are generous: on a loaded 2-core machine a cold
// kube-apiserver start takes tens of seconds.
const (
	etcdTimeout      = 60 * time.Second
	apiserverTimeout = 120 * time.Second
	kcmTimeout       = 120 * time.Second
)

func cmdUp(o *options, members int, membersSet bool) error {
	bins, err := findBinaries(o.binDir)
	if err != nil {
		return err
	}
	unlock, err := lockState(o)
	if err != nil {
		return err
	}
	defer unlock()
	// Our servers run in their own sessions, so a Ctrl-C reaches only us;
	// we then stop what we started.
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()

	old, err := loadState(o)
	if err != nil {
		return err
	}
	if old != nil {
		if membersSet && members != old.Members {
			return fmt.Errorf("the testbed in %s is already up with %d members; run `testbed down` first to change that", o.stateDir, old.Members)
		}
		if old.BasePort != o.basePort {
			return fmt.Errorf("the testbed in %s is already up on base port %d, not %d; run `testbed down` first", o.stateDir, old.BasePort, o.basePort)
		}
		problem, err := whyNotUp(o, old)
		if err != nil {
			return err
		}
		if problem == "" {
			return alreadyUp(ctx, o, old)
		}
		fmt.Fprintf(os.Stderr, "testbed: the testbed in %s is stale (%s); stopping what is left of it and starting afresh\n", o.stateDir, problem)
		if err := teardown(o, old); err != nil {
			return err
		}
		members = old.Members // same shape as before, unless asked otherwise
	}
	return freshUp(ctx, o, bins, members)
}

// whyNotUp returns "" when every recorded process that should run is ours
// and alive and every server answers its health check.
func whyNotUp(o *options, st *state) (string, error) {
	for _, p := range st.Procs {
		if !p.Stopped && !running(p) {
			return fmt.Sprintf("%s, pid %d, is not running", p, p.Pid), nil
		}
	}
	chk, err := newChecker(o)
	if err != nil {
		return "", err
	}
	if err := chk.etcdHealth(st); err != nil {
		return "etcd is not healthy: " + err.Error(), nil
	}
	for _, p := range st.Procs {
		if p.Component == "kube-apiserver" && !p.Stopped {
			if err := chk.readyz(st, p.Cluster); err != nil {
				return fmt.Sprintf("%s is not ready: %v", p, err), nil
			}
		}
	}
	return "", nil
}

func alreadyUp(ctx context.Context, o *options, st *state) error {
	// An apiserver stopped with `testbed stop` is part of a healthy
	// testbed; `up` brings it back, as its name promises.
	for _, p := range st.Procs {
		if p.Stopped {
			if err := startAPIServer(ctx, o, st, p); err != nil {
				return err
			}
		}
	}
	fmt.Println("testbed already up")
	printExport(o)
	return nil
}

func freshUp(ctx context.Context, o *options, bins binaries, members int) (err error) {
	st := newState(o, members)
	names := clusterNames(members)

	// Check every port before starting anything.
	ports := []portUser{
		{st.etcdClientPort(), "etcd (client)"},
		{st.etcdPeerPort(), "etcd (peer)"},
	}
	for _, n := range names {
		ports = append(ports, portUser{st.apiserverPort(n), "kube-apiserver of " + n})
	}
	for _, pu := range ports {
		if err := checkPortFree(pu); err != nil {
			return err
		}
	}

	if err := ensurePKI(o.pkiDir()); err != nil {
		return fmt.Errorf("creating certificates: %w", err)
	}
	chk, err := newChecker(o)
	if err != nil {
		return err
	}
	// Logs and etcd data of an earlier run are of no use to this one.
	for _, dir := range []string{o.logDir(), st.DataDir} {
		if err := os.RemoveAll(dir); err != nil {
			return err
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
	}
	if err := writeKubeconfigs(o, st); err != nil {
		return err
	}

	// On failure, say why first, then stop whatever this up started.
	defer func() {
		if err == nil {
			return
		}
		fmt.Fprintln(os.Stderr, "testbed: "+err.Error())
		fmt.Fprintln(os.Stderr, "testbed: up failed; stopping what it started")
		if terr := teardown(o, st); terr != nil {
			fmt.Fprintln(os.Stderr, "testbed: "+terr.Error())
		}
		err = errQuiet
	}()

	// launch starts p, records it at once (so a killed `up` leaves nothing
	// unrecorded), and waits for check if one is given.
	launch := func(p *proc, what string, timeout time.Duration, check func() error) (*child, error) {
		began := time.Now()
		c, err := start(p)
		if err != nil {
			return nil, err
		}
		st.Procs = append(st.Procs, p)
		if err := st.save(o); err != nil {
			return nil, err
		}
		if check == nil {
			return c, nil
		}
		if err := waitFor(ctx, c, what, timeout, check); err != nil {
			return nil, err
		}
		fmt.Fprintf(os.Stderr, "testbed: %s ready in %.1fs\n", p, time.Since(began).Seconds())
		return c, nil
	}

	if _, err := launch(etcdProc(o, bins, st), "/health", etcdTimeout, func() error { return chk.etcdHealth(st) }); err != nil {
		return err
	}
	// One cluster at a time: each apiserver start saturates a core for a
	// while, and starting them together makes all of them slow.
	var kcms []*child
	for _, n := range names {
		if _, err := launch(apiserverProc(o, bins, st, n), "/readyz", apiserverTimeout, func() error { return chk.readyz(st, n) }); err != nil {
			return err
		}
		c, err := launch(controllerManagerProc(o, bins, n), "", 0, nil)
		if err != nil {
			return err
		}
		kcms = append(kcms, c)
	}
	for _, c := range kcms {
		n := c.proc.Cluster
		if err := waitFor(ctx, c, "the default ServiceAccount", kcmTimeout, func() error { return chk.defaultServiceAccount(st, n) }); err != nil {
			return err
		}
	}
	for _, p := range st.Procs {
		if !running(p) {
			return fmt.Errorf("%s exited during start; last lines of %s:\n%s", p, p.Log, tail(p.Log, 20))
		}
	}
	printExport(o)
	return nil
}

// teardown stops a testbed's processes and removes its runtime data; the
// certificates and logs stay.
func teardown(o *options, st *state) error {
	if err := stopAll(st.Procs); err != nil {
		return err
	}
	if err := os.RemoveAll(st.DataDir); err != nil {
		return err
	}
	removeKubeconfigs(o, st.Members)
	if err := os.Remove(o.statePath()); err != nil && !os.IsNotExist(err) {
		return err
	}
	return nil
}
