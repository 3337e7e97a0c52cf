# wgfwd-agent and wgfwd-gateway as containers, from one file: the build stage and the runtime
# libraries are the same for both, so the two images share their layers and are built from
# one context. Build them from the top of the repository:
#
#   docker build -t wgfwd-agent .                        (the last stage: the agent)
#   docker build --target gateway -t wgfwd-gateway .     (on the VPS)
#
# Pass --build-arg WGFWD_VERSION="$(make -s print-version)" so that --version and the status
# say which version runs (the build context has no .git to ask).
#
# ---- wgfwd-gateway (the VPS) ----
#
#   docker run -d --name wgfwd-gateway --restart unless-stopped \
#     --network host --cap-drop ALL --cap-add NET_ADMIN \
#     --cap-add SETUID --cap-add SETGID --cap-add SETPCAP \
#     --security-opt no-new-privileges --read-only --tmpfs /run/wgfwd:mode=0755 \
#     -v wgfwd-state:/var/lib/wgfwd \
#     -v /etc/wgfwd/server.key:/etc/wgfwd/server.key:ro \
#     -e WGFWD_INTERFACE=wg0 -e WGFWD_PUBLIC_INTERFACE=eth0 \
#     -e WGFWD_PEER=192.168.160.2,fc00:0:0:160::2=/etc/wgfwd/server.key \
#     wgfwd-gateway
#
#   --network host      the gateway programs the VPS's nftables and listens on its tunnel
#                       address
#   CAP_NET_ADMIN       nftables, rtnetlink and conntrack; nothing else once it runs
#   SETUID SETGID       for the start only: once its keys are read and its sockets bound the
#   SETPCAP             gateway becomes the image's user wgfwd (WGFWD_USER) and drops all three
#                       from every set. Docker gives a container's non-root user no
#                       capabilities (it sets no ambient set), and no-new-privileges forbids
#                       file capabilities, so the image cannot start as wgfwd itself. Without
#                       them, or with -e WGFWD_USER= (empty), it stays root with
#                       CAP_NET_ADMIN only, and says so in its log.
#   sysctls             set on the host (a container cannot write /proc/sys):
#                       net.ipv4.ip_forward=1 and net.ipv6.conf.all.forwarding=1
#   /var/lib/wgfwd      a volume: the last applied state of each peer, restored at start so
#                       that a new container brings the forwards back before any agent calls;
#                       wgfwd's (a new volume takes the image's owner; one written as root by
#                       an older image needs --cap-add CHOWN once, or a chown to 61821)
#   /run/wgfwd          a tmpfs for the status socket, which the health check asks
#   WGFWD_PEER          several peers: separate them with spaces, newlines or `;' (a comma
#                       joins one peer's IPv4 and IPv6 addresses)
#
# ---- wgfwd-agent (the home server) ----
#
# Run it on the host's network, with CAP_NET_ADMIN and no other capability, the Docker socket
# and the key read-only, configured by WGFWD_* variables (any option of wgfwd-agent: WGFWD_ and
# its name upper-cased, dashes as underscores):
#
#   docker run -d --name wgfwd-agent --restart unless-stopped \
#     --network host --cap-drop ALL --cap-add NET_ADMIN \
#     --security-opt no-new-privileges --read-only --tmpfs /run/wgfwd:mode=0755 \
#     -v /var/run/docker.sock:/var/run/docker.sock:ro \
#     -v /etc/wgfwd/server.key:/etc/wgfwd/server.key:ro \
#     -e WGFWD_INTERFACE=wg0 -e WGFWD_GATEWAY=192.168.160.1 -e WGFWD_KEY=/etc/wgfwd/server.key \
#     wgfwd-agent
#
# What it needs and why:
#   --network host      the agent programs the host's nftables, ip rules and routes, and
#                       reaches the gateway through the host's tunnel
#   CAP_NET_ADMIN       nftables and rtnetlink; nothing else (it runs as root so that it can
#                       open the root-owned Docker socket and key file without further
#                       capabilities)
#   sysctls             Docker makes /proc/sys read-only in a container, so the agent cannot
#                       fix them itself as it does on a host; it logs which are wrong. Set them
#                       on the host: net.ipv4.ip_forward=1, net.ipv6.conf.all.forwarding=1 and
#                       net.ipv4.conf.<tunnel>.rp_filter=2 (Docker sets the first itself)
#   the Docker socket   the agent only sends GET requests to the API (`:ro` says so, but does
#                       not enforce it: a socket mounted read-only still accepts connections)
#   /run/wgfwd          a tmpfs for the status socket (`docker exec wgfwd-agent wgfwd status`),
#                       which the health check asks
#
# Behind a proxy, pass --build-arg http_proxy=...; Docker keeps it out of the image.
ARG BASE=debian:bookworm

