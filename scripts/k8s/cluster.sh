#!/usr/bin/env bash
# A one-node Kubernetes cluster on this machine, without Docker and without systemd:
# containerd + runc + the CNI bridge plugin from Debian, etcd, kube-apiserver, the
# controller-manager, the scheduler, the kubelet, kube-proxy and CoreDNS built from Go
# modules by scripts/k8s/build.sh. This script starts and supervises the daemons itself.
#
# Usage: scripts/k8s/cluster.sh up|down|status|kubeconfig
#   up          start what is not running (idempotent); prints the kubeconfig path
#   down        stop everything it started and put the host back as it found it
#               (processes, pods and their mounts, network namespaces, the bridge,
#               iptables rules, ip_forward and bridge-nf-call-iptables)
#   status      each component: running or not, and the node's readiness
#   kubeconfig  print the admin kubeconfig path (export KUBECONFIG=$(... kubeconfig))
#
# Addresses: etcd, the controller-manager, the scheduler and every health/metrics port bind
# to 127.0.0.1. What pods must reach (the API server, the kubelet, CoreDNS) binds to the
# node address, the gateway address of the bridge this script creates (10.244.0.1 on
# bobaku0), which exists only on this host and is not routed anywhere else. Pod traffic
# is not masqueraded out: pods reach the node and each other, nothing beyond.
#
# Environment:
#   BOBAKU_CLUSTER_DIR  state (certificates, configs, logs, pids, data) — default
#                       ${XDG_STATE_HOME:-~/.local/state}/bobaku-cluster
#   BOBAKU_CACHE        the build cache (scripts/k8s/build.sh)
# Needs root (containerd, the kubelet, iptables).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUILD=$HERE/build.sh
DIR=${BOBAKU_CLUSTER_DIR:-${XDG_STATE_HOME:-$HOME/.local/state}/bobaku-cluster}
PKI=$DIR/pki
CONF=$DIR/conf
LOGS=$DIR/logs
PIDS=$DIR/pids
SAVED=$DIR/saved

NODE_NAME=bobaku-node
BRIDGE=bobaku0
POD_CIDR=10.244.0.0/24
NODE_IP=10.244.0.1
SERVICE_CIDR=10.96.0.0/24
SERVICE_API_IP=10.96.0.1
API_PORT=6443
ETCD_CLIENT=127.0.0.1:12379
ETCD_PEER=127.0.0.1:12380
CONTAINERD_SOCK=/run/bobaku-containerd/containerd.sock
CONTAINERD_ROOT=$DIR/containerd
CONTAINERD_STATE=/run/bobaku-containerd
KUBELET_ROOT=$DIR/kubelet
CLUSTER_DOMAIN=cluster.local
# Daemons in start order (stopped in reverse).
COMPONENTS=(containerd etcd kube-apiserver kube-controller-manager kube-scheduler coredns kubelet kube-proxy)

