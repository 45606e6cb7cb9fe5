// Command etcd-election-peer is a reference election candidate built on etcd's
// own client-side election recipe (go.etcd.io/etcd/client/v3/concurrency).
//
// The conformance tests run it next to the leader-elect Node.js candidates so
// both implementations compete for the same election prefix. It reports
// everything it sees and does as one JSON object per line on stdout; stderr
// carries the etcd client's own warnings and is for humans only.
//
// Every stdout line has:
//
//	"event"   what happened (see below)
//	"t_ms"    milliseconds since the process started (monotonic clock)
//	"wall_ms" wall-clock Unix time in milliseconds
//
// Events: started, session, campaigning, elected, leader, resigned,
// session-lost, error, exiting.
//
// Commands on stdin, one per line:
//
//	resign     resign (if leading or campaigning) and exit 0
//	step-down  resign but stay alive; "campaign" re-enters the election
//	campaign   campaign again after a step-down or a --hold expiry
//	exit       resign if leading, revoke the session lease, exit 0
//	crash      exit 3 at once: no resign, no revoke (the lease must expire)
//
// SIGTERM/SIGINT and stdin EOF behave like "exit".
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"go.uber.org/zap"
)

// opTimeout bounds every single request the peer makes outside of the
// (deliberately unbounded) campaign wait, so no command can hang forever.
const opTimeout = 5 * time.Second

// ---------------------------------------------------------------------------
// JSON line output

type emitter struct {
	mu    sync.Mutex
	start time.Time
	w     *bufio.Writer
}

// emit writes one JSON object per line: "event", "t_ms" and "wall_ms" first,
// then the other fields in sorted order. The mutex keeps lines whole when the
// observer goroutine and the main loop print at the same time.
func (e *emitter) emit(event string, fields map[string]any) {
	now := time.Now()
	var b strings.Builder
	b.WriteString(`{"event":`)
	writeJSON(&b, event)
	// time.Since uses the monotonic clock reading captured in e.start.
	fmt.Fprintf(&b, `,"t_ms":%.3f,"wall_ms":%d`, float64(now.Sub(e.start).Microseconds())/1000, now.UnixMilli())
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		b.WriteByte(',')
		writeJSON(&b, k)
		b.WriteByte(':')
		writeJSON(&b, fields[k])
	}
	b.WriteString("}\n")

	e.mu.Lock()
	defer e.mu.Unlock()
	e.w.WriteString(b.String())
	// Flush per line: the test harness reacts to events as they happen.
	e.w.Flush()
}

func writeJSON(b *strings.Builder, v any) {
	enc, err := json.Marshal(v)
	if err != nil {
		enc, _ = json.Marshal(fmt.Sprint(v))
	}
	b.Write(enc)
}

// ---------------------------------------------------------------------------
// Configuration

type config struct {
	endpoints   []string
	election    string
	identity    string
	ttl         int
	hold        time.Duration
	rejoin      bool
	dialTimeout time.Duration
	cacert      string
	cert        string
	key         string
	user        string
	password    string
}

func parseFlags() config {
	var c config
	var endpoints string
	host, _ := os.Hostname()
	flag.StringVar(&endpoints, "endpoints", "127.0.0.1:2379", "comma-separated etcd client endpoints")
	flag.StringVar(&c.election, "election", "leader-elect-test", "election prefix (the candidate key is <prefix>/<lease-id-hex>)")
	flag.StringVar(&c.identity, "identity", fmt.Sprintf("%s-%d", host, os.Getpid()), "value proposed when campaigning")
	flag.IntVar(&c.ttl, "ttl", 5, "session (lease) TTL in seconds")
	flag.DurationVar(&c.hold, "hold", 0, "how long to lead before resigning (0 = until told)")
	flag.BoolVar(&c.rejoin, "rejoin", false, "after a --hold expiry, campaign again instead of idling")
	flag.DurationVar(&c.dialTimeout, "dial-timeout", 5*time.Second, "timeout for the initial connection")
	flag.StringVar(&c.cacert, "cacert", "", "CA bundle to verify the etcd servers (enables TLS)")
	flag.StringVar(&c.cert, "cert", "", "client certificate (TLS client auth)")
	flag.StringVar(&c.key, "key", "", "client private key (TLS client auth)")
	flag.StringVar(&c.user, "user", "", "etcd username (auth)")
	flag.StringVar(&c.password, "password", "", "etcd password (auth)")
	flag.Parse()
	for _, ep := range strings.Split(endpoints, ",") {
		if ep = strings.TrimSpace(ep); ep != "" {
			c.endpoints = append(c.endpoints, ep)
		}
	}
	c.election = strings.TrimSuffix(c.election, "/")
	return c
}

