/** The markdown report, generated from the results JSON only (meta, rows, skipped). */

const fmt = (v, digits = 1) => {
  if (v === null || v === undefined || Number.isNaN(v)) return '–';
  if (typeof v !== 'number') return String(v);
  if (Math.abs(v) >= 100) return v.toFixed(0);
  if (Math.abs(v) >= 10) return v.toFixed(digits);
  return v.toFixed(Math.max(digits, 2));
};

const scenarioRows = (rows, scenario) => rows.filter((r) => r.scenario === scenario);
const ourRow = (rows, backend, scenario, extra = () => true) =>
  rows.find((r) => r.backend === backend && r.scenario === scenario && r.ours && extra(r));

/** "3.1× / 2.4×": peer ÷ ours for the given fields (> 1: ours is lower, i.e. better). */
function ratio(ours, peer, fields) {
  if (!ours || peer === ours) return '';
  return fields
    .map((f) => {
      const a = ours[f];
      const b = peer[f];
      if (a === null || b === null || a === undefined || b === undefined) return '–';
      if (a <= 0) return b <= 0 ? '1×' : '∞';
      const x = b / a;
      return `${x >= 10 ? x.toFixed(0) : x.toFixed(x >= 1 ? 1 : 2)}×`;
    })
    .join(' / ');
}

const equalTimings = (a, b) => a && b && a.leaseDurationMs === b.leaseDurationMs;

function table(header, lines) {
  if (lines.length === 0) return '_No rows in this run._\n';
  const align = header.map((h) => (h.endsWith(':') ? '---:' : '---'));
  const names = header.map((h) => h.replace(/:$/, ''));
  return `| ${names.join(' | ')} |\n|${align.join('|')}|\n${lines.map((l) => `| ${l.join(' | ')} |`).join('\n')}\n`;
}

const implName = (r) =>
  r.ours ? `**${r.label ?? r.implementation}**` : (r.label ?? r.implementation);

function latencySection(
  rows,
  scenario,
  { excess = false, extraHeader = [], extra = () => [], ratioFields, ratioTitle } = {},
) {
  // After a crash or pause the time to takeover is mostly lease time (and the crash's phase in the
  // renewal cycle); the excess over expiry is the part each implementation controls.
  const fields = ratioFields ?? (excess ? ['excessP50Ms', 'excessP99Ms'] : ['p50Ms', 'p99Ms']);
  const lines = scenarioRows(rows, scenario).map((r) => {
    const ours = ourRow(rows, r.backend, scenario);
    const comparable = equalTimings(ours, r);
    const ratioText = r.ours
      ? ''
      : comparable || !excess
        ? ratio(ours, r, fields)
        : 'unequal timings';
    return [
      r.backend,
      implName(r),
      `${r.trials}${r.missedTakeovers ? ` (+${r.missedTakeovers} missed)` : ''}`,
      r.settings ?? '',
      fmt(r.p50Ms),
      fmt(r.p99Ms),
      fmt(r.maxMs),
      ...(excess ? [fmt(r.excessP50Ms), fmt(r.excessP99Ms), fmt(r.excessMaxMs)] : []),
      ...extra(r),
      ratioText,
    ];
  });
  const header = [
    'backend',
    'implementation',
    'trials:',
    'settings',
    'p50 ms:',
    'p99 ms:',
    'max ms:',
    ...(excess ? ['excess p50:', 'excess p99:', 'excess max:'] : []),
    ...extraHeader,
    ratioTitle ?? (excess ? 'peer ÷ ours (excess p50 / p99):' : 'peer ÷ ours (p50 / p99):'),
  ];
  return table(header, lines);
}