log() { printf '[cluster] %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

# The last lines of a component's log, and where the rest is.
fail_with_log() {
	local name=$1 msg=$2
	log "error: $msg"
	if [[ -r $LOGS/$name.log ]]; then
		log "last lines of $LOGS/$name.log:"
		tail -n 20 "$LOGS/$name.log" | sed 's/^/[cluster]   | /' >&2
	fi
	die "$name did not start; read $LOGS/$name.log"
}

need_root() { [[ $(id -u) == 0 ]] || die "run as root (containerd, the kubelet and iptables need it)"; }

bin() {
	# The cached path of a built component (build.sh prints it; builds it on first use).
	"$BUILD" "$1" | tail -n 1
}

binaries() {
	log "making sure the node's binaries are built (scripts/k8s/build.sh node)…"
	"$BUILD" node >/dev/null || die "building the node's binaries failed (see the messages above)"
	local v
	v=$("$BUILD" versions)
	K8S_VERSION=$(awk '$1 == "kube-apiserver" { print $2 }' <<<"$v")
	ETCD_VERSION=$(awk '$1 == "etcd" { print $2 }' <<<"$v")
	COREDNS_VERSION=$(awk '$1 == "coredns" { print $2 }' <<<"$v")
	CRICTL_VERSION=$(awk '$1 == "crictl" { print $2 }' <<<"$v")
	local cache=${BOBAKU_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/bobaku}/bin
	KUBE_APISERVER=$cache/kube-apiserver-$K8S_VERSION
	KUBELET=$cache/kubelet-$K8S_VERSION
	KCM=$cache/kube-controller-manager-$K8S_VERSION
	SCHEDULER=$cache/kube-scheduler-$K8S_VERSION
	KUBE_PROXY=$cache/kube-proxy-$K8S_VERSION
	PAUSE=$cache/pause-$K8S_VERSION
	COREDNS=$cache/coredns-$COREDNS_VERSION
	CRICTL=$cache/crictl-$CRICTL_VERSION
	ETCD=$cache/etcd-$ETCD_VERSION
	[[ -x $ETCD ]] || ETCD=$(command -v etcd)
	SANDBOX_IMAGE=bobaku.local/pause:$K8S_VERSION
	CNI_BIN=/usr/lib/cni
	[[ -x $CNI_BIN/bridge ]] || CNI_BIN=/opt/cni/bin
}

# ------------------------------------------------------------------- certificates ---
# One CA signs everything: the API server's serving certificate, a client certificate per
# component (its user and group are what RBAC and the Node authorizer see), and the
# kubelet's serving certificate. A service-account key pair signs pod tokens.
cert() {
	local name=$1 cn=$2 org=$3 sans=${4:-}
	[[ -s $PKI/$name.crt ]] && return
	local subj="/CN=$cn" ext=$PKI/$name.ext
	[[ -n $org ]] && subj="/O=$org$subj"
	openssl genrsa -out "$PKI/$name.key" 2048 2>/dev/null
	openssl req -new -key "$PKI/$name.key" -subj "$subj" -out "$PKI/$name.csr" 2>/dev/null
	{
		echo "basicConstraints=CA:FALSE"
		echo "keyUsage=critical,digitalSignature,keyEncipherment"
		if [[ -n $sans ]]; then
			echo "extendedKeyUsage=serverAuth,clientAuth"
			echo "subjectAltName=$sans"
		else
			echo "extendedKeyUsage=clientAuth"
		fi
	} >"$ext"
	openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial \
		-days 3650 -sha256 -extfile "$ext" -out "$PKI/$name.crt" 2>/dev/null
	rm -f "$PKI/$name.csr" "$ext"
}

kubeconfig_for() {
	local name=$1 user=$2
	cat >"$CONF/$name.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: bobaku
  cluster:
    certificate-authority: $PKI/ca.crt
    server: https://$NODE_IP:$API_PORT
users:
- name: $user
  user:
    client-certificate: $PKI/$name.crt
    client-key: $PKI/$name.key
contexts:
- name: bobaku
  context: {cluster: bobaku, user: $user}
current-context: bobaku
EOF
}

make_pki() {
	mkdir -p "$PKI" "$CONF"
	chmod 700 "$PKI"
	if [[ ! -s $PKI/ca.crt ]]; then
		log "creating the cluster's certificates in $PKI"
		openssl genrsa -out "$PKI/ca.key" 2048 2>/dev/null
		openssl req -x509 -new -key "$PKI/ca.key" -subj "/CN=bobaku-cluster-ca" -days 3650 \
			-sha256 -out "$PKI/ca.crt" 2>/dev/null
	fi
	local dns="DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc"
	dns+=",DNS:kubernetes.default.svc.$CLUSTER_DOMAIN,DNS:localhost"
	cert apiserver kube-apiserver "" "$dns,IP:$NODE_IP,IP:$SERVICE_API_IP,IP:127.0.0.1"
	cert apiserver-kubelet-client kube-apiserver-kubelet-client system:masters
	cert admin bobaku-admin system:masters
	cert kube-controller-manager system:kube-controller-manager ""
	cert kube-scheduler system:kube-scheduler ""
	cert kube-proxy system:kube-proxy ""
	cert kubelet "system:node:$NODE_NAME" system:nodes
	cert kubelet-serving "system:node:$NODE_NAME" system:nodes "DNS:$NODE_NAME,IP:$NODE_IP,IP:127.0.0.1"
	cert coredns system:coredns ""
	if [[ ! -s $PKI/sa.key ]]; then
		openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null
		openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
	fi
	local c
	for c in admin kube-controller-manager kube-scheduler kube-proxy kubelet coredns; do
		kubeconfig_for "$c" "$c"
	done
}

# ---------------------------------------------------------------- configuration ---
# put FILE: stdin into FILE, only when it differs. kube-proxy exits when its configuration
# file is written to, even with the same content, so a second `up` must not touch it.
put() {
	local tmp
	tmp=$(mktemp "$1.XXXXXX")
	cat >"$tmp"
	if cmp -s "$tmp" "$1"; then rm -f "$tmp"; else mv "$tmp" "$1"; fi
}

write_configs() {
	mkdir -p "$CONF/cni" "$LOGS" "$PIDS" "$SAVED" "$CONTAINERD_ROOT" "$KUBELET_ROOT"
	put "$CONF/containerd.toml" <<EOF
version = 2
root = "$CONTAINERD_ROOT"
state = "$CONTAINERD_STATE"
[grpc]
  address = "$CONTAINERD_SOCK"
[ttrpc]
  address = "$CONTAINERD_SOCK.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$SANDBOX_IMAGE"
  enable_selinux = false
  disable_apparmor = true
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$CNI_BIN"
    conf_dir = "$CONF/cni"
    max_conf_num = 1
EOF
	# The bridge plugin attaches each pod to bobaku0 (created below with the node
	# address); host-local hands out addresses; no ipMasq: nothing leaves the host.
	put "$CONF/cni/10-bobaku.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "bobaku",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$BRIDGE",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": "$POD_CIDR", "gateway": "$NODE_IP"}]],
        "routes": [{"dst": "0.0.0.0/0"}],
        "dataDir": "$DIR/cni-ipam"
      }
    },
    {"type": "loopback"}
  ]
}
EOF
	printf 'runtime-endpoint: unix://%s\nimage-endpoint: unix://%s\ntimeout: 20\n' \
		"$CONTAINERD_SOCK" "$CONTAINERD_SOCK" | put "$CONF/crictl.yaml"
	# Pods with dnsPolicy Default get this (no outside resolver: nothing leaves the host).
	printf 'nameserver %s\n' "$NODE_IP" | put "$CONF/resolv.conf"
	put "$CONF/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