func newClient(c config) (*clientv3.Client, error) {
	// Warnings only, and on stderr: stdout belongs to the JSON protocol.
	lcfg := zap.NewProductionConfig()
	lcfg.Level = zap.NewAtomicLevelAt(zap.WarnLevel)
	lcfg.OutputPaths = []string{"stderr"}
	lcfg.ErrorOutputPaths = []string{"stderr"}
	lg, err := lcfg.Build()
	if err != nil {
		return nil, err
	}
	cfg := clientv3.Config{
		Endpoints:   c.endpoints,
		DialTimeout: c.dialTimeout,
		Username:    c.user,
		Password:    c.password,
		Logger:      lg,
	}
	if c.cacert != "" || c.cert != "" {
		info := transport.TLSInfo{TrustedCAFile: c.cacert, CertFile: c.cert, KeyFile: c.key}
		tlsCfg, err := info.ClientConfig()
		if err != nil {
			return nil, fmt.Errorf("tls config: %w", err)
		}
		cfg.TLS = tlsCfg
	}
	return clientv3.New(cfg)
}

// ---------------------------------------------------------------------------
// The candidate

type state int

const (
	idle state = iota
	campaigning
	leading
)

type campaignResult struct {
	election *concurrency.Election
	err      error
}

type peer struct {
	cfg    config
	out    *emitter
	client *clientv3.Client

	session *concurrency.Session
	state   state
	// The election in use by the current campaign/leadership (nil when idle).
	election       *concurrency.Election
	cancelCampaign context.CancelFunc
	campaignDone   chan campaignResult
	holdTimer      *time.Timer
	retryTimer     *time.Timer
}

// newSession grants the lease with a bounded request and hands it to
// concurrency.NewSession, whose own Grant would use the client's unbounded
// context (a stuck cluster would hang the peer).
func (p *peer) newSession() error {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	lease, err := p.client.Grant(ctx, int64(p.cfg.ttl))
	if err != nil {
		return fmt.Errorf("grant lease: %w", err)
	}
	s, err := concurrency.NewSession(p.client, concurrency.WithLease(lease.ID), concurrency.WithTTL(p.cfg.ttl))
	if err != nil {
		return fmt.Errorf("session: %w", err)
	}
	p.session = s
	p.out.emit("session", map[string]any{"lease": fmt.Sprintf("%x", int64(s.Lease())), "ttl": p.cfg.ttl})
	return nil
}

// campaign starts a campaign in the background; its result arrives on
// p.campaignDone. Campaign blocks until every older candidate key is gone.
func (p *peer) campaign() {
	if p.session == nil {
		if err := p.newSession(); err != nil {
			p.fail("session", err)
			p.scheduleRetry()
			return
		}
	}
	p.state = campaigning
	e := concurrency.NewElection(p.session, p.cfg.election)
	p.election = e
	ctx, cancel := context.WithCancel(context.Background())
	p.cancelCampaign = cancel
	done := make(chan campaignResult, 1)
	p.campaignDone = done
	p.out.emit("campaigning", map[string]any{"identity": p.cfg.identity, "election": p.cfg.election})
	go func() {
		done <- campaignResult{election: e, err: e.Campaign(ctx, p.cfg.identity)}
	}()
}

