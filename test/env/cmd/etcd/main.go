// Command etcd is the upstream etcd server, built from source through its own
// entry point so the test suite does not depend on a downloaded release binary.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