containerRuntimeEndpoint: unix://$CONTAINERD_SOCK
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $PKI/ca.crt}
authorization: {mode: Webhook}
clusterDomain: $CLUSTER_DOMAIN
clusterDNS: [$NODE_IP]
resolvConf: $CONF/resolv.conf
tlsCertFile: $PKI/kubelet-serving.crt
tlsPrivateKeyFile: $PKI/kubelet-serving.key
rotateCertificates: false
serializeImagePulls: false
maxPods: 110
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: 100Mi, nodefs.available: 2%, imagefs.available: 2%}
podPidsLimit: 4096
makeIPTablesUtilChains: false
EOF
	put "$CONF/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
hostnameOverride: $NODE_NAME
bindAddress: 127.0.0.1
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
clusterCIDR: $POD_CIDR
nodePortAddresses: ["$NODE_IP/32"]
clientConnection: {kubeconfig: $CONF/kube-proxy.kubeconfig}
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
iptables: {masqueradeAll: true}
EOF
	put "$CONF/Corefile" <<EOF
.:53 {
    bind $NODE_IP
    errors
    health 127.0.0.1:18180
    ready 127.0.0.1:18181
    kubernetes $CLUSTER_DOMAIN in-addr.arpa ip6.arpa {
        kubeconfig $CONF/coredns.kubeconfig
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }
    cache 10
}
EOF
}

