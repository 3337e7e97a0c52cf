/* What the command-line tool finds the daemons' work by: their status sockets, and the numbers
 * the agent's policy routing uses by default. Defined once for the daemon that makes them and
 * the `wgfwd status` / `wgfwd doctor` that look at them. */
#ifndef WGFWD_NAMES_H
#define WGFWD_NAMES_H

#define WF_AGENT_STATUS_SOCKET   "/run/wgfwd/agent.sock"
#define WF_GATEWAY_STATUS_SOCKET "/run/wgfwd/gateway.sock"

/* The agent's routing table (its default route is the tunnel), marks and rule priority. */
#define WF_DEFAULT_TABLE        51820
#define WF_DEFAULT_FWMARK       0x77660001u
#define WF_DEFAULT_HAIRPIN_MARK 0x77660002u
#define WF_DEFAULT_RULE_PRIO    10000

/* What dockerd's daemon.json needs when it uses its nftables backend and the agent was given
 * no --bridge-accept-fwmark: the mark the agent's advice suggests. */
#define WF_SUGGESTED_ACCEPT_MARK "0x4000000/0x4000000"

#endif
