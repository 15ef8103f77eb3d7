package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// state is what <state>/state.json records about a running testbed: enough
// to check it, stop exactly its processes, and restart a stopped apiserver.
type state struct {
	Members  int            `json:"members"`
	BasePort int            `json:"basePort"`
	Ports    map[string]int `json:"ports"` // for readers; derived from BasePort
	DataDir  string         `json:"dataDir"`
	Procs    []*proc        `json:"processes"`
}

func newState(o *options, members int) *state {
	s := &state{Members: members, BasePort: o.basePort, DataDir: dataDir(o.stateDir)}
	s.Ports = map[string]int{"etcd-client": s.etcdClientPort(), "etcd-peer": s.etcdPeerPort()}
	for _, n := range clusterNames(members) {
		s.Ports[n] = s.apiserverPort(n)
	}
	return s
}

func (s *state) etcdClientPort() int { return s.BasePort }
func (s *state) etcdPeerPort() int   { return s.BasePort + 1 }
func (s *state) etcdURL() string     { return fmt.Sprintf("http://127.0.0.1:%d", s.etcdClientPort()) }

func (s *state) apiserverPort(cluster string) int {
	for i, n := range clusterNames(s.Members) {
		if n == cluster {
			return s.BasePort + apiserverPortOffset + i
		}
	}
	return 0
}

func (s *state) apiserverURL(cluster string) string {
	return fmt.Sprintf("https://127.0.0.1:%d", s.apiserverPort(cluster))
}

// find returns the recorded process of a component ("etcd" has no cluster).
func (s *state) find(component, cluster string) *proc {
	for _, p := range s.Procs {
		if p.Component == component && p.Cluster == cluster {
			return p
		}
	}
	return nil
}

// loadState returns (nil, nil) when there is no state file.
func loadState(o *options) (*state, error) {
	data, err := os.ReadFile(o.statePath())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var s state
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("%s is unreadable (%v); remove it and stop any leftover processes by hand", o.statePath(), err)
	}
	return &s, nil
}

func (s *state) save(o *options) error {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(o.statePath(), append(data, '\n'), 0o644)
}

// lockState takes an exclusive lock on the state dir so two commands never
// start or stop the same testbed at once. Go opens files close-on-exec, so
// the servers we start do not inherit the lock.
func lockState(o *options) (unlock func(), err error) {
	if err := os.MkdirAll(o.stateDir, 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(o.path(".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("another testbed command is running on %s", o.stateDir)
	}
	return func() { f.Close() }, nil
}

// writeFileAtomic writes via a temporary file and a rename, so a reader (or a
// crash) never sees half a file.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