# ------------------------------------------------------------------ host network ---
# Record a sysctl's value once (the first `up`), so `down` restores what was there.
save_sysctl() {
	local key=$1 value=$2 file=$SAVED/${1//\//.}.sysctl
	[[ -e /proc/sys/$key ]] || return 0
	[[ -e $file ]] || cat "/proc/sys/$key" >"$file"
	echo "$value" >"/proc/sys/$key"
}

restore_sysctls() {
	local f key
	for f in "$SAVED"/*.sysctl; do
		[[ -e $f ]] || continue
		key=$(basename "$f" .sysctl)
		key=${key//.//}
		[[ -e /proc/sys/$key ]] && cat "$f" >"/proc/sys/$key" 2>/dev/null || true
		rm -f "$f"
	done
}

host_network() {
	if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
		ip link add "$BRIDGE" type bridge || die "cannot create the bridge $BRIDGE"
	fi
	# Not `ip addr show | grep -q`: under pipefail, grep's early exit can fail the pipe
	# (SIGPIPE), and a second `up` then added the address again ("already assigned").
	local addresses
	addresses=$(ip -4 addr show dev "$BRIDGE")
	[[ $addresses == *"inet $NODE_IP/"* ]] || ip addr add "$NODE_IP/24" dev "$BRIDGE"
	ip link set "$BRIDGE" up
	# Which iptables chains existed before us: down removes only the ones we added.
	local t
	for t in iptables ip6tables; do
		command -v "$t-save" >/dev/null || continue
		[[ -e $SAVED/$t.rules ]] || "$t-save" >"$SAVED/$t.rules" 2>/dev/null || true
	done
	[[ -e $SAVED/before.netns ]] || { ip netns list 2>/dev/null | awk '{print $1}' >"$SAVED/before.netns"; }
	# The CNI plugins' `ip netns` bind-mounts /run/netns on itself on first use: down
	# undoes that when it was not so before.
	if [[ ! -e $SAVED/run-netns ]]; then
		if mountpoint -q /run/netns 2>/dev/null; then echo mounted; elif [[ -d /run/netns ]]; then echo dir; else echo none; fi >"$SAVED/run-netns"
	fi
	save_sysctl net/ipv4/ip_forward 1
	save_sysctl net/bridge/bridge-nf-call-iptables 1
}

# ------------------------------------------------------------------- processes ---
running() {
	local pid
	[[ -r $PIDS/$1.pid ]] || return 1
	pid=$(cat "$PIDS/$1.pid")
	[[ -n $pid ]] && kill -0 "$pid" 2>/dev/null
}

# start NAME READY-CHECK COMMAND...: run COMMAND detached (own session, output to its log),
# record its PID, then wait until READY-CHECK succeeds.
start() {
	local name=$1 check=$2
	shift 2
	if running "$name"; then
		return 0
	fi
	log "starting $name (log: $LOGS/$name.log)"
	setsid "$@" >>"$LOGS/$name.log" 2>&1 </dev/null &
	echo $! >"$PIDS/$name.pid"
	local i
	for ((i = 0; i < 180; i++)); do
		running "$name" || fail_with_log "$name" "$name exited while starting"
		if "$check" >/dev/null 2>&1; then
			return 0
		fi
		sleep 1
	done
	fail_with_log "$name" "$name was not ready after 180s"
}

kubectl_() { "$KUBECTL" --kubeconfig "$CONF/admin.kubeconfig" "$@"; }

https_ok() { curl -fsS --max-time 2 --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" "$1"; }
ready_containerd() { "$CRICTL" --config "$CONF/crictl.yaml" info; }
ready_etcd() { curl -fsS --max-time 2 "http://$ETCD_CLIENT/health"; }
ready_apiserver() { https_ok "https://$NODE_IP:$API_PORT/readyz"; }
ready_kcm() { curl -fsSk --max-time 2 https://127.0.0.1:10257/healthz; }
ready_scheduler() { curl -fsSk --max-time 2 https://127.0.0.1:10259/healthz; }
ready_coredns() { curl -fsS --max-time 2 http://127.0.0.1:18181/ready; }
ready_kubelet() { curl -fsS --max-time 2 http://127.0.0.1:10248/healthz; }
ready_proxy() { curl -fsS --max-time 2 http://127.0.0.1:10256/healthz; }

import_sandbox_image() {
	local ctr=(ctr --address "$CONTAINERD_SOCK" -n k8s.io)
	"${ctr[@]}" images check "name==$SANDBOX_IMAGE" 2>/dev/null | grep -q "$SANDBOX_IMAGE" && return
	log "importing the sandbox image $SANDBOX_IMAGE (static pause from pause.c)"
	python3 "$HERE/image.py" pause --binary "$PAUSE" --tag "$SANDBOX_IMAGE" --out "$DIR/pause.tar" >&2 ||
		die "could not pack the pause image"
	"${ctr[@]}" images import "$DIR/pause.tar" >&2 || die "ctr images import $DIR/pause.tar failed"
}

up() {
	need_root
	binaries
	KUBECTL=$(kubectl_bin)
	make_pki
	write_configs
	host_network
	start containerd ready_containerd containerd --config "$CONF/containerd.toml"
	import_sandbox_image
	start etcd ready_etcd "$ETCD" --name bobaku --data-dir "$DIR/etcd" \
		--listen-client-urls "http://$ETCD_CLIENT" --advertise-client-urls "http://$ETCD_CLIENT" \
		--listen-peer-urls "http://$ETCD_PEER" --initial-advertise-peer-urls "http://$ETCD_PEER" \
		--initial-cluster "bobaku=http://$ETCD_PEER" --listen-metrics-urls http://127.0.0.1:12381 \
		--quota-backend-bytes 2147483648 --log-level warn
	start kube-apiserver ready_apiserver "$KUBE_APISERVER" \
		--etcd-servers "http://$ETCD_CLIENT" \
		--bind-address "$NODE_IP" --advertise-address "$NODE_IP" --secure-port "$API_PORT" \
		--service-cluster-ip-range "$SERVICE_CIDR" \
		--client-ca-file "$PKI/ca.crt" \
		--tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" \
		--kubelet-client-certificate "$PKI/apiserver-kubelet-client.crt" \
		--kubelet-client-key "$PKI/apiserver-kubelet-client.key" \
		--service-account-key-file "$PKI/sa.pub" --service-account-signing-key-file "$PKI/sa.key" \
		--service-account-issuer "https://kubernetes.default.svc.$CLUSTER_DOMAIN" \
		--authorization-mode Node,RBAC --allow-privileged=true \
		--kubelet-preferred-address-types InternalIP \
		--enable-admission-plugins NodeRestriction \
		--profiling=false --v=1
	start kube-controller-manager ready_kcm "$KCM" \
		--kubeconfig "$CONF/kube-controller-manager.kubeconfig" \
		--authentication-kubeconfig "$CONF/kube-controller-manager.kubeconfig" \
		--authorization-kubeconfig "$CONF/kube-controller-manager.kubeconfig" \
		--bind-address 127.0.0.1 --leader-elect=false \
		--service-account-private-key-file "$PKI/sa.key" --root-ca-file "$PKI/ca.crt" \
		--cluster-signing-cert-file "$PKI/ca.crt" --cluster-signing-key-file "$PKI/ca.key" \
		--use-service-account-credentials=true --service-cluster-ip-range "$SERVICE_CIDR" \
		--profiling=false --v=1
	start kube-scheduler ready_scheduler "$SCHEDULER" \
		--kubeconfig "$CONF/kube-scheduler.kubeconfig" \
		--authentication-kubeconfig "$CONF/kube-scheduler.kubeconfig" \
		--authorization-kubeconfig "$CONF/kube-scheduler.kubeconfig" \
		--bind-address 127.0.0.1 --leader-elect=false --profiling=false --v=1
	rbac_for_coredns
	start coredns ready_coredns "$COREDNS" -conf "$CONF/Corefile"
	start kubelet ready_kubelet "$KUBELET" --config "$CONF/kubelet.yaml" \
		--kubeconfig "$CONF/kubelet.kubeconfig" --hostname-override "$NODE_NAME" \
		--node-ip "$NODE_IP" --root-dir "$KUBELET_ROOT" --v=1
	start kube-proxy ready_proxy "$KUBE_PROXY" --config "$CONF/kube-proxy.yaml"
	wait_node_ready
	log "cluster up: export KUBECONFIG=$CONF/admin.kubeconfig"
	echo "$CONF/admin.kubeconfig"
}

rbac_for_coredns() {
	kubectl_ apply -f - >/dev/null <<EOF || die "cannot create CoreDNS's RBAC (log: $LOGS/kube-apiserver.log)"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "system:coredns"}
rules:
- apiGroups: [""]
  resources: [endpoints, services, pods, namespaces]
  verbs: [list, watch]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "system:coredns"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:coredns"}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: User, name: "system:coredns"}
EOF
}

wait_node_ready() {
	local i
	for ((i = 0; i < 120; i++)); do
		if [[ $(kubectl_ get node "$NODE_NAME" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null) == True ]]; then
			# The default service account must exist before pods can be created.
			kubectl_ -n default get serviceaccount default >/dev/null 2>&1 && return 0
		fi
		sleep 1
	done
	kubectl_ describe node "$NODE_NAME" >&2 || true
	fail_with_log kubelet "the node did not become Ready in 120s"
}

# kubectl at the cluster's release, built with the node's components.
kubectl_bin() { "$BUILD" kubectl | tail -n 1; }

stop_pid() {
	local name=$1 pid i
	running "$name" || {
		rm -f "$PIDS/$name.pid"
		return 0
	}
	pid=$(cat "$PIDS/$name.pid")
	log "stopping $name (pid $pid)"
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 30; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.5
	done
	kill -KILL "$pid" 2>/dev/null || true
	rm -f "$PIDS/$name.pid"
}

# Every containerd-shim started for our socket (they outlive containerd by design).
our_shims() {
	local p
	for p in /proc/[0-9]*; do
		{ tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null | grep -q -- "containerd-shim.*-address $CONTAINERD_SOCK" &&
			basename "$p"
	done
	return 0
}

down() {
	need_root
	[[ -d $DIR ]] || {
		log "nothing to stop ($DIR does not exist)"
		return 0
	}
	local crictl
	crictl=$(ls "${BOBAKU_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/bobaku}"/bin/crictl-* 2>/dev/null | tail -n 1 || true)
	stop_pid kube-proxy
	stop_pid kubelet
	# Remove every pod sandbox through the CRI: that stops containers, tears down their
	# network (CNI DEL) and unmounts their filesystems.
	if running containerd && [[ -n $crictl ]]; then
		local cri=("$crictl" --config "$CONF/crictl.yaml")
		"${cri[@]}" stopp $("${cri[@]}" pods -q 2>/dev/null) >/dev/null 2>&1 || true
		"${cri[@]}" rmp -f $("${cri[@]}" pods -q 2>/dev/null) >/dev/null 2>&1 || true
	fi
	local c i
	for ((i = ${#COMPONENTS[@]} - 1; i >= 0; i--)); do
		c=${COMPONENTS[i]}
		stop_pid "$c"
	done
	local shims
	shims=$(our_shims)
	if [[ -n $shims ]]; then
		log "stopping containerd shims: $shims"
		# shellcheck disable=SC2086
		kill -KILL $shims 2>/dev/null || true
	fi
	# Mounts left under our directories (overlay snapshots, kubelet volumes, shm).
	local m
	while read -r m; do
		umount -l "$m" 2>/dev/null || true
	done < <(awk -v a="$DIR" -v b="$CONTAINERD_STATE" '$2 ~ "^"a || $2 ~ "^"b { print $2 }' /proc/mounts | sort -r)
	# Network namespaces the CRI made (the ones not there before our first `up`).
	local ns
	while read -r ns; do
		[[ -n $ns ]] || continue
		grep -qx "$ns" "$SAVED/before.netns" 2>/dev/null && continue
		[[ $ns == cni-* ]] && ip netns delete "$ns" 2>/dev/null || true
	done < <(ip netns list 2>/dev/null | awk '{print $1}')
	local was_netns
	was_netns=$(cat "$SAVED/run-netns" 2>/dev/null || echo mounted)
	if [[ $was_netns != mounted ]] && mountpoint -q /run/netns 2>/dev/null && [[ -z $(ls -A /run/netns) ]]; then
		umount /run/netns 2>/dev/null || true
		[[ $was_netns == none ]] && rmdir /run/netns 2>/dev/null || true
	fi
	rm -f "$SAVED/run-netns"
	ip link show "$BRIDGE" >/dev/null 2>&1 && ip link delete "$BRIDGE"
	restore_iptables
	restore_sysctls
	# The kubelet's cgroups (kubepods/...), deepest first.
	local cg
	for cg in /sys/fs/cgroup/*/kubepods; do
		[[ -d $cg ]] && find "$cg" -depth -type d -exec rmdir {} \; 2>/dev/null || true
	done
	rm -rf "$CONTAINERD_STATE" "$DIR/cni-ipam"
	log "cluster down (state kept in $DIR; delete it for a fresh cluster)"
}

# Remove the chains kube-proxy, the kubelet and the CNI plugins added (KUBE-*, CNI-*, those
# not there before our first `up`) and the rules that jump to them, one by one with
# `iptables-restore --noflush` (-D, -F, -X): no table is flushed or rewritten, so rules
# anyone else adds meanwhile stay.
restore_iptables() {
	local t table now before ours script
	for t in iptables ip6tables; do
		command -v "$t-save" >/dev/null || continue
		before=$(sed -n 's/^:\([^ ]*\) .*/\1/p' "$SAVED/$t.rules" 2>/dev/null | sort -u || true)
		for table in filter nat mangle raw; do
			now=$("$t-save" -t "$table" 2>/dev/null) || continue
			ours=$(sed -n 's/^:\(\(KUBE\|CNI\)-[^ ]*\) .*/\1/p' <<<"$now" | sort -u |
				grep -vxF -f <(echo "$before") || true)
			[[ -n $ours ]] || continue
			script=$(OURS=$ours awk -v table="$table" '
				BEGIN { n = split(ENVIRON["OURS"], o, "\n"); for (i = 1; i <= n; i++) mine[o[i]] = 1; print "*" table }
				$1 == "-A" && !($2 in mine) {
					for (i = 3; i < NF; i++) if (($i == "-j" || $i == "-g") && ($(i + 1) in mine)) {
						sub(/^-A /, "-D "); print; break
					}
				}
				END {
					for (c in mine) print "-F " c
					for (c in mine) print "-X " c
					print "COMMIT"
				}' <<<"$now")
			"$t-restore" --noflush <<<"$script" 2>>"$LOGS/iptables-down.log" ||
				log "warning: could not remove the $table chains ${ours//$'\n'/ } with $t-restore (log: $LOGS/iptables-down.log)"
		done
	done
	rm -f "$SAVED"/*.rules "$SAVED/before.netns"
}

status() {
	local c rc=0
	for c in "${COMPONENTS[@]}"; do
		if running "$c"; then
			printf '%-24s running (pid %s)\n' "$c" "$(cat "$PIDS/$c.pid")"
		else
			printf '%-24s stopped\n' "$c"
			rc=1
		fi
	done
	if [[ -s $CONF/admin.kubeconfig ]] && running kube-apiserver; then
		binaries 2>/dev/null
		KUBECTL=$(kubectl_bin)
		kubectl_ get nodes -o wide 2>&1 || rc=1
	fi
	echo "KUBECONFIG=$CONF/admin.kubeconfig"
	return $rc
}

main() {
	case ${1:-} in
	up) up ;;
	down) down ;;
	status) status ;;
	kubeconfig) echo "$CONF/admin.kubeconfig" ;;
	*)
		sed -n '7,13{s/^# \{0,1\}//p;}' "${BASH_SOURCE[0]}" >&2
		exit 2
		;;
	esac
}

# Sourced (tests/scripts/test_cluster_down.py): the functions only.
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
	main "$@"
fi
