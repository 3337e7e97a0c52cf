#!/bin/bash
# README's deployment examples, as written, accepted by the daemons' option parsers: each
# block after a `<!-- example: NAME -->` line in README.md is taken verbatim. The config-file
# forms go to --config, the command lines run with --check-config added, and the `docker run`
# lines' -e WGFWD_* settings become the environment of the program inside the image. Running
# them for real is tests/e2e/test_gateway_image.sh's and test_image.sh's part.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
bin=$top/build
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() { echo "check-readme-config: FAIL: $*"; failures=$((failures + 1)); }

# The indented lines after the marker, unindented, up to the first blank line.
example() {
	awk -v name="$1" '
		$0 == "<!-- example: " name " -->" { on = 1; next }
		on && /^$/ { exit }
		on { sub(/^    /, ""); print }' "$top/README.md"
}

# `cmd \` continuation lines joined into one.
joined() {
	example "$1" | sed -e ':a' -e '/\\$/N; s/\\\n//; ta'
}

expect_ok() {
	local what=$1 out
	shift
	out=$("$@" 2>&1)
	local rc=$?
	[ "$rc" = 0 ] && [ "${out##*: }" = "configuration ok" ] ||
		fail "$what: exit $rc: $out"
}

for name in gateway-docker gateway.conf gateway-command agent-docker agent.conf agent-two-gateways.conf; do
	[ -n "$(example "$name")" ] || fail "README.md has no example \`$name'"
done

example gateway.conf >"$tmp/gateway.conf"
expect_ok "README's gateway.conf" env -i "$bin/wgfwd-gateway" --config "$tmp/gateway.conf" --check-config
example agent.conf >"$tmp/agent.conf"
expect_ok "README's agent.conf" env -i "$bin/wgfwd-agent" --config "$tmp/agent.conf" --check-config
example agent-two-gateways.conf >"$tmp/agent2.conf"
expect_ok "README's agent-two-gateways.conf" env -i "$bin/wgfwd-agent" --config "$tmp/agent2.conf" --check-config

# The command line, word for word, with the built program and --check-config.
cmd=$(joined gateway-command | grep '^wgfwd-gateway ')
[ -n "$cmd" ] || fail "no wgfwd-gateway command line in the gateway-command example"
read -r -a words <<<"$cmd"
expect_ok "README's gateway command line" env -i "$bin/${words[0]}" "${words[@]:1}" --check-config

# docker run: the -e settings, as the program in the image gets them.
docker_env() {
	joined "$1" | grep '^docker run' | grep -o -- '-e WGFWD_[A-Z_]*=[^ ]*' | sed 's/^-e //'
}
for pair in "gateway-docker wgfwd-gateway" "agent-docker wgfwd-agent"; do
	set -- $pair
	mapfile -t envs < <(docker_env "$1")
	[ "${#envs[@]}" -gt 0 ] || { fail "no -e WGFWD_ settings in the $1 example"; continue; }
	expect_ok "README's $1 environment (${envs[*]})" env -i "${envs[@]}" "$bin/$2" --check-config
done

# The parser must be able to say no: a broken copy of each config is refused.
sed 's/^public-interface = .*/public-interface = eth0\npeer = 192.168.160.2,fc00::2,x=\/k/' \
	"$tmp/gateway.conf" >"$tmp/bad-gateway.conf"
env -i "$bin/wgfwd-gateway" --config "$tmp/bad-gateway.conf" --check-config >/dev/null 2>&1 &&
	fail "a gateway.conf with a bad peer passes --check-config"
printf 'gateway-link = vps3,wg2,gateway.example\n' >>"$tmp/agent2.conf"
env -i "$bin/wgfwd-agent" --config "$tmp/agent2.conf" --check-config >/dev/null 2>&1 &&
	fail "an agent.conf with a gateway-link naming no address passes --check-config"
printf 'gateway-port = 70000\n' >>"$tmp/agent.conf"
env -i "$bin/wgfwd-agent" --config "$tmp/agent.conf" --check-config >/dev/null 2>&1 &&
	fail "an agent.conf with gateway-port 70000 passes --check-config"

[ "$failures" -eq 0 ] || exit 1
echo "check-readme-config: ok: README's gateway and agent examples (config files, command line, docker run environment) parse"
