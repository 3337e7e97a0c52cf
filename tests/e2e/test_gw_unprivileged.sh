#!/bin/bash
# wgfwd-gateway as wgfwd-gateway.service runs it, without systemd as PID 1: the unit's
# essentials by hand. It starts as a user of its own (no passwd entry needed, no supplementary
# groups) with CAP_NET_ADMIN as its only capability (ambient, and the bounding set) and
# no_new_privs; its key is the copy in a credentials directory that only that user may read
# (as LoadCredential= leaves it on ramfs: 0500 and 0400, owned by the user), while the file the
# peer line names stays root's 0600; its state and status socket sit in directories it owns
# (StateDirectory=, RuntimeDirectory=). Checked: it programs its table and serves the agent, a
# forward brings the client's real address to a container, its state is saved as that user,
# root's `wgfwd status` reads its socket, the kernel shows the uid and CAP_NET_ADMIN alone, and
# the same credentials cannot write a root-owned file nor read the key on disk.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/wgfwd.sh"

GW_UID=61234
UNIT_DIR=$LAB_RUN/gw-unit
CREDS=$UNIT_DIR/credentials
GATEWAY_STATE=$UNIT_DIR/state
RUNTIME=$UNIT_DIR/run
GATEWAY_SOCK=$RUNTIME/gateway.sock
ROOT_FILE=$UNIT_DIR/root-owned
CAP_NET_ADMIN_ONLY=0000000000001000 # bit 12

rm -rf "$UNIT_DIR"
mkdir -p "$CREDS" "$GATEWAY_STATE" "$RUNTIME"
wgfwd_key
cp "$WGFWD_KEY" "$CREDS/$(basename "$WGFWD_KEY")"
chown -R "$GW_UID:$GW_UID" "$CREDS" "$GATEWAY_STATE" "$RUNTIME"
chmod 0400 "$CREDS/$(basename "$WGFWD_KEY")"
chmod 0500 "$CREDS"
chmod 0700 "$GATEWAY_STATE"
chmod 0750 "$RUNTIME"
echo "root's" >"$ROOT_FILE"
chmod 0644 "$ROOT_FILE"
on_exit rm -rf "$UNIT_DIR"
on_exit on gw "$WGFWD_BIN/wgfwd-gateway" --public-interface "$LAB_GW_PUB_IF" --cleanup
on_exit on srv "$WGFWD_BIN/wgfwd-agent" --interface "$LAB_SRV_WG_IF" --cleanup
on_exit agent_stop
on_exit gateway_stop

# What User=, AmbientCapabilities=, CapabilityBoundingSet= and NoNewPrivileges= do.
as_user() {
	local uid=$1 caps=$2
	shift 2
	setpriv --reuid="$uid" --regid="$uid" --clear-groups --inh-caps="-all,$caps" \
		--ambient-caps="-all,$caps" --bounding-set="-all,$caps" --no-new-privs "$@"
}

check "the key file the peer line names is root's alone" \
	output_is "0 600" stat -c '%u %a' "$WGFWD_KEY"
check_fails "the service's user cannot read it" \
	as_user "$GW_UID" +net_admin cat "$WGFWD_KEY"

lab_spawn gateway gw setpriv --reuid="$GW_UID" --regid="$GW_UID" --clear-groups \
	--inh-caps=-all,+net_admin --ambient-caps=-all,+net_admin --bounding-set=-all,+net_admin \
	--no-new-privs env CREDENTIALS_DIRECTORY="$CREDS" \
	"$WGFWD_BIN/wgfwd-gateway" --foreground \
	--interface "$LAB_GW_WG_IF" --public-interface "$LAB_GW_PUB_IF" \
	--peer "$LAB_SRV_WG4,$LAB_SRV_WG6=$WGFWD_KEY" --state-dir "$GATEWAY_STATE" \
	--status-socket "$GATEWAY_SOCK" --log-level debug
check "root's wgfwd status reads the socket in the service's runtime directory" \
	wait_until 10 on gw "$WGFWD_BIN/wgfwd" status --socket "$GATEWAY_SOCK"
