package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// checker probes the servers: etcd over plain HTTP, the apiservers over TLS
// verified against our CA with the admin client certificate.
type checker struct {
	plain, tls *http.Client
}

func newChecker(o *options) (*checker, error) {
	cfg, err := clientTLS(o.pkiDir())
	if err != nil {
		return nil, err
	}
	return &checker{
		plain: &http.Client{Timeout: 5 * time.Second},
		tls:   &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}},
	}, nil
}

// get returns nil when url answers 200, else an error carrying the status
// and the start of the body (the failing /readyz checks are listed there).
func get(client *http.Client, url string) error {
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	var failed []string
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, "[-]") {
			failed = append(failed, strings.Fields(line[3:])[0])
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("%s (failing: %s)", resp.Status, strings.Join(failed, ", "))
	}
	return fmt.Errorf("%s", resp.Status)
}

func (c *checker) etcdHealth(st *state) error { return get(c.plain, st.etcdURL()+"/health") }

func (c *checker) readyz(st *state, cluster string) error {
	return get(c.tls, st.apiserverURL(cluster)+"/readyz")
}

// defaultServiceAccount succeeds once the controller-manager's serviceaccount
// controller has created "default" in namespace default: the cluster can
// then run workloads and mint tokens.
func (c *checker) defaultServiceAccount(st *state, cluster string) error {
	return get(c.tls, st.apiserverURL(cluster)+"/api/v1/namespaces/default/serviceaccounts/default")
}

// waitFor polls check until it succeeds. It fails early, with the end of the
// log, if the child exits; and on timeout or cancellation.
func waitFor(ctx context.Context, c *child, what string, timeout time.Duration, check func() error) error {
	deadline := time.After(timeout)
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	last := fmt.Errorf("not checked yet")
	for {
		if last = check(); last == nil {
			return nil
		}
		select {
		case <-c.done:
			return fmt.Errorf("%s exited during start (%v); last lines of %s:\n%s", c.proc, c.err, c.proc.Log, tail(c.proc.Log, 20))
		case <-deadline:
			return fmt.Errorf("%s: %s not reached within %s (last error: %v); last lines of %s:\n%s", c.proc, what, timeout, last, c.proc.Log, tail(c.proc.Log, 20))
		case <-ctx.Done():
			return fmt.Errorf("interrupted while waiting for %s", c.proc)
		case <-tick.C:
		}
	}
}

// portUser names what wants a port, for the "already in use" message.
type portUser struct {
	port int
	who  string
}

// checkPortFree fails if something already listens on 127.0.0.1:port (also
// catches a wildcard listener, which makes this bind fail too).
func checkPortFree(pu portUser) error {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(pu.port)))
	if err != nil {
		return fmt.Errorf("port %d, wanted by %s, is already in use (pick another base port with --base-port or KFED_TESTBED_BASE_PORT)", pu.port, pu.who)
	}
	return l.Close()
}