function targets(rows) {
  const out = [];
  const check = (name, row, value, ok) => {
    if (!row) return;
    out.push([name, value, ok ? 'yes' : '**no**']);
  };
  const limits = [
    ['memory', 'graceful', 'p99Ms', 2],
    ['memory', 'crash', 'excessP99Ms', 20],
    ['etcd', 'graceful', 'p99Ms', 5],
    ['etcd', 'crash', 'excessP99Ms', 600],
    ['kubernetes', 'graceful', 'p99Ms', 30],
    ['kubernetes', 'crash', 'excessP99Ms', 50],
    ['postgres', 'graceful', 'p99Ms', 10],
    ['postgres', 'crash', 'excessP99Ms', 50],
  ];
  for (const [backend, scenario, field, limit] of limits) {
    const r = ourRow(rows, backend, scenario);
    const label = field === 'p99Ms' ? 'p99' : 'excess over expiry p99';
    if (r)
      check(
        `${backend} ${scenario} ${label} ≤ ${limit} ms`,
        r,
        `${fmt(r[field])} ms`,
        r[field] !== null && r[field] <= limit,
      );
  }
  // Issue 13: a change is printed within tens of milliseconds.
  for (const backend of ['etcd', 'kubernetes', 'postgres']) {
    for (const change of ['graceful', 'crash']) {
      const r = rows.find(
        (x) =>
          x.backend === backend &&
          x.scenario === 'observe' &&
          x.implementation === 'watch-cli' &&
          x.change === change,
      );
      if (r)
        check(
          `${backend} \`leader-elect watch\` after a ${change} change: p99 ≤ 100 ms`,
          r,
          `${fmt(r.p99Ms)} ms`,
          r.p99Ms !== null && r.p99Ms <= 100,
        );
    }
  }
  for (const backend of ['etcd', 'kubernetes', 'postgres']) {
    const r = ourRow(rows, backend, 'pause');
    if (r)
      check(
        `${backend} pause: 0 stale writes accepted from the paused leader`,
        r,
        `${r.staleWritesAccepted} accepted of ${r.staleWrites} sent`,
        r.staleWritesAccepted === 0,
      );
  }
  const big = ourRow(rows, 'etcd', 'scale', (r) => r.elections === 10_000);
  if (big) {
    check(
      'etcd 10,000 elections: ≤ 1 keepalive/s',
      big,
      `${fmt(big.keepalivesPerSecond, 2)} /s`,
      big.keepalivesPerSecond <= 1,
    );
    check(
      'etcd 10,000 elections: ≤ 200 MB RSS (steady state)',
      big,
      `${fmt(big.rssMb)} MB (peak ${fmt(big.peakRssMb)} MB during the start-up burst)`,
      big.rssMb <= 200,
    );
  }
  for (const backend of ['etcd', 'kubernetes']) {
    const ours = ourRow(rows, backend, 'graceful');
    const peers = scenarioRows(rows, 'graceful').filter(
      (r) => r.backend === backend && !r.ours && !r.floor,
    );
    const floor = scenarioRows(rows, 'graceful').find((r) => r.backend === backend && r.floor);
    if (ours && floor) {
      const above = ours.p50Ms - floor.p50Ms;
      check(
        `${backend} graceful: within 1 ms of the floor at p50 (same run)`,
        ours,
        `${fmt(above)} ms above (${fmt(ours.p50Ms)} vs ${fmt(floor.p50Ms)})`,
        above <= 1,
      );
    }
    if (ours && peers.length > 0) {
      const behind = peers.filter((p) => !(ours.p50Ms < p.p50Ms && ours.p99Ms < p.p99Ms));
      check(
        `${backend} graceful: ahead of every peer (p50 and p99)`,
        ours,
        behind.length === 0
          ? `ahead of ${peers.length}`
          : `not ahead of ${behind.map((p) => p.implementation).join(', ')}`,
        behind.length === 0,
      );
    }
    const oursCrash = ourRow(rows, backend, 'crash');
    const crashPeers = scenarioRows(rows, 'crash').filter(
      (r) => r.backend === backend && !r.ours && equalTimings(oursCrash, r),
    );
    if (oursCrash && crashPeers.length > 0) {
      const behind = crashPeers.filter(
        (p) => !(oursCrash.excessP50Ms <= p.excessP50Ms && oursCrash.excessP99Ms <= p.excessP99Ms),
      );
      check(
        `${backend} crash: never behind a peer at equal timings (excess over expiry p50 and p99)`,
        oursCrash,
        behind.length === 0
          ? `not behind ${crashPeers.length}`
          : `behind ${behind.map((p) => p.implementation).join(', ')}`,
        behind.length === 0,
      );
    }
  }
  return table(['target', 'measured', 'met'], out);
}

