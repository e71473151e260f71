// A Go program using crypto11 (github.com/ThalesIgnite/crypto11, Debian's
// golang-github-thalesignite-crypto11-dev) as users do: it opens the token
// by its label through a PKCS#11 module (the p11-kit client), finds a key
// pair by its label and signs a self-signed X.509 certificate with it.
//
//	crypto11-cert MODULE TOKEN-LABEL PIN KEY-LABEL OUT.pem
package main

import (
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"time"

	"github.com/ThalesIgnite/crypto11"
)

func run(module, token, pin, label, out string) error {
	ctx, err := crypto11.Configure(&crypto11.Config{Path: module, TokenLabel: token, Pin: pin})
	if err != nil {
		return fmt.Errorf("configure: %w", err)
	}
	defer ctx.Close()
	key, err := ctx.FindKeyPair(nil, []byte(label))
	if err != nil {
		return fmt.Errorf("find key pair %q: %w", label, err)
	}
	if key == nil {
		return fmt.Errorf("no key pair labelled %q", label)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "crypto11 " + label},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return fmt.Errorf("sign the certificate: %w", err)
	}
	return os.WriteFile(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}

func main() {
	if len(os.Args) != 6 {
		fmt.Fprintln(os.Stderr, "usage: crypto11-cert MODULE TOKEN-LABEL PIN KEY-LABEL OUT.pem")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2], os.Args[3], os.Args[4], os.Args[5]); err != nil {
		fmt.Fprintln(os.Stderr, "crypto11-cert:", err)
		os.Exit(1)
	}
}
