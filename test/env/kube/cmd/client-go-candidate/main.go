// Command client-go-candidate campaigns for a coordination.k8s.io/v1 Lease
// with client-go's tools/leaderelection (LeaseLock), the reference
// implementation leader-elect interoperates with, and prints one JSON object
// per line on stdout for every event it sees:
//
//	{"event":"started","identity":"a","t":1700000000000}
//	{"event":"new_leader","identity":"b","t":...}
//	{"event":"started_leading","identity":"a","t":...}
//	{"event":"stopped_leading","identity":"a","t":...}
//	{"event":"exiting","identity":"a","t":...}
//
// SIGTERM or SIGINT cancels the election; with --release-on-cancel the lease
// is released (client-go's released form) before "exiting" is printed.
// Like client-go's own components, the process exits after it stops leading.
//
// With --coordinated it is a coordinated candidate (KEP-4355) as kube-scheduler
// and kube-controller-manager are with the CoordinatedLeaderElection gate:
// leaderelection.NewCandidate keeps a LeaseCandidate named after the identity
// (--binary-version, --emulation-version, --strategy) and the elector runs
// with Coordinated: true, so it never takes the Lease itself and leads only
// when the apiserver's controller names it. It prints
//
//	{"event":"candidate_ready","identity":"a","t":...}
//
// once the candidate's informer has synced. Like client-go, it leaves its
// LeaseCandidate behind on exit (the apiserver collects it after 30 minutes).
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
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

var (
	outMu sync.Mutex
	enc   = json.NewEncoder(os.Stdout)
)

func emit(event string, fields map[string]any) {
	line := map[string]any{"event": event, "t": time.Now().UnixMilli()}
	for k, v := range fields {
		line[k] = v
	}
	outMu.Lock()
	defer outMu.Unlock()
	_ = enc.Encode(line)
}

func main() {
	kubeconfig := flag.String("kubeconfig", "", "path to a kubeconfig file (required)")
	namespace := flag.String("namespace", "default", "namespace of the Lease")
	name := flag.String("name", "", "name of the Lease (required)")
	identity := flag.String("identity", "", "this candidate's identity (required)")
	leaseDuration := flag.Duration("lease-duration", 15*time.Second, "LeaseDuration")
	renewDeadline := flag.Duration("renew-deadline", 10*time.Second, "RenewDeadline")
	retryPeriod := flag.Duration("retry-period", 2*time.Second, "RetryPeriod")
	releaseOnCancel := flag.Bool("release-on-cancel", false, "release the Lease on SIGTERM/SIGINT")
	coordinated := flag.Bool("coordinated", false, "coordinated leader election (a LeaseCandidate; never acquires)")
	binaryVersion := flag.String("binary-version", "", "LeaseCandidate spec.binaryVersion (with --coordinated)")
	emulationVersion := flag.String("emulation-version", "", "LeaseCandidate spec.emulationVersion (with --coordinated)")
	strategy := flag.String("strategy", string(coordinationv1.OldestEmulationVersion), "LeaseCandidate spec.strategy (with --coordinated)")
	flag.Parse()
	if *kubeconfig == "" || *name == "" || *identity == "" {
		fmt.Fprintln(os.Stderr, "client-go-candidate: --kubeconfig, --name and --identity are required")
		os.Exit(2)
	}

	config, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		fmt.Fprintf(os.Stderr, "client-go-candidate: %v\n", err)
		os.Exit(1)
	}
	// NewFromKubeconfig bounds each request by max(1s, RenewDeadline/2),
	// exactly as kube-controller-manager and kube-scheduler do.
	lock, err := resourcelock.NewFromKubeconfig(
		resourcelock.LeasesResourceLock,
		*namespace,
		*name,
		resourcelock.ResourceLockConfig{Identity: *identity},
		config,
		*renewDeadline,
	)
	if err != nil {
		fmt.Fprintf(os.Stderr, "client-go-candidate: %v\n", err)
		os.Exit(1)
	}

	ctx, cancel := context.WithCancel(context.Background())
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-signals
		cancel()
	}()

	id := *identity
	if *coordinated {
		clientset, err := kubernetes.NewForConfig(config)
		if err != nil {
			fmt.Fprintf(os.Stderr, "client-go-candidate: %v\n", err)
			os.Exit(1)
		}
		candidate, synced, err := leaderelection.NewCandidate(
			clientset, *namespace, id, *name, *binaryVersion, *emulationVersion,
			coordinationv1.CoordinatedLeaseStrategy(*strategy),
		)
		if err != nil {
			fmt.Fprintf(os.Stderr, "client-go-candidate: %v\n", err)
			os.Exit(2)
		}
		go candidate.Run(ctx)
		synced.WaitForCacheSync(ctx.Done())
		emit("candidate_ready", map[string]any{"identity": id})
	}
	elector, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:            lock,
		LeaseDuration:   *leaseDuration,
		RenewDeadline:   *renewDeadline,
		RetryPeriod:     *retryPeriod,
		ReleaseOnCancel: *releaseOnCancel,
		Name:            *name,
		Coordinated:     *coordinated,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(context.Context) {
				emit("started_leading", map[string]any{"identity": id})
			},
			OnStoppedLeading: func() {
				emit("stopped_leading", map[string]any{"identity": id})
			},
			OnNewLeader: func(leader string) {
				emit("new_leader", map[string]any{"identity": leader})
			},
		},
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "client-go-candidate: %v\n", err)
		os.Exit(2)
	}

	emit("started", map[string]any{"identity": id})
	elector.Run(ctx)
	emit("exiting", map[string]any{"identity": id})
}
