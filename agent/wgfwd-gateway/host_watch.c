#include "host_watch.h"

#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <wgfwd/log.h>

static const char *family_name(uint8_t family)
{
	return family == AF_INET6 ? "IPv6" : "IPv4";
}

/* The public interface's index, read at each read (it may be made again under its name): on a
 * socket kept open, where if_nametoindex makes and closes one each time. */
static unsigned public_ifindex(struct wf_gw_host_watch *w, const char *name)
{
	struct ifreq ifr;

	if (!w->has_ifr_fd) {
		w->ifr_fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		w->has_ifr_fd = w->ifr_fd >= 0;
	}
	if (!w->has_ifr_fd || strlen(name) >= sizeof(ifr.ifr_name))
		return if_nametoindex(name);
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, name, strlen(name));
	return ioctl(w->ifr_fd, SIOCGIFINDEX, &ifr) < 0 ? 0 : (unsigned)ifr.ifr_ifindex;
}

static void read_wireguard(struct wf_gw_host_watch *w, uint16_t **ports, size_t *n)
{
	int err = wf_gw_wireguard_ports_on(&w->socks, ports, n);

	/* wireguard-go and other userspace implementations have no generic netlink family:
	 * their listen socket is an ordinary UDP socket, and sock_diag lists it. */
	if (err && err != w->wg_err && err != -ENOENT)
		log_warn("cannot ask the kernel's WireGuard for its listen ports (%s): only "
		         "sockets it lists and --wireguard-port are kept from forwards",
		         strerror(-err));
	else if (err == -ENOENT && w->wg_err != -ENOENT && !w->reads)
		log_debug("no kernel WireGuard: its listen port is found among the UDP sockets");
	w->wg_err = err;
	if (err) {
		*ports = NULL;
		*n = 0;
	}
}

bool wf_gw_host_watch_read(struct wf_gw_host_watch *w, const struct wf_gw_params *p,
                           const uint32_t *skip, size_t n_skip)
{
	return wf_gw_host_watch_read_protos(w, p, skip, n_skip, WF_GW_TCP | WF_GW_UDP);
}

bool wf_gw_host_watch_read_protos(struct wf_gw_host_watch *w, const struct wf_gw_params *p,
                                  const uint32_t *skip, size_t n_skip, unsigned protos)
{
	struct wf_gw_listener *l = NULL;
	struct wf_gw_host_ports next, fresh;
	uint16_t *wg = NULL;
	size_t n = 0, n_wg = 0;
	bool changed;
	int err = wf_gw_listeners_read_protos_on(&w->socks, protos, &l, &n);

	if (!err) {
		/* WireGuard listens on UDP only */
		if (protos & WF_GW_UDP)
			read_wireguard(w, &wg, &n_wg);
		err = wf_gw_host_ports_build(l, n, wg, n_wg, p, public_ifindex(w, p->public_ifname),
		                             skip, n_skip, &fresh);
	}
	if (!err) {
		err = wf_gw_host_ports_join(&fresh, protos, &w->ports, &next);
		wf_gw_host_ports_free(&fresh);
	}
	free(l);
	free(wg);
	w->reads++;
	if (err) {
		w->read_errors++;
		if (err != w->read_err)
			log_warn("cannot list the sockets this host listens on (%s): forwards are "
			         "checked against the ports found %s",
			         strerror(-err), w->ports.n ? "last time" : "never");
		w->read_err = err;
		return false;
	}
	if (w->read_err)
		log_info("the sockets this host listens on can be listed again");
	w->read_err = 0;
	changed = !wf_gw_host_ports_equal(&w->ports, &next);
	if (changed && wf_log_enabled(WF_LOG_DEBUG)) {
		char text[1024];
		size_t len = 0;

		text[0] = '\0';
		for (size_t i = 0; i < next.n && len < sizeof(text); i++)
			len += (size_t)snprintf(text + len, sizeof(text) - len, " %s/%u(%s)",
			                        wf_gw_proto_name(next.v[i].proto), next.v[i].port,
			                        next.v[i].family == AF_INET6 ? "6" : "4");
		log_debug("this host serves on its public addresses:%s",
		          next.n ? text : " nothing");
	}
	wf_gw_host_ports_free(&w->ports);
	w->ports = next;
	return changed;
}

