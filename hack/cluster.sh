#!/usr/bin/env bash
# The local control plane: a real etcd and kube-apiserver on loopback (no kubelet).
#
#   hack/cluster.sh up                    start (fresh data and PKI), write $DIR/kubeconfig
#   hack/cluster.sh down                  stop exactly the processes `up` started
#   hack/cluster.sh status                say whether it runs
#   hack/cluster.sh restart-apiserver     stop and start kube-apiserver (same flags and data)
#   hack/cluster.sh credentials --service-account NS/NAME   kubeconfig for a ServiceAccount
#   hack/cluster.sh credentials --user NAME [--group G]...  kubeconfig with a client cert
#
# DIR is $WSAUDIT_CLUSTER_DIR, default .cluster in the repository (git-ignored). Tests use
# a directory of their own, so they never touch a control plane started by hand.
#
# The API server binds and advertises an address of its own, and the Service range is on
# loopback too, so that both are addresses the operator refuses (the cluster's own) while
# test servers on 127.0.0.1 stay probe-able, and tests can listen on the API server's
# ClusterIP. kube-apiserver accepts a loopback Service range, but no loopback address in an
# EndpointSlice (so --endpoint-reconciler-type none: the kubernetes Service has none).
set -euo pipefail
hack=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$hack")
dir=${WSAUDIT_CLUSTER_DIR:-$root/.cluster}
bin=$(bash "$hack/build-binaries.sh")
api_address=127.0.60.1
service_range=127.0.62.0/24
api_cluster_ip=127.0.62.1  # the first address of the range: the kubernetes Service's
kubectl="$bin/kubectl"

say() { printf '[cluster] %s\n' "$*" >&2; }
die() { printf '[cluster] error: %s\n' "$*" >&2; exit 1; }

# A PID is ours while it runs (not a zombie left for a non-reaping init) and is still the
# named binary (PIDs are reused).
running() { # running PID NAME
  local state
  state=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
  [[ $state != Z* ]] && tr '\0' ' ' < "/proc/$1/cmdline" 2>/dev/null | grep -q "$2"
}

alive() { [ -f "$dir/$1.pid" ] && running "$(cat "$dir/$1.pid")" "$1"; }

free_port() { # free_port [ADDRESS]
  python3 -c 'import socket,sys; s=socket.socket(); s.bind((sys.argv[1],0)); print(s.getsockname()[1])' \
    "${1:-127.0.0.1}"
}

stop() {
  local stopped=0
  for component in kube-apiserver etcd; do
    if alive "$component"; then
      local pid; pid=$(cat "$dir/$component.pid")
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 100); do running "$pid" "$component" || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
      stopped=1
    fi
    rm -f "$dir/$component.pid"
  done
  if [ -f "$dir/workdir" ]; then rm -rf "$(cat "$dir/workdir")"; fi
  rm -f "$dir/workdir" "$dir/kubeconfig" "$dir/endpoint" "$dir/kube-apiserver.args"
  return $((1 - stopped))
}

pki() { # pki DIR: CA, API server serving cert, admin client cert, service account keys
  local p=$1
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=wsaudit-local-ca" \
    -keyout "$p/ca.key" -out "$p/ca.crt" 2>/dev/null
  cat > "$p/server.ext" <<EXT
subjectAltName=IP:$api_address,IP:$api_cluster_ip,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc
extendedKeyUsage=serverAuth
EXT
  sign "$p" server "/CN=kube-apiserver" "$p/server.ext"
  client_cert "$p" admin "wsaudit-admin" system:masters
  openssl genrsa -out "$p/sa.key" 2048 2>/dev/null
  openssl rsa -in "$p/sa.key" -pubout -out "$p/sa.pub" 2>/dev/null
}

sign() { # sign DIR NAME SUBJECT EXTFILE
  openssl req -newkey rsa:2048 -nodes -subj "$3" -keyout "$1/$2.key" -out "$1/$2.csr" 2>/dev/null
  openssl x509 -req -in "$1/$2.csr" -CA "$1/ca.crt" -CAkey "$1/ca.key" -CAcreateserial \
    -days 2 -extfile "$4" -out "$1/$2.crt" 2>/dev/null
}

client_cert() { # client_cert DIR NAME USER [GROUP...]
  local p=$1 name=$2 user=$3; shift 3
  local subject="/CN=$user"
  for group in "$@"; do subject="/O=$group$subject"; done
  echo "extendedKeyUsage=clientAuth" > "$p/client.ext"
  sign "$p" "$name" "$subject" "$p/client.ext"
}

kubeconfig() { # kubeconfig FILE USER (--client-certificate=... | --token=...)
  local file=$1 user=$2; shift 2
  local endpoint; endpoint=$(cat "$dir/endpoint")
  local work; work=$(cat "$dir/workdir")
  rm -f "$file"
  KUBECONFIG=$file "$kubectl" config set-cluster local --server="$endpoint" \
    --certificate-authority="$work/pki/ca.crt" --embed-certs >/dev/null
  KUBECONFIG=$file "$kubectl" config set-credentials "$user" "$@" >/dev/null
  KUBECONFIG=$file "$kubectl" config set-context local --cluster=local --user="$user" >/dev/null
  KUBECONFIG=$file "$kubectl" config use-context local >/dev/null
}

