package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"
)

// cmdStop stops one cluster's kube-apiserver and records it as stopped. Its
// objects stay in etcd and its controller-manager keeps retrying, as it
// would against a real control plane that went away.
func cmdStop(o *options, cluster string) error {
	unlock, st, p, err := lockedAPIServer(o, cluster)
	if err != nil {
		return err
	}
	defer unlock()
	if p.Stopped {
		fmt.Printf("%s is already stopped\n", p)
		return nil
	}
	if err := stop(p); err != nil {
		return err
	}
	p.Pid, p.Stopped = 0, true
	if err := st.save(o); err != nil {
		return err
	}
	fmt.Printf("stopped %s\n", p)
	return nil
}

// cmdStart starts a stopped (or crashed) kube-apiserver again with the same
// command line, so on the same port and etcd prefix.
func cmdStart(o *options, cluster string) error {
	unlock, st, p, err := lockedAPIServer(o, cluster)
	if err != nil {
		return err
	}
	defer unlock()
	if running(p) {
		fmt.Printf("%s is already running\n", p)
		return nil
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	return startAPIServer(ctx, o, st, p)
}

// lockedAPIServer locks the state dir and finds the apiserver of cluster.
func lockedAPIServer(o *options, cluster string) (func(), *state, *proc, error) {
	if !isDir(o.stateDir) {
		return nil, nil, nil, fmt.Errorf("no testbed is running in %s", o.stateDir)
	}
	unlock, err := lockState(o)
	if err != nil {
		return nil, nil, nil, err
	}
	st, err := loadState(o)
	if err == nil && st == nil {
		err = fmt.Errorf("no testbed is running in %s", o.stateDir)
	}
	if err != nil {
		unlock()
		return nil, nil, nil, err
	}
	names := clusterNames(st.Members)
	p := st.find("kube-apiserver", cluster)
	if !slices.Contains(names, cluster) || p == nil {
		unlock()
		return nil, nil, nil, fmt.Errorf("unknown cluster %q (clusters: %s)", cluster, strings.Join(names, ", "))
	}
	return unlock, st, p, nil
}

// startAPIServer restarts a recorded apiserver and waits for /readyz. If it
// does not come up it is stopped again, so nothing half-started is left.
func startAPIServer(ctx context.Context, o *options, st *state, p *proc) error {
	if err := checkPortFree(portUser{p.Port, p.String()}); err != nil {
		return err
	}
	chk, err := newChecker(o)
	if err != nil {
		return err
	}
	began := time.Now()
	c, err := start(p)
	if err != nil {
		return err
	}
	if err := st.save(o); err != nil {
		return err
	}
	if err := waitFor(ctx, c, "/readyz", apiserverTimeout, func() error { return chk.readyz(st, p.Cluster) }); err != nil {
		stop(p)
		p.Pid, p.Stopped = 0, true
		st.save(o)
		return err
	}
	fmt.Fprintf(os.Stderr, "testbed: %s ready in %.1fs\n", p, time.Since(began).Seconds())
	return nil
}