void wf_gw_host_watch_clashes(struct wf_gw_host_watch *w, const struct wf_gw_config *cfg,
                              const struct wf_gw_state *s)
{
	struct wf_gw_clash *now;
	size_t n;
	char why[WF_GW_REASON_MAX];

	if (wf_gw_host_clashes(s, &w->ports, &now, &n)) {
		log_warn("cannot compare the forwards with this host's ports: out of memory");
		return;
	}
	for (size_t i = 0; i < n; i++) {
		const struct wf_ctl_forward *f = &now[i].forward;

		if (wf_gw_clash_in(&now[i], w->clashes, w->n_clashes))
			continue;
		wf_gw_host_port_reason(why, sizeof(why), f->proto, f->public_port);
		log_warn("peer %s: forward %s/%u (%s) clashes: %s; the forward, granted before, "
		         "keeps taking the port's new connections from the internet (remove the "
		         "forward or move the service)",
		         cfg->peers[now[i].peer].name, wf_gw_proto_name(f->proto), f->public_port,
		         family_name(f->family), why);
	}
	for (size_t i = 0; i < w->n_clashes; i++) {
		const struct wf_ctl_forward *f = &w->clashes[i].forward;

		if (!wf_gw_clash_in(&w->clashes[i], now, n))
			log_info("peer %s: forward %s/%u (%s) no longer clashes with this host's "
			         "own ports",
			         cfg->peers[w->clashes[i].peer].name, wf_gw_proto_name(f->proto),
			         f->public_port, family_name(f->family));
	}
	free(w->clashes);
	w->clashes = now;
	w->n_clashes = n;
}

bool wf_gw_host_watch_clash_reason(const struct wf_gw_host_watch *w, size_t peer,
                                   const struct wf_ctl_forward *f, char *buf, size_t len)
{
	struct wf_gw_clash c = {.peer = peer, .forward = *f};

	if (!wf_gw_clash_in(&c, w->clashes, w->n_clashes))
		return false;
	wf_gw_host_port_reason(buf, len, f->proto, f->public_port);
	return true;
}

void wf_gw_host_watch_status(const struct wf_gw_host_watch *w, const struct wf_gw_config *cfg,
                             json_object *doc)
{
	json_object *ports = json_object_new_array(), *clashes = json_object_new_array();
	char why[WF_GW_REASON_MAX];

	for (size_t i = 0; i < w->ports.n; i++) {
		const struct wf_gw_host_port *hp = &w->ports.v[i];
		json_object *o = json_object_new_object();

		json_object_object_add(
		    o, "family", json_object_new_string(hp->family == AF_INET6 ? "ipv6" : "ipv4"));
		json_object_object_add(o, "proto",
		                       json_object_new_string(wf_gw_proto_name(hp->proto)));
		json_object_object_add(o, "port", json_object_new_int(hp->port));
		json_object_array_add(ports, o);
	}
	for (size_t i = 0; i < w->n_clashes; i++) {
		const struct wf_ctl_forward *f = &w->clashes[i].forward;
		json_object *o = json_object_new_object();

		wf_gw_host_port_reason(why, sizeof(why), f->proto, f->public_port);
		json_object_object_add(o, "peer",
		                       json_object_new_string(cfg->peers[w->clashes[i].peer].name));
		json_object_object_add(
		    o, "family", json_object_new_string(f->family == AF_INET6 ? "ipv6" : "ipv4"));
		json_object_object_add(o, "proto",
		                       json_object_new_string(wf_gw_proto_name(f->proto)));
		json_object_object_add(o, "public_port", json_object_new_int(f->public_port));
		json_object_object_add(o, "reason", json_object_new_string(why));
		json_object_array_add(clashes, o);
	}
	json_object_object_add(doc, "host_ports", ports);
	json_object_object_add(doc, "clashes", clashes);
	if (w->read_err)
		json_object_object_add(doc, "host_ports_error",
		                       json_object_new_string(strerror(-w->read_err)));
}

void wf_gw_host_watch_free(struct wf_gw_host_watch *w)
{
	wf_gw_host_ports_free(&w->ports);
	free(w->clashes);
	wf_gw_nl_socks_close(&w->socks);
	if (w->has_ifr_fd)
		close(w->ifr_fd);
	memset(w, 0, sizeof(*w));
}