up() {
  mkdir -p "$dir"
  if alive kube-apiserver && alive etcd; then
    say "already running at $(cat "$dir/endpoint"); use 'make cluster-down' first for a fresh one"
    echo "export KUBECONFIG=$dir/kubeconfig"
    return 0
  fi
  if stop 2>/dev/null; then say "cleaned up a half-running control plane"; fi
  local work; work=$(mktemp -d "${TMPDIR:-/tmp}/wsaudit-cluster.XXXXXX")
  echo "$work" > "$dir/workdir"
  mkdir -p "$work/pki" "$work/etcd"
  pki "$work/pki"
  local etcd_port peer_port api_port
  etcd_port=$(free_port); peer_port=$(free_port); api_port=$(free_port "$api_address")
  say "starting etcd on 127.0.0.1:$etcd_port"
  "$bin/etcd" --name local --data-dir "$work/etcd" \
    --listen-client-urls "http://127.0.0.1:$etcd_port" \
    --advertise-client-urls "http://127.0.0.1:$etcd_port" \
    --listen-peer-urls "http://127.0.0.1:$peer_port" \
    --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
    --initial-cluster "local=http://127.0.0.1:$peer_port" \
    --unsafe-no-fsync --log-level warn >"$work/etcd.log" 2>&1 &
  echo $! > "$dir/etcd.pid"
  # The flags are kept so that restart-apiserver starts the same server again.
  printf '%s\n' \
    --etcd-servers "http://127.0.0.1:$etcd_port" \
    --bind-address "$api_address" --advertise-address "$api_address" --secure-port "$api_port" \
    --tls-cert-file "$work/pki/server.crt" --tls-private-key-file "$work/pki/server.key" \
    --client-ca-file "$work/pki/ca.crt" \
    --service-account-key-file "$work/pki/sa.pub" \
    --service-account-signing-key-file "$work/pki/sa.key" \
    --service-account-issuer https://kubernetes.default.svc \
    --service-cluster-ip-range "$service_range" \
    --authorization-mode RBAC \
    --endpoint-reconciler-type none \
    --profiling=false > "$dir/kube-apiserver.args"
  echo "https://$api_address:$api_port" > "$dir/endpoint"
  start_apiserver
  kubeconfig "$dir/kubeconfig" wsaudit-admin \
    --client-certificate="$work/pki/admin.crt" --client-key="$work/pki/admin.key" --embed-certs
  wait_ready
  say "logs: $work/{etcd,kube-apiserver}.log"
  echo "export KUBECONFIG=$dir/kubeconfig"
}

start_apiserver() {
  say "starting kube-apiserver on $(cat "$dir/endpoint")"
  local args
  mapfile -t args < "$dir/kube-apiserver.args"
  "$bin/kube-apiserver" "${args[@]}" >>"$(cat "$dir/workdir")/kube-apiserver.log" 2>&1 &
  echo $! > "$dir/kube-apiserver.pid"
}

wait_ready() {
  local work; work=$(cat "$dir/workdir")
  local started=$SECONDS
  until KUBECONFIG="$dir/kubeconfig" "$kubectl" get --raw /readyz >/dev/null 2>&1; do
    for component in etcd kube-apiserver; do
      if ! alive "$component"; then
        tail -20 "$work/$component.log" >&2
        stop || true
        die "$component exited (its log is above)"
      fi
    done
    if (( SECONDS - started > 90 )); then
      tail -20 "$work/kube-apiserver.log" >&2; stop || true; die "not ready after 90 s"
    fi
    sleep 0.5
  done
  say "ready in $((SECONDS - started)) s ($("$kubectl" --kubeconfig "$dir/kubeconfig" version -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["serverVersion"]["gitVersion"])'))"
}

restart_apiserver() {
  alive kube-apiserver || die "the control plane is not running (make cluster-up)"
  local pid; pid=$(cat "$dir/kube-apiserver.pid")
  kill "$pid"
  for _ in $(seq 100); do running "$pid" kube-apiserver || break; sleep 0.1; done
  start_apiserver
  wait_ready
}

credentials() {
  alive kube-apiserver || die "the control plane is not running (make cluster-up)"
  local work; work=$(cat "$dir/workdir")
  case "${1:-}" in
    --service-account)
      local ref=${2:?--service-account NS/NAME}
      local ns=${ref%%/*} name=${ref#*/}
      [ "$ns" != "$ref" ] || die "--service-account takes NAMESPACE/NAME"
      local token
      token=$("$kubectl" --kubeconfig "$dir/kubeconfig" -n "$ns" create token "$name" --duration 2h) ||
        die "cannot mint a token for ServiceAccount $ns/$name (does it exist?)"
      local file="$dir/sa-$ns-$name.kubeconfig"
      kubeconfig "$file" "system:serviceaccount:$ns:$name" --token="$token"
      echo "$file" ;;
    --user)
      local user=${2:?--user NAME}; shift 2
      local groups=()
      while [ $# -gt 0 ]; do
        [ "$1" = --group ] || die "unexpected argument $1"
        groups+=("${2:?--group NAME}"); shift 2
      done
      local safe; safe=$(echo "$user" | tr -c 'a-zA-Z0-9-\n' '_')
      client_cert "$work/pki" "user-$safe" "$user" "${groups[@]}"
      local file="$dir/user-$safe.kubeconfig"
      kubeconfig "$file" "$user" --client-certificate="$work/pki/user-$safe.crt" \
        --client-key="$work/pki/user-$safe.key" --embed-certs
      echo "$file" ;;
    *) die "usage: $0 credentials --service-account NS/NAME | --user NAME [--group G]..." ;;
  esac
}

case "${1:-}" in
  up) up ;;
  down)
    if stop; then say "stopped"; else say "not running; nothing to stop"; fi ;;
  status)
    if alive kube-apiserver && alive etcd; then say "running at $(cat "$dir/endpoint")"
    else say "not running"; exit 1; fi ;;
  credentials) shift; credentials "$@" ;;
  restart-apiserver) restart_apiserver ;;
  *) echo "usage: $0 up|down|status|credentials ..." >&2; exit 2 ;;
esac
