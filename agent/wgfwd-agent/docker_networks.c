/* The engine's networks, /networks, and the bridge each one is (docker_json.h). */
#include "docker_json.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "docker_json_internal.h"

void wf_docker_networks_clear(struct wf_docker_networks *n)
{
	for (size_t i = 0; i < n->n; i++) {
		free(n->v[i].id);
		free(n->v[i].name);
	}
	free(n->v);
	n->v = NULL;
	n->n = 0;
}

/* Optional and best effort: a network without it keeps the bridge its name gives. */
static void net_gateway4(struct json_object *o, struct wf_docker_net *net)
{
	struct json_object *ipam, *config, *gw;

	if (!json_object_object_get_ex(o, "IPAM", &ipam) ||
	    !json_object_object_get_ex(ipam, "Config", &config) ||
	    !json_object_is_type(config, json_type_array))
		return;
	for (size_t i = 0; i < json_object_array_length(config); i++) {
		struct json_object *c = json_object_array_get_idx(config, i);

		if (json_object_object_get_ex(c, "Gateway", &gw) &&
		    json_object_is_type(gw, json_type_string) &&
		    inet_pton(AF_INET, json_object_get_string(gw), &net->gateway4) == 1) {
			net->has_gateway4 = true;
			return;
		}
	}
}

static int parse_net(struct json_object *o, size_t idx, struct wf_docker_net *net, char *err)
{
	struct json_object *options;
	const char *name, *id, *driver, *bridge = NULL, *is_default = NULL;
	char path[64];
	int ret;

	if (!json_object_is_type(o, json_type_object))
		return wf_dj_fail(err, "networks[%zu]: expected an object, got %s", idx,
		                  wf_dj_type_name(o));
	snprintf(path, sizeof(path), "networks[%zu].Name", idx);
	ret = wf_dj_req_string(o, "Name", path, &name, err);
	if (ret)
		return ret;
	snprintf(path, sizeof(path), "networks[%zu].Id", idx);
	ret = wf_dj_req_string(o, "Id", path, &id, err);
	if (ret)
		return ret;
	if (strlen(id) < 12)
		return wf_dj_fail(err, "%s: `%s' is not a network id", path, id);
	snprintf(path, sizeof(path), "networks[%zu].Driver", idx);
	ret = wf_dj_opt_string(o, "Driver", path, &driver, err);
	if (ret)
		return ret;
	snprintf(path, sizeof(path), "networks[%zu].Options", idx);
	ret = wf_dj_opt_object(o, "Options", path, &options, err);
	if (ret)
		return ret;
	snprintf(path, sizeof(path), "networks[%zu].Options[com.docker.network.bridge.name]", idx);
	ret = wf_dj_opt_string(options, "com.docker.network.bridge.name", path, &bridge, err);
	if (ret)
		return ret;
	ret = wf_dj_opt_string(options, "com.docker.network.bridge.default_bridge", path,
	                       &is_default, err);
	if (ret)
		return ret;

	net->id = strdup(id);
	net->name = strdup(name);
	if (!net->id || !net->name)
		return -ENOMEM;
	if (!driver || strcmp(driver, "bridge"))
		return 0;
	net_gateway4(o, net);
	if (bridge && bridge[0]) {
		snprintf(path, sizeof(path),
		         "networks[%zu].Options[com.docker.network.bridge.name]", idx);
		return wf_dj_copy_bounded(net->bridge, sizeof(net->bridge), bridge, path, err);
	}
	if ((is_default && !strcmp(is_default, "true")) || !strcmp(name, "bridge"))
		snprintf(net->bridge, sizeof(net->bridge), "docker0");
	else
		snprintf(net->bridge, sizeof(net->bridge), "br-%.12s", id);
	return 0;
}

static int parse_net_item(struct json_object *item, size_t idx, void *out, char *err)
{
	return parse_net(item, idx, out, err);
}

int wf_docker_parse_networks(const char *json, size_t len, struct wf_docker_networks *out,
                             char err[WF_DOCKER_ERR_MAX])
{
	void *v;
	int ret = wf_dj_parse_array(json, len, "networks", sizeof(*out->v), parse_net_item, &v,
	                            &out->n, err);

	out->v = v;
	if (ret)
		wf_docker_networks_clear(out);
	return ret;
}

const struct wf_docker_net *wf_docker_networks_find(const struct wf_docker_networks *n,
                                                    const char *id)
{
	for (size_t i = 0; i < n->n; i++) {
		if (!strcmp(n->v[i].id, id))
			return &n->v[i];
	}
	return NULL;
}

size_t wf_docker_networks_resolve(const struct wf_docker_networks *n, struct wf_container *c)
{
	size_t unknown = 0;

	for (size_t i = 0; i < c->n_networks; i++) {
		struct wf_network *net = &c->networks[i];
		const struct wf_docker_net *dn =
		    net->id ? wf_docker_networks_find(n, net->id) : NULL;

		/* Podman 4's compatible inspect gives the network's name as its NetworkID */
		for (size_t k = 0; !dn && net->id && net->name && k < n->n; k++)
			if (!strcmp(n->v[k].name, net->id) && !strcmp(n->v[k].name, net->name))
				dn = &n->v[k];

		if (dn) {
			memcpy(net->bridge, dn->bridge, sizeof(net->bridge));
		} else {
			net->bridge[0] = '\0';
			if (net->id && net->id[0])
				unknown++;
		}
	}
	return unknown;
}
