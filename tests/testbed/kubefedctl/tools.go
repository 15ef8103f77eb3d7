//go:build tools

// Package tools pins the kubefedctl command, built with
// `go build -o <bin>/kubefedctl sigs.k8s.io/kubefed/cmd/kubefedctl`.
package tools

import _ "sigs.k8s.io/kubefed/cmd/kubefedctl"
