#include "container.h"

#include <stdlib.h>
#include <string.h>

const char *wf_container_label(const struct wf_container *c, const char *key)
{
	for (size_t i = 0; i < c->n_labels; i++) {
		if (c->labels[i].key && !strcmp(c->labels[i].key, key))
			return c->labels[i].value ? c->labels[i].value : "";
	}
	return NULL;
}

static int dup_str(char **dst, const char *src)
{
	*dst = NULL;
	if (!src)
		return 0;
	*dst = strdup(src);
	return *dst ? 0 : -1;
}

struct wf_container *wf_container_dup(const struct wf_container *c)
{
	struct wf_container *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	d->created_ns = c->created_ns;
	d->running = c->running;
	d->paused = c->paused;
	d->netmode = c->netmode;
	if (dup_str(&d->id, c->id) || dup_str(&d->name, c->name) ||
	    dup_str(&d->netmode_target, c->netmode_target))
		goto fail;

	if (c->n_labels) {
		d->labels = calloc(c->n_labels, sizeof(*d->labels));
		if (!d->labels)
			goto fail;
		d->n_labels = c->n_labels;
		for (size_t i = 0; i < c->n_labels; i++) {
			if (dup_str(&d->labels[i].key, c->labels[i].key) ||
			    dup_str(&d->labels[i].value, c->labels[i].value))
				goto fail;
		}
	}

	if (c->n_networks) {
		d->networks = calloc(c->n_networks, sizeof(*d->networks));
		if (!d->networks)
			goto fail;
		d->n_networks = c->n_networks;
		for (size_t i = 0; i < c->n_networks; i++) {
			const struct wf_network *src = &c->networks[i];
			struct wf_network *dst = &d->networks[i];

			memcpy(dst->bridge, src->bridge, sizeof(dst->bridge));
			dst->has_ip4 = src->has_ip4;
			dst->has_ip6 = src->has_ip6;
			dst->ip4 = src->ip4;
			dst->ip6 = src->ip6;
			if (dup_str(&dst->name, src->name) || dup_str(&dst->id, src->id))
				goto fail;
		}
	}
	return d;

fail:
	wf_container_free(d);
	return NULL;
}

void wf_container_clear(struct wf_container *c)
{
	if (!c)
		return;
	free(c->id);
	free(c->name);
	free(c->netmode_target);
	for (size_t i = 0; i < c->n_labels; i++) {
		free(c->labels[i].key);
		free(c->labels[i].value);
	}
	free(c->labels);
	for (size_t i = 0; i < c->n_networks; i++) {
		free(c->networks[i].name);
		free(c->networks[i].id);
	}
	free(c->networks);
	memset(c, 0, sizeof(*c));
}

void wf_container_free(struct wf_container *c)
{
	wf_container_clear(c);
	free(c);
}
