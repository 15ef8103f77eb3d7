package main

import (
	"fmt"
	"os"
	"path/filepath"
)

// cmdDown stops exactly the recorded processes (never anything found by
// name) and removes the runtime data. With purge it also removes the
// certificates, logs and, if then empty, the state dir itself.
func cmdDown(o *options, purge bool) error {
	if !isDir(o.stateDir) {
		fmt.Println("testbed is not running")
		return nil
	}
	unlock, err := lockState(o)
	if err != nil {
		return err
	}
	defer unlock()
	st, err := loadState(o)
	if err != nil {
		return err
	}
	if st == nil {
		fmt.Println("testbed is not running")
	} else {
		if err := teardown(o, st); err != nil {
			return err
		}
		fmt.Println("testbed is down")
	}
	if purge {
		return purgeStateDir(o)
	}
	return nil
}

// purgeStateDir removes only what testbed writes there, so a mistyped
// --state-dir cannot wipe someone's directory.
func purgeStateDir(o *options) error {
	for _, p := range []string{o.pkiDir(), o.logDir(), o.statePath(), o.mergedKubeconfig(), o.path(".lock")} {
		if err := os.RemoveAll(p); err != nil {
			return err
		}
	}
	// Per-cluster kubeconfigs of any member count.
	matches, _ := filepath.Glob(o.path("*.kubeconfig"))
	for _, m := range matches {
		os.Remove(m)
	}
	os.RemoveAll(dataDir(o.stateDir))
	if err := os.Remove(o.stateDir); err != nil {
		fmt.Fprintf(os.Stderr, "testbed: kept %s: it holds files testbed did not write\n", o.stateDir)
	}
	return nil
}
