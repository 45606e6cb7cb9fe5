// Command kube-apiserver is the Kubernetes API server, built from
// k8s.io/kubernetes at the version pinned in ../../go.mod, for the
// integration tests of leader-elect/kubernetes.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register" // --logging-format=json
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() {
	os.Exit(cli.Run(app.NewAPIServerCommand()))
}
