// Command client-go-lease-informer follows one coordination.k8s.io/v1 Lease
// the way a Go controller observes who leads: a client-go SharedIndexInformer
// (a Reflector's list + watch, restricted to the Lease by a field selector on
// its name), and prints one JSON object per line on stdout:
//
//	{"event":"started"}
//	{"event":"synced"}                          the informer's first list is in
//	{"event":"leader","leader":"b"}             every change of holder ("" or no Lease: null)
//
// The benchmark stamps each line when it arrives; the program adds no clock of
// its own. It runs until SIGTERM or SIGINT.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"

	coordinationv1 "k8s.io/api/coordination/v1"
	"k8s.io/apimachinery/pkg/fields"
	coordinationclient "k8s.io/client-go/kubernetes/typed/coordination/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
)

var (
	outMu sync.Mutex
	enc   = json.NewEncoder(os.Stdout)
)

func emit(fields map[string]any) {
	outMu.Lock()
	defer outMu.Unlock()
	_ = enc.Encode(fields)
}

func main() {
	kubeconfig := flag.String("kubeconfig", "", "path to a kubeconfig file (required)")
	namespace := flag.String("namespace", "default", "namespace of the Lease")
	name := flag.String("name", "", "name of the Lease (required)")
	flag.Parse()
	if *kubeconfig == "" || *name == "" {
		fmt.Fprintln(os.Stderr, "client-go-lease-informer: --kubeconfig and --name are required")
		os.Exit(2)
	}
	config, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		fmt.Fprintf(os.Stderr, "client-go-lease-informer: %v\n", err)
		os.Exit(1)
	}
	client, err := coordinationclient.NewForConfig(config)
	if err != nil {
		fmt.Fprintf(os.Stderr, "client-go-lease-informer: %v\n", err)
		os.Exit(1)
	}

	ctx, cancel := context.WithCancel(context.Background())
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-signals
		cancel()
	}()

	emit(map[string]any{"event": "started"})
	lw := cache.NewListWatchFromClient(client.RESTClient(), "leases", *namespace,
		fields.OneTermEqualSelector("metadata.name", *name))
	informer := cache.NewSharedIndexInformer(lw, &coordinationv1.Lease{}, 0, cache.Indexers{})

	// Handlers run one at a time (one listener goroutine): seen and last need no lock.
	seen, last := false, ""
	report := func(holder string) {
		if seen && holder == last {
			return
		}
		seen, last = true, holder
		var leader any
		if holder != "" {
			leader = holder
		}
		emit(map[string]any{"event": "leader", "leader": leader})
	}
	holderOf := func(obj any) string {
		lease, ok := obj.(*coordinationv1.Lease)
		if !ok || lease.Spec.HolderIdentity == nil {
			return ""
		}
		return *lease.Spec.HolderIdentity
	}
	if _, err := informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { report(holderOf(obj)) },
		UpdateFunc: func(_, obj any) { report(holderOf(obj)) },
		DeleteFunc: func(any) { report("") },
	}); err != nil {
		fmt.Fprintf(os.Stderr, "client-go-lease-informer: %v\n", err)
		os.Exit(1)
	}
	go informer.Run(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), informer.HasSynced) {
		os.Exit(0)
	}
	emit(map[string]any{"event": "synced"})
	<-ctx.Done()
}
