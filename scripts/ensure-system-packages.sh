#!/usr/bin/env bash
# Installs the Debian packages the integration tests use, when they are missing:
#   etcd-server, etcd-client  etcd 3.4 as a second server version and `etcdctl elect` for interop
#   haproxy                   the load balancer in front of two kube-apiservers (HA tests)
#   openssl                   test certificates
#   faketime, libfaketime     clock-rate skew of chaos candidates (npm run chaos: LD_PRELOAD)
#   postgresql-15             the PostgreSQL server of the postgres tests and benchmarks (initdb + postgres)
#   util-linux                setpriv: PostgreSQL refuses root, so it runs as nobody
# Everything else (etcd 3.6, kube-apiserver, the Go peers) is built from source by test/env.
set -euo pipefail
need=()
command -v /usr/bin/etcd >/dev/null 2>&1 || need+=(etcd-server)
command -v /usr/bin/etcdctl >/dev/null 2>&1 || need+=(etcd-client)
command -v haproxy >/dev/null 2>&1 || need+=(haproxy)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v faketime >/dev/null 2>&1 || need+=(faketime)
compgen -G '/usr/lib/*/faketime/libfaketime.so.1' >/dev/null || need+=(libfaketime)
[ -x /usr/lib/postgresql/15/bin/postgres ] || need+=(postgresql-15)
command -v setpriv >/dev/null 2>&1 || need+=(util-linux)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "[env] missing Debian packages: ${need[*]} (install them with apt-get; tests that need them will fail)" >&2
  exit 0
fi
echo "[env] installing Debian packages: ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
