// Command testbed runs a local Kubernetes federation testbed as plain
// processes on 127.0.0.1: one shared etcd, and a kube-apiserver plus a
// kube-controller-manager for a "host" cluster and N member clusters.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
)

const usage = `usage: testbed [global options] COMMAND [options]

commands:
  up [--members N]   start etcd, the host cluster and N member clusters (N 1..5, default 2)
  down [--purge]     stop everything; --purge also removes the certificates and the state dir
  status             show every process and its health (exit 1 if something is wrong)
  stop CLUSTER       stop one cluster's kube-apiserver (its data stays in etcd)
  start CLUSTER      start a stopped cluster's kube-apiserver again
  env                print the "export KUBECONFIG=..." line

global options:
  --state-dir DIR    state directory (env KFED_TESTBED_DIR; default <repo root>/.testbed)
  --base-port PORT   first port used (env KFED_TESTBED_BASE_PORT; default 16440)
  --bin-dir DIR      directory holding kube and etcd (default: next to this executable)
`

// errQuiet makes main exit 1 without printing anything more: the command has
// already said what is wrong.
var errQuiet = errors.New("")

func main() {
	err := run(os.Args[1:])
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
		fmt.Print(usage)
	case errors.Is(err, errQuiet):
		os.Exit(1)
	default:
		fmt.Fprintln(os.Stderr, "testbed: "+err.Error())
		os.Exit(1)
	}
}

func run(args []string) error {
	var o options
	var members int
	var purge bool
	fs := flag.NewFlagSet("testbed", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // we print our own one-line errors
	fs.StringVar(&o.stateDir, "state-dir", "", "")
	fs.IntVar(&o.basePort, "base-port", 0, "")
	fs.StringVar(&o.binDir, "bin-dir", "", "")
	fs.IntVar(&members, "members", 2, "")
	fs.BoolVar(&purge, "purge", false, "")

	words, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(words) == 0 {
		return fmt.Errorf("no command given (try: testbed --help)")
	}
	cmd, rest := words[0], words[1:]
	if cmd == "help" {
		return flag.ErrHelp
	}

	// Arguments each command takes: stop and start name one cluster.
	nargs, known := map[string]int{"up": 0, "down": 0, "status": 0, "env": 0, "stop": 1, "start": 1}[cmd]
	switch {
	case !known:
		return fmt.Errorf("unknown command %q (commands: up, down, status, stop, start, env)", cmd)
	case nargs == 1 && len(rest) != 1:
		return fmt.Errorf("%s needs exactly one cluster name, e.g. testbed %s member1", cmd, cmd)
	case nargs == 0 && len(rest) > 0:
		return fmt.Errorf("%s takes no arguments, got %q", cmd, rest[0])
	}

	// Command-specific flags are only accepted by their command.
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if set["members"] && cmd != "up" {
		return fmt.Errorf("--members is only valid for up")
	}
	if set["purge"] && cmd != "down" {
		return fmt.Errorf("--purge is only valid for down")
	}
	if err := o.resolve(set["base-port"]); err != nil {
		return err
	}

	switch cmd {
	case "up":
		if members < 1 || members > maxMembers {
			return fmt.Errorf("--members must be between 1 and %d, got %d", maxMembers, members)
		}
		return cmdUp(&o, members, set["members"])
	case "down":
		return cmdDown(&o, purge)
	case "status":
		return cmdStatus(&o)
	case "stop":
		return cmdStop(&o, rest[0])
	case "start":
		return cmdStart(&o, rest[0])
	default:
		return cmdEnv(&o)
	}
}

// parseInterleaved lets flags appear before or after positional words, so
// both "testbed stop member1 --state-dir X" and "testbed --state-dir X stop
// member1" work; the flag package alone stops at the first positional word.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var words []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, fmt.Errorf("%v (try: testbed --help)", err)
		}
		if fs.NArg() == 0 {
			return words, nil
		}
		words = append(words, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// envInt reads an integer environment variable; ok is false when it is unset.
func envInt(name string) (n int, ok bool, err error) {
	v := os.Getenv(name)
	if v == "" {
		return 0, false, nil
	}
	n, err = strconv.Atoi(v)
	if err != nil {
		return 0, false, fmt.Errorf("%s=%q is not a number", name, v)
	}
	return n, true, nil
}
