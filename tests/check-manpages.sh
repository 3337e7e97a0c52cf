#!/bin/bash
# Keeps the man pages in step with the programs. Each of these is one test:
#   - a page renders without a groff warning;
#   - every --option a program's --help names appears in its page (wgfwd's subcommands too);
#   - every command `wgfwd --help' lists has its own section in wgfwd(1);
#   - every daemon option but --config, --help and --version has its WGFWD_ variable in the page.
# Needs the programs built; ends with one line:  manpages: N passed, N failed
#
#   tests/check-manpages.sh                  programs from build/
#   BUILD=build-san tests/check-manpages.sh  from elsewhere
#   MAN=DIR tests/check-manpages.sh          pages from DIR
set -u
cd "$(dirname "$0")/.." || exit 1
BUILD=${BUILD:-build}
MAN=${MAN:-contrib/man}
passed=0
failed=0

pass() {
	passed=$((passed + 1))
}

fail() {
	failed=$((failed + 1))
	echo "FAIL  $*"
}

# The page as plain text, one paragraph a line: no line breaks inside an option name.
render() {
	groff -man -Tascii -rLL=2000n "$1" 2>/dev/null | sed 's/.\x08//g'
}

# Every --option in a help text, once each.
options_in() {
	grep -oE -- '--[a-z][a-z0-9-]*' | sort -u
}

# Does the text on stdin hold WORD on its own (not as part of a longer option or name)?
has_word() {
	grep -qE -- "(^|[^A-Za-z0-9_-])$1([^A-Za-z0-9_-]|$)"
}

check_renders() {
	local page=$1 warnings
	# The man macros turn warnings off when they load; .warn turns every one on again.
	warnings=$({
		printf '.warn\n.lf 1 %s\n' "$page"
		cat "$page"
	} | groff -man -Tascii -z - 2>&1)
	if [ -z "$warnings" ]; then
		pass
	else
		fail "$(basename "$page") does not render cleanly:"
		printf '%s\n' "$warnings" | sed 's/^/      /'
	fi
}

# check_options PAGE WHAT HELP-TEXT: every --option of HELP-TEXT appears in PAGE.
check_options() {
	local page=$1 what=$2 help=$3 text opt
	text=$(render "$page")
	for opt in $(printf '%s\n' "$help" | options_in); do
		if printf '%s\n' "$text" | has_word "$opt"; then
			pass
		else
			fail "$(basename "$page") lacks $opt (from $what --help)"
		fi
	done
}

# check_environment PAGE HELP-TEXT: every option but --config, --help and --version (which
# are not read from the environment) has its WGFWD_ name.
check_environment() {
	local page=$1 help=$2 text opt var
	text=$(render "$page")
	for opt in $(printf '%s\n' "$help" | awk '/^  --/ {print $1}'); do
		case "$opt" in --config | --help | --version) continue ;; esac
		var=WGFWD_$(printf '%s' "${opt#--}" | tr 'a-z-' 'A-Z_')
		if printf '%s\n' "$text" | has_word "$var"; then
			pass
		else
			fail "$(basename "$page") lacks $var (the environment form of $opt)"
		fi
	done
}

help_of() {
	"$@" --help 2>&1
}

for prog in wgfwd-agent wgfwd-gateway wgfwd; do
	if [ ! -x "$BUILD/$prog" ]; then
		fail "$BUILD/$prog is not built (make)"
		echo "manpages: $passed passed, $failed failed"
		exit 1
	fi
done
for page in "$MAN/wgfwd-agent.8" "$MAN/wgfwd-gateway.8" "$MAN/wgfwd.1"; do
	if [ ! -f "$page" ]; then
		fail "$page is missing"
		echo "manpages: $passed passed, $failed failed"
		exit 1
	fi
	check_renders "$page"
done

for daemon in wgfwd-agent wgfwd-gateway; do
	help=$(help_of "$BUILD/$daemon")
	check_options "$MAN/$daemon.8" "$daemon" "$help"
	check_environment "$MAN/$daemon.8" "$help"
done

help=$(help_of "$BUILD/wgfwd")
check_options "$MAN/wgfwd.1" wgfwd "$help"
commands=$(printf '%s\n' "$help" | awk '/^Commands:/ {on = 1; next} on && /^  [a-z]/ {print $1} on && /^$/ {on = 0}')
[ -n "$commands" ] || fail "no commands found in wgfwd --help"
for cmd in $commands; do
	if grep -qx "\.SS $cmd" "$MAN/wgfwd.1"; then
		pass
	else
		fail "wgfwd.1 has no section for the command $cmd"
	fi
	check_options "$MAN/wgfwd.1" "wgfwd $cmd" "$(help_of "$BUILD/wgfwd" "$cmd")"
done

echo "manpages: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
