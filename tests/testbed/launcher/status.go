package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
)

// cmdStatus prints one row per recorded process. It exits 1 unless every
// process that should run is alive and healthy; apiservers stopped with
// `testbed stop` are shown as such and are not an error.
func cmdStatus(o *options) error {
	st, err := loadState(o)
	if err != nil {
		return err
	}
	if st == nil {
		fmt.Println("testbed is not running")
		return errQuiet
	}
	chk, err := newChecker(o)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "COMPONENT\tCLUSTER\tPID\tALIVE\tENDPOINT\tHEALTH")
	allWell := true
	for _, p := range st.Procs {
		alive := running(p)
		pid, aliveText, endpoint, health := strconv.Itoa(p.Pid), "yes", "-", "-"
		switch p.Component {
		case "etcd":
			endpoint = st.etcdURL()
			health = probe(alive, func() error { return chk.etcdHealth(st) })
		case "kube-apiserver":
			endpoint = st.apiserverURL(p.Cluster)
			health = probe(alive, func() error { return chk.readyz(st, p.Cluster) })
		}
		switch {
		case p.Stopped:
			pid, aliveText, health = "-", "stopped", "stopped"
		case !alive:
			aliveText, allWell = "NO", false
		case health != "-" && health != "ok":
			allWell = false
		}
		cluster := p.Cluster
		if cluster == "" {
			cluster = "-"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", p.Component, cluster, pid, aliveText, endpoint, health)
	}
	w.Flush()
	if !allWell {
		return errQuiet
	}
	return nil
}

// probe runs a health check only for a live process.
func probe(alive bool, check func() error) string {
	if !alive {
		return "down"
	}
	if err := check(); err != nil {
		return "FAIL: " + err.Error()
	}
	return "ok"
}

func cmdEnv(o *options) error {
	if !isFile(o.mergedKubeconfig()) {
		return fmt.Errorf("no testbed is running (no %s); run `testbed up`", o.mergedKubeconfig())
	}
	printExport(o)
	return nil
}

// printExport prints the line to eval; it is always the last line of stdout.
func printExport(o *options) {
	fmt.Println("export KUBECONFIG=" + shellQuote(o.mergedKubeconfig()))
}

func shellQuote(s string) string {
	if strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-+=:,@") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
