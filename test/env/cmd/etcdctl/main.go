// Command etcdctl is the upstream etcd command-line client, built from source
// through its exported entry point (handy for debugging the test cluster).
package main

import "go.etcd.io/etcd/etcdctl/v3/ctlv3"

func main() {
	ctlv3.MustStart()
}
