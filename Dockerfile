# wgfwd-agent as a container: host network, NET_ADMIN, the Docker socket read-only.
#
#   docker build -t wgfwd-agent .
#   docker run -d --name wgfwd-agent --network host --cap-add NET_ADMIN \
#     -v /var/run/docker.sock:/var/run/docker.sock:ro -v /etc/wgfwd:/etc/wgfwd:ro \
#     -e WGFWD_INTERFACE=wg0 -e WGFWD_GATEWAY=192.168.160.1 -e WGFWD_KEY=/etc/wgfwd/server.key \
#     wgfwd-agent
ARG BASE=debian:bookworm

FROM ${BASE} AS build
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      gcc make pkg-config libc6-dev libnftnl-dev libmnl-dev libcurl4-openssl-dev \
      libjson-c-dev libevent-dev libsodium-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Makefile ./
COPY include ./include
COPY agent ./agent
RUN make -j"$(nproc)" all && make install PREFIX=/usr DESTDIR=/out

FROM ${BASE}
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      libnftnl11 libmnl0 libcurl4 libjson-c5 libevent-2.1-7 libevent-core-2.1-7 libsodium23 netbase \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/usr/sbin/ /usr/sbin/
COPY --from=build /out/usr/bin/ /usr/bin/
ENV WGFWD_STATUS_SOCKET=/run/wgfwd/agent.sock
# Healthy means: the event loop answers on its status socket and its last apply succeeded.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/usr/bin/wgfwd", "status", "--agent", "--check"]
ENTRYPOINT ["/usr/sbin/wgfwd-agent"]