gw=$(pgrep -f -- "--status-socket $GATEWAY_SOCK" | head -n 1)

status_field() {
	awk -v f="$1:" '$1 == f {$1 = ""; sub(/^ /, ""); print}' "/proc/$gw/status"
}
check_eq "the daemon runs as the service's user (real, effective, saved, file system)" \
	"$GW_UID $GW_UID $GW_UID $GW_UID" status_field Uid
check_eq "and its group" "$GW_UID $GW_UID $GW_UID $GW_UID" status_field Gid
check_eq "with no supplementary groups" "" status_field Groups
check_eq "CAP_NET_ADMIN is its only effective capability" $CAP_NET_ADMIN_ONLY status_field CapEff
check_eq "and its only permitted one" $CAP_NET_ADMIN_ONLY status_field CapPrm
check_eq "its bounding set holds nothing else" $CAP_NET_ADMIN_ONLY status_field CapBnd
check_eq "nothing is passed on to what it might run" 0000000000000000 status_field CapAmb
check_eq "no_new_privs is set" 1 status_field NoNewPrivs
check_match "its log says who it runs as" "running as uid $GW_UID gid $GW_UID with CAP_NET_ADMIN only" \
	gateway_log
check_fails "its log has no warning about running as root" grep -q 'running as root' \
	"$LAB_RUN/bg/gateway.log"

# The same credentials, read from the kernel's view of the daemon, against root's files.
uid=$(status_field Uid | cut -d' ' -f1)
check "as root, the file can be written (the check below can fail)" \
	sh -c "echo more >>'$ROOT_FILE'"
check_fails "with the daemon's uid and capabilities, a root-owned file cannot be written" \
	as_user "$uid" +net_admin sh -c "echo more >>'$ROOT_FILE'"
check_fails "nor a file made in a root-owned directory" \
	as_user "$uid" +net_admin touch "$UNIT_DIR/planted"
check_fails "nor can it become root again" as_user "$uid" +net_admin setpriv --reuid=0 true

check "the gateway's table is in the kernel" on gw nft list table inet wgfwd_gateway
agent_start --gateway "$LAB_GW_WG4" --key "$WGFWD_KEY"
check "the agent connects to it" wait_until 10 output_is true agent_jq .gateway.connected
lab_web_start web --label wgfwd.ports=80
check "the forward is programmed by the unprivileged gateway" \
	wait_until 10 on gw nft get element inet wgfwd_gateway fwd4 "{ tcp . 80 }"
check_eq "the client's real address reaches the container through it" "$LAB_CLIENT4" \
	wait_until 10 lab_http_get client "$LAB_GW_PUB4"
check_eq "its state is saved, owned by the service's user" "$GW_UID 600" \
	wait_until 5 sh -c "stat -c '%u %a' '$GATEWAY_STATE'/*.json"
check "the daemon is still up" kill -0 "$gw"
check_match "wgfwd doctor --gateway says who it runs as" \
	"^\[ok  \] wgfwd-gateway \(pid $gw\) runs as uid $GW_UID with CAP_NET_ADMIN only" \
	on gw "$WGFWD_BIN/wgfwd" doctor --gateway --interface "$LAB_GW_WG_IF" \
	--public-interface "$LAB_GW_PUB_IF" --socket "$GATEWAY_SOCK"

# Started as root without `user =' (as the other scenarios do), it keeps working but says so.
gateway_stop
GATEWAY_STATE=$UNIT_DIR/root-state
gateway_start
check_match "a gateway left as root warns in its log, with the way out" \
	'running as root \(uid 0\) with CAP_NET_ADMIN only: .*User=wgfwd.*user = wgfwd' gateway_log
check_match "and wgfwd doctor --gateway warns" \
	'^\[WARN\] wgfwd-gateway \(pid [0-9]+\) runs as root \(uid 0\)' \
	on gw "$WGFWD_BIN/wgfwd" doctor --gateway --interface "$LAB_GW_WG_IF" \
	--public-interface "$LAB_GW_PUB_IF" --socket "$GATEWAY_SOCK"