func (p *peer) onCampaignResult(r campaignResult) {
	p.campaignDone = nil
	p.cancelCampaign = nil
	if r.err != nil {
		p.state = idle
		p.election = nil
		p.fail("campaign", r.err)
		p.scheduleRetry()
		return
	}
	e := r.election
	// Campaign can return success although the session lease expired while
	// it was waiting (its candidate key is then already gone). Check that the
	// key still exists with the revision we were elected at.
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	resp, err := p.client.Get(ctx, e.Key())
	cancel()
	if err != nil || len(resp.Kvs) == 0 || resp.Kvs[0].CreateRevision != e.Rev() {
		if err == nil {
			err = errors.New("elected but the candidate key is gone (session expired?)")
		}
		p.state = idle
		p.election = nil
		p.fail("verify-elected", err)
		p.dropSession()
		p.scheduleRetry()
		return
	}
	p.state = leading
	p.out.emit("elected", map[string]any{
		"key":      e.Key(),
		"rev":      e.Rev(), // create revision of our key: the fencing token
		"identity": p.cfg.identity,
		"lease":    fmt.Sprintf("%x", int64(p.session.Lease())),
	})
	if p.cfg.hold > 0 {
		p.holdTimer = time.NewTimer(p.cfg.hold)
	}
}

// resign leaves the election from whatever state we are in. Bounded in time.
func (p *peer) resign(reason string) {
	p.stopHold()
	p.stopRetry()
	switch p.state {
	case campaigning:
		// Cancelling makes Campaign delete our candidate key itself.
		p.cancelCampaign()
		select {
		case <-p.campaignDone:
		case <-time.After(opTimeout):
			p.fail("resign", errors.New("campaign did not stop in time"))
		}
		p.out.emit("resigned", map[string]any{"reason": reason, "was_leader": false})
	case leading:
		key, rev := p.election.Key(), p.election.Rev()
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		err := p.election.Resign(ctx)
		cancel()
		if err != nil {
			p.fail("resign", err)
		} else {
			p.out.emit("resigned", map[string]any{"reason": reason, "was_leader": true, "key": key, "rev": rev})
		}
	}
	p.state = idle
	p.election = nil
	p.campaignDone = nil
	p.cancelCampaign = nil
}

// dropSession forgets a dead session; the next campaign makes a new one.
func (p *peer) dropSession() {
	if p.session != nil {
		p.session.Orphan()
		p.session = nil
	}
}

func (p *peer) onSessionLost() {
	wasLeader := p.state == leading
	p.out.emit("session-lost", map[string]any{"was_leader": wasLeader, "lease": fmt.Sprintf("%x", int64(p.session.Lease()))})
	if p.state == campaigning {
		p.cancelCampaign()
		select {
		case <-p.campaignDone:
		case <-time.After(opTimeout):
		}
	}
	p.stopHold()
	p.dropSession()
	wasActive := p.state != idle
	p.state = idle
	p.election = nil
	p.campaignDone = nil
	p.cancelCampaign = nil
	// A candidate that lost its lease goes back into the election.
	if wasActive {
		p.campaign()
	}
}

func (p *peer) fail(op string, err error) {
	p.out.emit("error", map[string]any{"op": op, "error": err.Error()})
}

func (p *peer) scheduleRetry() {
	p.stopRetry()
	p.retryTimer = time.NewTimer(500 * time.Millisecond)
}

func (p *peer) stopHold() {
	if p.holdTimer != nil {
		p.holdTimer.Stop()
		p.holdTimer = nil
	}
}

func (p *peer) stopRetry() {
	if p.retryTimer != nil {
		p.retryTimer.Stop()
		p.retryTimer = nil
	}
}

// shutdown resigns, revokes the lease (so the next candidate need not wait
// for the TTL), closes the client and exits.
func (p *peer) shutdown(reason string, code int) {
	p.resign(reason)
	if p.session != nil {
		// Close revokes with a timeout of one TTL.
		if err := p.session.Close(); err != nil {
			p.fail("revoke", err)
		}
	}
	p.client.Close()
	p.out.emit("exiting", map[string]any{"reason": reason, "code": code})
	os.Exit(code)
}

