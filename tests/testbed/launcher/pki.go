package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// Files in <state>/pki. They survive `down` so that a re-up keeps the same CA
// and kubeconfigs already handed to tools stay valid.
const (
	caCert      = "ca.crt"
	caKey       = "ca.key"
	servingCert = "apiserver.crt"
	servingKey  = "apiserver.key"
	adminCert   = "admin.crt"
	adminKey    = "admin.key"
	saKey       = "sa.key" // signs service-account tokens (kube-apiserver and KCM)
	saPub       = "sa.pub" // verifies them
)

const certValidity = 365 * 24 * time.Hour

// ensurePKI reuses the certificates in dir when they are all there and valid
// for at least another day, and otherwise generates a new set.
func ensurePKI(dir string) error {
	if pkiUsable(dir) {
		return nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return generatePKI(dir)
}

func pkiUsable(dir string) bool {
	for _, f := range []string{caKey, servingKey, adminKey, saKey, saPub} {
		if !isFile(filepath.Join(dir, f)) {
			return false
		}
	}
	for _, f := range []string{caCert, servingCert, adminCert} {
		c, err := readCert(filepath.Join(dir, f))
		if err != nil || time.Until(c.NotAfter) < 24*time.Hour {
			return false
		}
	}
	return true
}

func generatePKI(dir string) error {
	caPriv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	caTmpl := certTemplate("kfed-testbed-ca")
	caTmpl.IsCA = true
	caTmpl.BasicConstraintsValid = true
	caTmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caPriv.Public(), caPriv)
	if err != nil {
		return err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return err
	}

	serving := certTemplate("kfed-testbed-apiserver")
	serving.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	serving.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	serving.DNSNames = []string{"localhost"}

	// O=system:masters is the group kube-apiserver treats as cluster-admin.
	admin := certTemplate("kfed-admin")
	admin.Subject.Organization = []string{"system:masters"}
	admin.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}

	if err := writeCert(dir, caCert, caDER); err != nil {
		return err
	}
	if err := writeKey(dir, caKey, caPriv); err != nil {
		return err
	}
	for _, leaf := range []struct {
		tmpl       *x509.Certificate
		cert, priv string
	}{{serving, servingCert, servingKey}, {admin, adminCert, adminKey}} {
		if err := issue(dir, leaf.tmpl, ca, caPriv, leaf.cert, leaf.priv); err != nil {
			return err
		}
	}

	saPriv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	if err := writeKey(dir, saKey, saPriv); err != nil {
		return err
	}
	pubDER, err := x509.MarshalPKIXPublicKey(saPriv.Public())
	if err != nil {
		return err
	}
	return writePEM(filepath.Join(dir, saPub), "PUBLIC KEY", pubDER, 0o644)
}

func issue(dir string, tmpl, ca *x509.Certificate, caPriv crypto.Signer, certFile, keyFile string) error {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, priv.Public(), caPriv)
	if err != nil {
		return err
	}
	if err := writeKey(dir, keyFile, priv); err != nil {
		return err
	}
	return writeCert(dir, certFile, der)
}

func certTemplate(cn string) *x509.Certificate {
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	now := time.Now()
	return &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    now.Add(-time.Hour), // tolerate a little clock skew
		NotAfter:     now.Add(certValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
}

func writeCert(dir, name string, der []byte) error {
	return writePEM(filepath.Join(dir, name), "CERTIFICATE", der, 0o644)
}

func writeKey(dir, name string, key any) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	return writePEM(filepath.Join(dir, name), "PRIVATE KEY", der, 0o600)
}

func writePEM(path, blockType string, der []byte, mode os.FileMode) error {
	return writeFileAtomic(path, pem.EncodeToMemory(&pem.Block{Type: blockType, Bytes: der}), mode)
}

func readCert(path string) (*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("%s: no certificate", path)
	}
	return x509.ParseCertificate(block.Bytes)
}

// clientTLS trusts only our CA and presents the admin client certificate, as
// kubectl does with our kubeconfig.
func clientTLS(dir string) (*tls.Config, error) {
	ca, err := os.ReadFile(filepath.Join(dir, caCert))
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return nil, fmt.Errorf("%s: no certificate", caCert)
	}
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, adminCert), filepath.Join(dir, adminKey))
	if err != nil {
		return nil, err
	}
	return &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}, nil
}
