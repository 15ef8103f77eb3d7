package main

import (
	"fmt"
	"path/filepath"
	"strconv"
)

// The command lines of the three components. They are recorded in
// state.json as they are, both to restart an apiserver with the same flags
// and to recognise our processes in /proc/<pid>/cmdline.

func etcdProc(o *options, b binaries, st *state) *proc {
	client := st.etcdURL()
	peer := fmt.Sprintf("http://127.0.0.1:%d", st.etcdPeerPort())
	return &proc{
		Component: "etcd",
		Port:      st.etcdClientPort(),
		Log:       filepath.Join(o.logDir(), "etcd.log"),
		Cmdline: []string{b.etcd,
			"--name=default",
			"--data-dir=" + filepath.Join(st.DataDir, "etcd"),
			"--listen-client-urls=" + client,
			"--advertise-client-urls=" + client,
			"--listen-peer-urls=" + peer,
			"--initial-advertise-peer-urls=" + peer,
			"--initial-cluster=default=" + peer,
			"--initial-cluster-state=new",
			// The data is throwaway and on tmpfs; skipping fsync makes
			// every apiserver write cheaper.
			"--unsafe-no-fsync=true",
		},
	}
}

func apiserverProc(o *options, b binaries, st *state, cluster string) *proc {
	port := st.apiserverPort(cluster)
	pki := func(name string) string { return filepath.Join(o.pkiDir(), name) }
	args := []string{b.kube, "kube-apiserver",
		"--etcd-servers=" + st.etcdURL(),
		// All clusters share one etcd, each under its own prefix.
		"--etcd-prefix=/kfed-testbed/" + cluster,
		"--bind-address=127.0.0.1",
		// Without it the apiserver looks for a default-route interface.
		"--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(port),
		"--tls-cert-file=" + pki(servingCert),
		"--tls-private-key-file=" + pki(servingKey),
		"--client-ca-file=" + pki(caCert),
		"--authorization-mode=RBAC",
		"--service-account-issuer=" + st.apiserverURL(cluster),
		"--service-account-key-file=" + pki(saPub),
		"--service-account-signing-key-file=" + pki(saKey),
		"--service-cluster-ip-range=10.96.0.0/16",
		"--allow-privileged=true",
		// The "kubernetes" Service would point at 127.0.0.1, which is
		// not a valid endpoint address; there are no pods to use it anyway.
		"--endpoint-reconciler-type=none",
		// API Priority and Fairness stays on, as in every real cluster: kfed ships
		// a FlowSchema (config/flowcontrol) and the tests check that it applies.
		"--profiling=false",
		// Otherwise SIGTERM waits up to 60 s for clients' (the
		// controller-manager's) connections to close; with it, 2 s.
		"--shutdown-send-retry-after=true",
	}
	// Compaction covers the whole shared keyspace, so one apiserver doing
	// it is enough.
	if cluster != "host" {
		args = append(args, "--etcd-compaction-interval=0")
	}
	return &proc{
		Component: "kube-apiserver",
		Cluster:   cluster,
		Port:      port,
		Log:       filepath.Join(o.logDir(), "kube-apiserver-"+cluster+".log"),
		Cmdline:   args,
	}
}

// kcmControllers are the controllers a federation member needs without
// nodes: namespace deletion, garbage collection, service accounts with their
// (legacy secret) tokens, which federation join flows rely on, and the
// PV/PVC protection controllers, without which deleted volumes and claims
// keep their protection finalizers and never go away, and ClusterRole
// aggregation, which kfed's member roles (and Kubernetes' own admin/edit/view)
// are built on.
const kcmControllers = "namespace-controller,garbage-collector-controller,serviceaccount-controller,serviceaccount-token-controller," +
	"persistentvolume-protection-controller,persistentvolumeclaim-protection-controller,clusterrole-aggregation-controller"

func controllerManagerProc(o *options, b binaries, cluster string) *proc {
	pki := func(name string) string { return filepath.Join(o.pkiDir(), name) }
	return &proc{
		Component: "kube-controller-manager",
		Cluster:   cluster,
		Log:       filepath.Join(o.logDir(), "kube-controller-manager-"+cluster+".log"),
		Cmdline: []string{b.kube, "kube-controller-manager",
			"--kubeconfig=" + o.clusterKubeconfig(cluster),
			"--controllers=" + kcmControllers,
			"--service-account-private-key-file=" + pki(saKey),
			"--root-ca-file=" + pki(caCert),
			"--leader-elect=false",
			"--secure-port=0", // no health endpoint needed; saves a port
			"--use-service-account-credentials=false",
			"--kube-api-qps=100",
			"--kube-api-burst=200",
		},
	}
}
