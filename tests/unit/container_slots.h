/* Random containers for the agent's property tests: SLOTS places, each empty or holding a
 * container that the test's own randomize() fills. A step of a random sequence takes a container
 * away, starts or stops one, or puts a new one in a place; gather() lists them in an order that
 * changes, as the agent's list does when containers come and go. */
#ifndef WGFWD_TEST_CONTAINER_SLOTS_H
#define WGFWD_TEST_CONTAINER_SLOTS_H

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <wgfwd-agent/state.h>

#define SLOTS 7

struct slot {
	bool present;
	struct wf_container c;
	struct wf_label labels[4];
	struct wf_network net;
	char id[WF_ID_MAX], name[16], target[WF_ID_MAX];
};

static struct slot slots[SLOTS];
static unsigned rng;

static void randomize(size_t i);

static inline unsigned rnd(unsigned n)
{
	rng = rng * 1103515245u + 12345u;
	return (rng >> 16) % n;
}

static inline uint16_t resolve(const char *name, uint8_t proto, void *ctx)
{
	(void)proto;
	(void)ctx;
	return !strcmp(name, "smtp") ? 25 : 0;
}

/* Slot i's container on one bridge network, without an address yet. */
static inline void slot_on_bridge(size_t i, const char *bridge)
{
	struct slot *s = &slots[i];

	s->c.netmode = WF_NETMODE_BRIDGE;
	s->c.networks = &s->net;
	s->c.n_networks = 1;
	s->net.name = "web";
	snprintf(s->net.bridge, sizeof(s->net.bridge), "%s", bridge);
}

/* ...then an IPv4 address HOST past the bridge's first and, one time in three, an IPv6 address
 * of its own. */
static inline void slot_address(size_t i, uint32_t host)
{
	struct slot *s = &slots[i];

	s->net.has_ip4 = true;
	s->net.ip4.s_addr = htonl(0xac120002 + host);
	if (rnd(3) == 0) {
		s->net.has_ip6 = true;
		inet_pton(AF_INET6, "fd00::2", &s->net.ip6);
		s->net.ip6.s6_addr[15] = (uint8_t)(i + 3);
	}
}

/* One step: a container taken away, started or stopped, or a new one in its place. Returns the
 * slot it touched. */
static inline size_t slot_step(void)
{
	size_t i = rnd(SLOTS);
	unsigned what = rnd(4);

	if (what == 0)
		slots[i].present = false;
	else if (what == 1 && slots[i].present)
		slots[i].c.running = !slots[i].c.running;
	else {
		randomize(i);
		slots[i].present = true;
	}
	return i;
}

static inline size_t gather(struct wf_container *out)
{
	size_t n = 0;

	for (size_t k = 0; k < SLOTS; k++) {
		size_t i = (k + rng) % SLOTS;

		if (slots[i].present)
			out[n++] = slots[i].c;
	}
	return n;
}

#endif