/** etcd only: the follower's reaction after the server deleted the old leader's key. */
const afterDeleteCell = (r) => [
  r.afterDeleteP50Ms === undefined
    ? '–'
    : `${fmt(r.afterDeleteP50Ms)} / ${fmt(r.afterDeleteP99Ms)}`,
];

function afterDeleteNote(rows, scenario) {
  if (!scenarioRows(rows, scenario).some((r) => r.afterDeleteP50Ms !== undefined)) return '';
  return ' On etcd the excess includes the server\'s own reaction (it sweeps expired leases every 500 ms and deletes their keys through raft); "after key deleted" is the time from a harness watch seeing the old leader\'s key deleted to the follower\'s "elected": the client\'s part alone.';
}

/**
 * @param {{meta: object, rows: object[]}} results
 * @param {{imagePrefix: string}} options  how the markdown refers to the SVG files
 */
export function renderMarkdown({ meta, rows }, { imagePrefix }) {
  const m = meta.machine;
  const img = (scenario) =>
    rows.some((r) => r.scenario === scenario)
      ? `\n![${scenario}](${imagePrefix}${scenario}.svg)\n`
      : '';
  const versions = meta.backends
    .flatMap((b) => Object.entries(b.versions ?? {}).map(([k, v]) => `${k} ${v}`))
    .filter((v, i, a) => a.indexOf(v) === i);
  const parts = [];
  parts.push(`Run ${meta.date} (${meta.wallSeconds} s${meta.quick ? ', **quick run**: few trials' : ''}): \`${meta.command}\`

- Machine: ${m.cpu}, ${m.memoryGiB} GiB, ${m.os}; Node ${m.node}; load average ${m.loadAverageAtStart.join(' / ')} at the start, ${m.loadAverageAtEnd.join(' / ')} at the end (1/5/15 min; other work shared the machine).
- leader-elect ${m.leaderElect}${m.commit ? ` at ${m.commit}` : ''}. ${versions.length ? `Versions: ${versions.join(', ')}.` : ''}
${meta.backends.map((b) => `- ${b.backend}: ${b.server}.${(b.notes ?? []).map((n) => ` ${n}`).join('')}`).join('\n')}
- Timing profiles (ms): ${Object.entries(meta.profiles)
    .map(
      ([backend, p]) =>
        `${backend}: ${Object.entries(p)
          .map(([name, t]) => `${name} ${t.leaseDuration}/${t.renewDeadline}/${t.retryPeriod}`)
          .join(', ')}`,
    )
    .join(
      '; ',
    )} (leaseDuration/renewDeadline/retryPeriod). Each row's settings column says what the implementation actually ran with.
- Every latency is measured by the harness's own clock: from writing the command / sending the signal to reading the next leader's "elected" line. Ratios are peer ÷ ours (above 1×: ours is faster / lighter).
`);

  parts.push(`### Targets\n\n${targets(rows)}`);

  parts.push(`### Graceful handoff\n\n${latencySection(rows, 'graceful')}${img('graceful')}`);

  if (scenarioRows(rows, 'transfer').length > 0) {
    const versus = scenarioRows(rows, 'transfer')
      .map((t) => {
        const g = ourRow(rows, t.backend, 'graceful');
        if (g === undefined || g.p50Ms === undefined || t.p50Ms === undefined) return null;
        return `${t.backend}: transfer ÷ graceful ${(t.p50Ms / g.p50Ms).toFixed(2)}× at p50, ${(t.p99Ms / g.p99Ms).toFixed(2)}× at p99`;
      })
      .filter((line) => line !== null);
    parts.push(
      `### Transfer to a named successor\n\nThe leader is told \`transfer <successor>\`, the successor queued behind a bystander; measured to the successor's "elected" line (ours only: no peer can hand over to a named candidate). Other terms: how often the bystander led in between (must be 0). ${versus.length > 0 ? `Against our graceful handoff in the same run: ${versus.join('; ')}.` : ''}\n\n${latencySection(
        rows,
        'transfer',
        {
          extraHeader: ['other terms'],
          extra: (r) => [String(r.otherTerms ?? 'n/a')],
        },
      )}`,
    );
  }

  parts.push(
    `### Crash failover\n\nExcess = next leader elected − lease expiry (as the independent observer saw it). ${[
      ...new Set(scenarioRows(rows, 'crash').map((r) => `${r.backend}: ${r.expiryMethod}`)),
    ].join('; ')}.${afterDeleteNote(rows, 'crash')}\n\n${latencySection(rows, 'crash', {
      excess: true,
      extraHeader: ['after key deleted p50 / p99:'],
      extra: afterDeleteCell,
    })}${img('crash')}`,
  );

  parts.push(
    `### Pause (SIGSTOP past the lease, then SIGCONT)\n\nTakeover = SIGSTOP → another candidate elected. Stale writes: writes the resumed former leader sent after its successor was elected (accepted/sent by the fenced resource). Stale claim: SIGCONT → the resumed process reports it no longer leads.${afterDeleteNote(rows, 'pause')}\n\n${latencySection(
      rows,
      'pause',
      {
        excess: true,
        extraHeader: [
          'after key deleted p50 / p99:',
          'stale writes accepted / sent:',
          'stale claim p50 / max ms:',
          'leader writes',
        ],
        extra: (r) => [
          afterDeleteCell(r)[0],
          r.staleWrites === null ? 'n/a' : `${r.staleWritesAccepted} / ${r.staleWrites}`,
          `${fmt(r.staleClaimP50Ms)} / ${fmt(r.staleClaimMaxMs)}${r.neverSteppedDown ? ` (${r.neverSteppedDown} never)` : ''}`,
          r.writes ?? '',
        ],
      },
    )}${img('pause')}`,
  );

  const load = scenarioRows(rows, 'renew-load').map((r) => {
    const ours = ourRow(rows, r.backend, 'renew-load');
    return [
      r.backend,
      implName(r),
      r.settings ?? '',
      fmt(r.requestsPerSecond, 2),
      fmt(r.keepalivesPerSecond, 2),
      Object.entries(r.byMethod ?? {})
        .map(([k, v]) => `${k} ${fmt(v, 2)}`)
        .join(', '),
      r.ours ? '' : ratio(ours, r, ['requestsPerSecond']),
    ];
  });
  parts.push(
    `### Renew load (one election: a leader and a follower, steady state)\n\n${table(
      [
        'backend',
        'implementation',
        'settings',
        'requests/s:',
        'keepalives/s:',
        'by method (per s)',
        'peer ÷ ours:',
      ],
      load,
    )}${img('renew-load')}`,
  );

  const scale = scenarioRows(rows, 'scale').map((r) => [
    r.backend,
    implName(r),
    String(r.elections),
    r.campaignMs === null
      ? `**${r.electedAtWindow ?? '?'} elected** by the window`
      : fmt(r.campaignMs),
    fmt(r.cpuPercent, 2),
    fmt(r.rssMb),
    r.peakRssMb === undefined ? '–' : fmt(r.peakRssMb),
    fmt(r.keepalivesPerSecond, 2),
    fmt(r.requestsPerSecond, 2),
  ]);
  parts.push(
    `### Scale (N elections in one process)\n\n${table(
      [
        'backend',
        'implementation',
        'elections:',
        'all elected after ms:',
        'CPU % of a core:',
        'RSS MB:',
        'peak RSS MB:',
        'keepalives/s:',
        'requests/s:',
      ],
      scale,
    )}${img('scale')}`,
  );

  parts.push(
    `### Cold start (${scenarioRows(rows, 'cold-start')[0]?.candidates ?? 3} candidates at once on an expired lease)\n\nFrom spawning the processes (includes Node.js or Go process start-up and imports) and from the winner's own "started" line (printed after its imports, before it connects; etcdctl prints none).\n\n${latencySection(
      rows,
      'cold-start',
      {
        extraHeader: ['from own "started" p50 / max:'],
        extra: (r) => [`${fmt(r.fromStartedP50Ms)} / ${fmt(r.fromStartedMaxMs)}`],
        ratioFields: ['fromStartedP50Ms', 'p50Ms'],
        ratioTitle: 'peer ÷ ours (from "started" p50 / from spawn p50):',
      },
    )}${[
      ...new Set(
        scenarioRows(rows, 'cold-start')
          .map((r) => r.note)
          .filter(Boolean),
      ),
    ]
      .map((n) => `\n${n}.\n`)
      .join('')}${img('cold-start')}`,
  );

  const observed = scenarioRows(rows, 'observe');
  if (observed.length > 0) {
    const lines = observed.map((r) => [
      r.backend,
      implName(r),
      r.change,
      `${r.trials}${r.missedChanges ? ` (+${r.missedChanges} missed)` : ''}${r.missedTakeovers ? ` (${r.missedTakeovers} missed takeover)` : ''}`,
      r.settings ?? '',
      fmt(r.p50Ms),
      fmt(r.p99Ms),
      fmt(r.maxMs),
      fmt(r.minMs),
      r.inProcessP50Ms === undefined ? '–' : `${fmt(r.inProcessP50Ms)} / ${fmt(r.inProcessP99Ms)}`,
      r.fromStopP50Ms === undefined
        ? '–'
        : `${fmt(r.fromStopP50Ms)} / ${fmt(r.fromStopP99Ms)} (${fmt(r.handoffP50Ms)} / ${fmt(r.handoffP99Ms)})`,
    ]);
    const candidates = [...new Set(observed.map((r) => `${r.backend}: ${r.candidates}`))];
    parts.push(
      `### Observing the leader (\`leader-elect watch\`, \`observeLeader\`)\n\nTwo candidates of ours change leader — graceful: the leader steps down; crash: it is SIGKILLed and the change becomes visible at expiry — while every observer follows the election from a process of its own: \`leader-elect watch --json\`, \`observeLeader()\` in a small program, the same with the backend's push channels hidden (poll-only, every 2 s: the baseline, how \`watch\` followed etcd before it used the backend's watch) and the backend's own observers. Latency: from the new leader's own "elected" line (its clock, stamped in onStartedLeading) to the harness reading the observer's line that names it; below 0 the observer knew before the new leader announced itself (on etcd both react to the same deletion of the old leader's key). Own clock: the observer's own stamp instead of the harness's (no pipe hop). From stop: graceful changes, from the harness writing the stop command (in brackets: the new leader's own "elected" line from it, the graceful handoff). Candidates: ${candidates.join('; ')}.\n\n${table(
        [
          'backend',
          'observer',
          'change',
          'changes:',
          'settings',
          'p50 ms:',
          'p99 ms:',
          'max ms:',
          'min ms:',
          'own clock p50 / p99:',
          'from stop p50 / p99 (new leader):',
        ],
        lines,
      )}${img('observe')}`,
    );
  }

  if (meta.skipped.length > 0) {
    parts.push(
      `### Not measured in this run\n\n${meta.skipped
        .map(
          (s) =>
            `- ${s.backend}${s.scenario ? ` ${s.scenario}` : ''}${s.implementation ? ` ${s.implementation}` : ''}: ${s.reason}`,
        )
        .join('\n')}\n`,
    );
  }
  return parts.filter((p) => !p.includes('_No rows in this run._')).join('\n');
}
