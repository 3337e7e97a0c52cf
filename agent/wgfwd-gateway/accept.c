/* Listening for agents and accepting their connections, a job apart from what the server does
 * with a peer's states (control.c): a connection is turned away before a single byte is read
 * unless it comes from a configured peer and within the connection limits. */
#include <errno.h>
#include <event2/listener.h>
#include <netinet/tcp.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <wgfwd/hostport.h>
#include <wgfwd/log.h>
#include <wgfwd/util.h>

#include "clients.h"

/* Connections that have not finished the handshake cost little, but not nothing. */
#define CLIENTS_MAX      64
#define PENDING_PER_PEER 4

static int peer_of(const struct wf_gw_control *c, const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return wf_gw_config_find_peer(c->cfg, AF_INET,
		                              &((const struct sockaddr_in *)sa)->sin_addr);
	if (sa->sa_family == AF_INET6)
		return wf_gw_config_find_peer(c->cfg, AF_INET6,
		                              &((const struct sockaddr_in6 *)sa)->sin6_addr);
	return -1;
}

static void refuse(struct wf_gw_control *c, int fd, const char *remote, enum wf_gw_rejection r,
                   const char *why)
{
	log_warn("refused control connection from %s: %s", remote, why);
	c->count.rejected[r]++;
	close(fd);
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
                      void *arg)
{
	struct wf_gw_control *c = arg;
	struct wf_ctl_conn_config cc = {.role = WF_CTL_SERVER};
	char remote[INET6_ADDRSTRLEN + 8];
	struct client *cl;
	size_t handshaking = 0;
	int peer, err;

	wf_hostport_text(sa, remote, sizeof(remote));
	/* Decided before a single byte is read: only configured peers get a handshake. */
	peer = peer_of(c, sa);
	if (peer < 0) {
		refuse(c, fd, remote, WF_GW_REJECT_NOT_A_PEER, "not a configured peer");
		return;
	}
	for (cl = c->clients; cl; cl = cl->next)
		handshaking += cl->peer == (size_t)peer && !cl->established;
	if (c->n_clients >= CLIENTS_MAX || handshaking >= PENDING_PER_PEER) {
		refuse(c, fd, remote, WF_GW_REJECT_TOO_MANY, "too many connections");
		return;
	}
	cl = calloc(1, sizeof(*cl));
	if (!cl) {
		close(fd);
		return;
	}
	/* Small request/answer frames: waiting to coalesce them only adds latency. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){1}, sizeof(int));
	cl->ctl = c;
	cl->peer = (size_t)peer;
	WF_COPY(cl->remote, remote);
	memcpy(cc.key, c->keys[peer], sizeof(cc.key));
	/* Any identity passes the handshake; on_established compares it as an address. */
	cc.identity[0] = '\0';
	err = wf_ctl_conn_new(c->base, fd, &cc, &wf_gw_client_ops, cl, &cl->conn);
	sodium_memzero(cc.key, sizeof(cc.key));
	if (err) {
		log_error("control connection from %s: %s", remote, strerror(-err));
		close(fd);
		free(cl);
		return;
	}
	cl->next = c->clients;
	c->clients = cl;
	c->n_clients++;
	log_debug("control connection from %s (peer %s)", remote, peer_name(c, cl->peer));
}

static void on_accept_error(struct evconnlistener *l, void *arg)
{
	int err = EVUTIL_SOCKET_ERROR();

	log_warn("accepting a control connection: %s", strerror(err));
}

int wf_gw_control_listen(struct wf_gw_control *c, const struct sockaddr_storage *ss, socklen_t len,
                         size_t max_listeners)
{
	char text[INET6_ADDRSTRLEN + 8];
	struct evconnlistener *l;
	int fd;

	wf_hostport_text((const struct sockaddr *)ss, text, sizeof(text));
	if (c->n_listeners >= max_listeners || c->n_listeners >= WF_ARRAY_SIZE(c->listeners)) {
		log_warn("not listening on %s: at most %zu addresses", text, max_listeners);
		return 0;
	}
	/* The tunnel address may come up after the daemon (WireGuard restarting). */
	fd = wf_tcp_listen(ss, len, true);
	if (fd < 0) {
		log_error("cannot listen on %s: %s", text, strerror(-fd));
		return fd;
	}
	l = evconnlistener_new(c->base, on_accept, c, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
	                       -1, fd);
	if (!l) {
		close(fd);
		return -ENOMEM;
	}
	evconnlistener_set_error_cb(l, on_accept_error);
	c->listeners[c->n_listeners++] = l;
	log_info("listening for agents on %s", text);
	return 0;
}

size_t wf_gw_control_socket_inodes(const struct wf_gw_control *c, uint32_t *ino, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < c->n_listeners && n < max; i++) {
		struct stat st;

		if (!fstat(evconnlistener_get_fd(c->listeners[i]), &st))
			ino[n++] = (uint32_t)st.st_ino;
	}
	return n;
}