// observe reports every leader value seen by Observe, restarting the
// observation when its channel closes (it does on any watch error).
func (p *peer) observe(ctx context.Context, e *concurrency.Election) {
	for ctx.Err() == nil {
		for resp := range e.Observe(ctx) {
			if len(resp.Kvs) == 0 {
				continue
			}
			kv := resp.Kvs[0]
			p.out.emit("leader", map[string]any{
				"identity": string(kv.Value),
				"key":      string(kv.Key),
				"rev":      kv.CreateRevision,
			})
		}
		if ctx.Err() != nil {
			return
		}
		p.out.emit("error", map[string]any{"op": "observe", "error": "observe channel closed; restarting"})
		select {
		case <-ctx.Done():
			return
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func readCommands(cmds chan<- string) {
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" {
			cmds <- line
		}
	}
	close(cmds) // EOF (or read error)
}

// timerC returns the channel of t, or nil (blocks forever in select) if t is nil.
func timerC(t *time.Timer) <-chan time.Time {
	if t == nil {
		return nil
	}
	return t.C
}

func main() {
	cfg := parseFlags()
	out := &emitter{start: time.Now(), w: bufio.NewWriter(os.Stdout)}
	out.emit("started", map[string]any{
		"identity":  cfg.identity,
		"election":  cfg.election,
		"endpoints": cfg.endpoints,
		"ttl":       cfg.ttl,
		"hold_ms":   cfg.hold.Milliseconds(),
		"pid":       os.Getpid(),
	})

	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)

	client, err := newClient(cfg)
	if err != nil {
		out.emit("error", map[string]any{"op": "connect", "error": err.Error()})
		out.emit("exiting", map[string]any{"reason": "connect failed", "code": 2})
		os.Exit(2)
	}
	p := &peer{cfg: cfg, out: out, client: client}
	if err := p.newSession(); err != nil {
		p.fail("session", err)
		client.Close()
		out.emit("exiting", map[string]any{"reason": "session failed", "code": 2})
		os.Exit(2)
	}

	// The observer gets its own Election value: Observe only reads through
	// the client, and sharing the campaign's Election would race on its fields.
	obsCtx, stopObs := context.WithCancel(context.Background())
	defer stopObs()
	go p.observe(obsCtx, concurrency.NewElection(p.session, cfg.election))

	cmds := make(chan string, 16)
	go readCommands(cmds)

	p.campaign()
	for {
		var sessDone <-chan struct{}
		if p.session != nil {
			sessDone = p.session.Done()
		}
		select {
		case r := <-p.campaignDone:
			p.onCampaignResult(r)
		case <-sessDone:
			p.onSessionLost()
		case <-timerC(p.holdTimer):
			p.holdTimer = nil
			p.resign("hold expired")
			if cfg.rejoin {
				p.campaign()
			}
		case <-timerC(p.retryTimer):
			p.retryTimer = nil
			if p.state == idle {
				p.campaign()
			}
		case sig := <-sigs:
			stopObs()
			p.shutdown("signal "+sig.String(), 0)
		case cmd, ok := <-cmds:
			if !ok {
				stopObs()
				p.shutdown("stdin closed", 0)
			}
			switch cmd {
			case "resign":
				stopObs()
				p.shutdown("resign command", 0)
			case "exit":
				stopObs()
				p.shutdown("exit command", 0)
			case "crash":
				out.emit("exiting", map[string]any{"reason": "crash command", "code": 3})
				os.Exit(3)
			case "step-down":
				p.resign("step-down command")
			case "campaign":
				if p.state != idle {
					p.fail("campaign", errors.New("already campaigning or leading"))
				} else {
					p.campaign()
				}
			default:
				p.fail("command", fmt.Errorf("unknown command %q", cmd))
			}
		}
	}
}
