package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

const (
	defaultBasePort = 16440
	maxMembers      = 5
	// Ports above base: etcd client = base, etcd peer = base+1,
	// apiserver of cluster i (host = 0) = base+10+i.
	apiserverPortOffset = 10
)

// options are the global settings every command shares.
type options struct {
	stateDir string
	basePort int
	binDir   string
}

// resolve fills in defaults from the environment and the working directory.
func (o *options) resolve(basePortSet bool) error {
	if !basePortSet {
		n, ok, err := envInt("KFED_TESTBED_BASE_PORT")
		if err != nil {
			return err
		}
		o.basePort = defaultBasePort
		if ok {
			o.basePort = n
		}
	}
	if o.basePort < 1024 || o.basePort > 65535-apiserverPortOffset-maxMembers {
		return fmt.Errorf("base port %d is out of range (1024..%d)", o.basePort, 65535-apiserverPortOffset-maxMembers)
	}
	if o.stateDir == "" {
		o.stateDir = os.Getenv("KFED_TESTBED_DIR")
	}
	if o.stateDir == "" {
		wd, err := os.Getwd()
		if err != nil {
			return err
		}
		o.stateDir = filepath.Join(repoRoot(wd), ".testbed")
	}
	abs, err := filepath.Abs(o.stateDir)
	if err != nil {
		return err
	}
	o.stateDir = abs
	return nil
}

// repoRoot walks up from dir to the kfed checkout (a Cargo.toml next to
// tests/testbed) and falls back to dir itself.
func repoRoot(dir string) string {
	for d := dir; ; d = filepath.Dir(d) {
		if isFile(filepath.Join(d, "Cargo.toml")) && isDir(filepath.Join(d, "tests", "testbed")) {
			return d
		}
		if filepath.Dir(d) == d {
			return dir
		}
	}
}

func (o *options) path(elem ...string) string {
	return filepath.Join(append([]string{o.stateDir}, elem...)...)
}

func (o *options) statePath() string { return o.path("state.json") }
func (o *options) logDir() string    { return o.path("logs") }
func (o *options) pkiDir() string    { return o.path("pki") }

// mergedKubeconfig holds every cluster as a context; each cluster also gets
// its own <cluster>.kubeconfig, which its controller-manager uses.
func (o *options) mergedKubeconfig() string { return o.path("kubeconfig") }
func (o *options) clusterKubeconfig(cluster string) string {
	return o.path(cluster + ".kubeconfig")
}

// dataDir is etcd's data dir. It lives on tmpfs because etcd's fsyncs are the
// slowest part of an apiserver's start, and the data is throwaway. The hash
// keeps two state dirs (a developer's and CI's) apart.
func dataDir(stateDir string) string {
	sum := sha256.Sum256([]byte(stateDir))
	base := "/dev/shm"
	if !isDir(base) {
		base = os.TempDir()
	}
	return filepath.Join(base, "kfed-testbed-"+hex.EncodeToString(sum[:])[:10])
}

// clusterNames returns host, member1 ... memberN.
func clusterNames(members int) []string {
	names := []string{"host"}
	for i := 1; i <= members; i++ {
		names = append(names, "member"+strconv.Itoa(i))
	}
	return names
}

// binaries are the resolved paths of the control-plane executables. They are
// resolved through symlinks so a running testbed keeps the exact build it was
// started with even when build.sh repoints the symlinks.
type binaries struct {
	kube, etcd string
}

func findBinaries(binDir string) (binaries, error) {
	if binDir == "" {
		self, err := os.Executable()
		if err != nil {
			return binaries{}, err
		}
		if self, err = filepath.EvalSymlinks(self); err != nil {
			return binaries{}, err
		}
		binDir = filepath.Dir(self)
	}
	var b binaries
	for _, bin := range []struct {
		name string
		dst  *string
	}{{"kube", &b.kube}, {"etcd", &b.etcd}} {
		p, err := filepath.EvalSymlinks(filepath.Join(binDir, bin.name))
		if err != nil || !isFile(p) {
			return binaries{}, fmt.Errorf("%s not found in %s; run `make testbed-build` first", bin.name, binDir)
		}
		*bin.dst = p
	}
	return b, nil
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}
