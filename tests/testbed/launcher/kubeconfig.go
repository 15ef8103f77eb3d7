package main

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

const adminUser = "kfed-admin"

// writeKubeconfigs writes <state>/<cluster>.kubeconfig for every cluster and
// the merged <state>/kubeconfig (current context: host). Credentials are
// embedded so each file stands alone; the server is verified against our CA.
func writeKubeconfigs(o *options, st *state) error {
	read := func(name string) (string, error) {
		data, err := os.ReadFile(filepath.Join(o.pkiDir(), name))
		return base64.StdEncoding.EncodeToString(data), err
	}
	ca, err := read(caCert)
	if err != nil {
		return err
	}
	cert, err := read(adminCert)
	if err != nil {
		return err
	}
	key, err := read(adminKey)
	if err != nil {
		return err
	}

	names := clusterNames(st.Members)
	for _, name := range names {
		text := kubeconfigText([]string{name}, st, ca, cert, key)
		if err := writeFileAtomic(o.clusterKubeconfig(name), []byte(text), 0o600); err != nil {
			return err
		}
	}
	return writeFileAtomic(o.mergedKubeconfig(), []byte(kubeconfigText(names, st, ca, cert, key)), 0o600)
}

// kubeconfigText renders a kubeconfig by hand (we use the standard library
// only). Every value is a plain token or base64, so no YAML quoting is needed.
func kubeconfigText(names []string, st *state, ca, cert, key string) string {
	var b strings.Builder
	b.WriteString("apiVersion: v1\nkind: Config\nclusters:\n")
	for _, n := range names {
		fmt.Fprintf(&b, "- name: %s\n  cluster:\n    server: %s\n    certificate-authority-data: %s\n", n, st.apiserverURL(n), ca)
	}
	fmt.Fprintf(&b, "users:\n- name: %s\n  user:\n    client-certificate-data: %s\n    client-key-data: %s\n", adminUser, cert, key)
	b.WriteString("contexts:\n")
	for _, n := range names {
		fmt.Fprintf(&b, "- name: %s\n  context:\n    cluster: %s\n    user: %s\n", n, n, adminUser)
	}
	fmt.Fprintf(&b, "current-context: %s\npreferences: {}\n", names[0])
	return b.String()
}

func removeKubeconfigs(o *options, members int) {
	for _, n := range clusterNames(members) {
		os.Remove(o.clusterKubeconfig(n))
	}
	os.Remove(o.mergedKubeconfig())
}
