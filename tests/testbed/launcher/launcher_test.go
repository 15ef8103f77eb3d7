package main

import (
	"bytes"
	"crypto/x509"
	"flag"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestPKI(t *testing.T) {
	dir := t.TempDir()
	if err := ensurePKI(dir); err != nil {
		t.Fatal(err)
	}
	ca, _ := readCert(filepath.Join(dir, caCert))
	roots := x509.NewCertPool()
	roots.AddCert(ca)

	serving, _ := readCert(filepath.Join(dir, servingCert))
	for _, name := range []string{"127.0.0.1", "localhost"} {
		opts := x509.VerifyOptions{Roots: roots, DNSName: name, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
		if _, err := serving.Verify(opts); err != nil {
			t.Errorf("serving cert for %s: %v", name, err)
		}
	}
	admin, _ := readCert(filepath.Join(dir, adminCert))
	if _, err := admin.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("admin cert: %v", err)
	}
	if admin.Subject.CommonName != "kfed-admin" || !slices.Equal(admin.Subject.Organization, []string{"system:masters"}) {
		t.Errorf("admin subject = %v", admin.Subject)
	}
	for _, key := range []string{caKey, servingKey, adminKey, saKey} {
		if st, _ := os.Stat(filepath.Join(dir, key)); st.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v", key, st.Mode().Perm())
		}
	}
	if _, err := clientTLS(dir); err != nil {
		t.Fatal(err)
	}

	// A second call must reuse the certificates, not replace them.
	before, _ := os.ReadFile(filepath.Join(dir, caCert))
	if err := ensurePKI(dir); err != nil {
		t.Fatal(err)
	}
	if after, _ := os.ReadFile(filepath.Join(dir, caCert)); !bytes.Equal(before, after) {
		t.Error("ensurePKI regenerated a usable CA")
	}
}

func TestParseInterleaved(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	dir := fs.String("state-dir", "", "")
	words, err := parseInterleaved(fs, []string{"stop", "member1", "--state-dir", "/x"})
	if err != nil || !slices.Equal(words, []string{"stop", "member1"}) || *dir != "/x" {
		t.Fatalf("got %v %q %v", words, *dir, err)
	}
}

func TestPorts(t *testing.T) {
	st := &state{Members: 2, BasePort: 16440}
	if got := []int{st.etcdClientPort(), st.etcdPeerPort(), st.apiserverPort("host"), st.apiserverPort("member2")}; !slices.Equal(got, []int{16440, 16441, 16450, 16452}) {
		t.Fatalf("ports = %v", got)
	}
}