# The agent's libcurl is built from Debian's curl source for HTTP over a Unix socket alone
# (contrib/libcurl-minimal), so the runtime needs no libcurl and none of its TLS libraries.
FROM ${BASE} AS build
WORKDIR /src
COPY contrib/libcurl-minimal ./contrib/
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      gcc libc6-dev make pkg-config dpkg-dev \
      libnftnl-dev libmnl-dev libcurl4-openssl-dev libjson-c-dev libevent-dev libsodium-dev \
 && contrib/libcurl-minimal build-libcurl \
 && rm -rf /var/lib/apt/lists/*
COPY Makefile ./
COPY include ./include
COPY agent ./agent
# Declared here, after apt, so that a new version does not fetch the packages again.
ARG WGFWD_VERSION=unknown
# The Makefile's hardening flags, without debug information: the image carries stripped programs.
RUN make -j"$(nproc)" all LIBCURL=minimal WGFWD_VERSION="$WGFWD_VERSION" CFLAGS="-O2" LDFLAGS="-s" \
 && install -D -m 0755 build/wgfwd-agent /out/agent/usr/sbin/wgfwd-agent \
 && install -D -m 0755 build/wgfwd-gateway /out/gateway/usr/sbin/wgfwd-gateway \
 && install -D -m 0755 build/wgfwd /out/cli/usr/bin/wgfwd

FROM ${BASE} AS runtime
# The libraries the programs link against; netbase for service names in labels (/etc/services).
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      libnftnl11 libmnl0 libjson-c5 libevent-2.1-7 libsodium23 netbase \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin
COPY --from=build /out/cli/ /

FROM runtime AS gateway
COPY --from=build /out/gateway/ /
# The user the gateway becomes after start-up. A fixed uid keeps the state volume its own
# across images; the directory is made here so that a new volume starts out as wgfwd's.
RUN groupadd --system --gid 61821 wgfwd \
 && useradd --system --uid 61821 --gid wgfwd --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin wgfwd \
 && install -d -o wgfwd -g wgfwd -m 0700 /var/lib/wgfwd
ENV WGFWD_USER=wgfwd
LABEL org.opencontainers.image.title="wgfwd-gateway" \
      org.opencontainers.image.description="Public ports and egress of a VPS for wgfwd agents behind WireGuard" \
      org.opencontainers.image.licenses="GPL-2.0-only"
ENV WGFWD_STATUS_SOCKET=/run/wgfwd/gateway.sock
VOLUME /var/lib/wgfwd
# Healthy means: the gateway's event loop answers on its status socket and its last apply of
# the peers' states to the kernel succeeded.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD wgfwd status --gateway --socket "$WGFWD_STATUS_SOCKET" --check || exit 1
# In the foreground: Docker keeps the process and its log (docker logs). SIGTERM ends it and
# leaves the forwards in place; `wgfwd-gateway --cleanup` removes them.
ENTRYPOINT ["/usr/sbin/wgfwd-gateway", "--foreground"]

# The agent comes last: it is what `docker build .` makes without --target.
FROM runtime AS agent
COPY --from=build /out/agent/ /
LABEL org.opencontainers.image.title="wgfwd-agent" \
      org.opencontainers.image.description="Makes labelled Docker containers reachable through a WireGuard gateway with the client's real address" \
      org.opencontainers.image.licenses="GPL-2.0-only"
ENV WGFWD_STATUS_SOCKET=/run/wgfwd/agent.sock
# Healthy means: the agent's event loop answers on its status socket and its last apply of
# the desired state to the kernel succeeded.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD wgfwd status --socket "$WGFWD_STATUS_SOCKET" --check || exit 1
# SIGTERM (docker stop) ends the agent and leaves the forwards in place, so that a restart or
# an upgrade of the container does not interrupt them; `wgfwd-agent --cleanup` removes them.
ENTRYPOINT ["/usr/sbin/wgfwd-agent"]
