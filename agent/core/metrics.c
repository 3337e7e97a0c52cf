#include <wgfwd/metrics.h>

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <wgfwd/util.h>

struct sample {
	char **labels; /* name, value, name, value, ... */
	size_t n_labels;
	double value;
	struct wf_histogram *histogram;
};

struct family {
	char *name, *help;
	enum wf_metric_type type;
	struct sample *samples;
	size_t n_samples, cap_samples;
};

struct wf_metrics {
	struct family *families;
	size_t n_families, cap_families;
	int err;
};

int wf_histogram_init(struct wf_histogram *h, const double *bounds, size_t n_bounds)
{
	memset(h, 0, sizeof(*h));
	if (!n_bounds || n_bounds > WF_HISTOGRAM_BOUNDS_MAX)
		return -EINVAL;
	for (size_t i = 0; i < n_bounds; i++)
		if (!isfinite(bounds[i]) || (i && bounds[i] <= bounds[i - 1]))
			return -EINVAL;
	memcpy(h->bounds, bounds, n_bounds * sizeof(*bounds));
	h->n_bounds = n_bounds;
	return 0;
}

void wf_histogram_observe(struct wf_histogram *h, double value)
{
	size_t i = 0;

	while (i < h->n_bounds && value > h->bounds[i])
		i++;
	h->counts[i]++;
	h->count++;
	h->sum += value;
}

struct wf_metrics *wf_metrics_new(void)
{
	return calloc(1, sizeof(struct wf_metrics));
}

static void sample_free(struct sample *s)
{
	for (size_t i = 0; i < 2 * s->n_labels; i++)
		free(s->labels[i]);
	free(s->labels);
	free(s->histogram);
}

void wf_metrics_free(struct wf_metrics *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n_families; i++) {
		struct family *f = &m->families[i];

		for (size_t k = 0; k < f->n_samples; k++)
			sample_free(&f->samples[k]);
		free(f->samples);
		free(f->name);
		free(f->help);
	}
	free(m->families);
	free(m);
}

static bool valid_name(const char *s, bool colon)
{
	if (!s || !*s || (*s >= '0' && *s <= '9'))
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_' || (colon && *s == ':')))
			return false;
	return true;
}

static bool valid_labels(const struct wf_metric_label *labels, size_t n, bool histogram)
{
	for (size_t i = 0; i < n; i++) {
		if (!valid_name(labels[i].name, false) || !labels[i].value)
			return false;
		/* Names starting with __ belong to Prometheus; le is the histogram's own. */
		if (!strncmp(labels[i].name, "__", 2) ||
		    (histogram && !strcmp(labels[i].name, "le")))
			return false;
		for (size_t k = 0; k < i; k++)
			if (!strcmp(labels[i].name, labels[k].name))
				return false;
	}
	return true;
}

static bool same_labels(const struct sample *s, const struct wf_metric_label *labels, size_t n)
{
	if (s->n_labels != n)
		return false;
	/* Order does not make a series different. */
	for (size_t i = 0; i < n; i++) {
		bool found = false;

		for (size_t k = 0; k < n && !found; k++)
			found = !strcmp(s->labels[2 * k], labels[i].name) &&
			        !strcmp(s->labels[2 * k + 1], labels[i].value);
		if (!found)
			return false;
	}
	return true;
}

static struct family *find_family(struct wf_metrics *m, const char *name)
{
	for (size_t i = 0; i < m->n_families; i++)
		if (!strcmp(m->families[i].name, name))
			return &m->families[i];
	return NULL;
}

static struct family *new_family(struct wf_metrics *m, const char *name, enum wf_metric_type type,
                                 const char *help)
{
	struct family *f;

	if (WF_ARRAY_RESERVE(m->families, m->n_families, m->cap_families, 1))
		return NULL;
	f = &m->families[m->n_families];
	memset(f, 0, sizeof(*f));
	f->type = type;
	f->name = strdup(name);
	f->help = help ? strdup(help) : NULL;
	if (!f->name || (help && !f->help)) {
		free(f->name);
		free(f->help);
		return NULL;
	}
	m->n_families++;
	return f;
}

static int add_sample(struct wf_metrics *m, const char *name, enum wf_metric_type type,
                      const char *help, const struct wf_metric_label *labels, size_t n_labels,
                      double value, const struct wf_histogram *h)
{
	struct family *f;
	struct sample s = {.value = value};

	if (m->err)
		return m->err;
	m->err = -EINVAL;
	if (!valid_name(name, true) || (n_labels && !labels) ||
	    !valid_labels(labels, n_labels, type == WF_METRIC_HISTOGRAM))
		return m->err;
	f = find_family(m, name);
	if (f && f->type != type)
		return m->err;
	for (size_t i = 0; f && i < f->n_samples; i++)
		if (same_labels(&f->samples[i], labels, n_labels))
			return m->err;
	m->err = -ENOMEM;
	if (!f)
		f = new_family(m, name, type, help);
	if (!f)
		return m->err;
	if (WF_ARRAY_RESERVE(f->samples, f->n_samples, f->cap_samples, 1))
		return m->err;
	s.labels = calloc(2 * n_labels + 1, sizeof(*s.labels));
	if (!s.labels)
		return m->err;
	s.n_labels = n_labels;
	for (size_t i = 0; i < n_labels; i++) {
		s.labels[2 * i] = strdup(labels[i].name);
		s.labels[2 * i + 1] = strdup(labels[i].value);
		if (!s.labels[2 * i] || !s.labels[2 * i + 1])
			goto fail;
	}
	if (h) {
		s.histogram = malloc(sizeof(*h));
		if (!s.histogram)
			goto fail;
		*s.histogram = *h;
	}
	f->samples[f->n_samples++] = s;
	m->err = 0;
	return 0;
fail:
	sample_free(&s);
	return m->err;
}

int wf_metrics_add(struct wf_metrics *m, const char *name, enum wf_metric_type type,
                   const char *help, const struct wf_metric_label *labels, size_t n_labels,
                   double value)
{
	if (type == WF_METRIC_HISTOGRAM) {
		if (!m->err)
			m->err = -EINVAL;
		return m->err;
	}
	return add_sample(m, name, type, help, labels, n_labels, value, NULL);
}

int wf_metrics_add_histogram(struct wf_metrics *m, const char *name, const char *help,
                             const struct wf_metric_label *labels, size_t n_labels,
                             const struct wf_histogram *h)
{
	if (!h || !h->n_bounds || h->n_bounds > WF_HISTOGRAM_BOUNDS_MAX) {
		if (!m->err)
			m->err = -EINVAL;
		return m->err;
	}
	return add_sample(m, name, WF_METRIC_HISTOGRAM, help, labels, n_labels, 0, h);
}

int wf_metrics_counter(struct wf_metrics *m, const char *name, const char *help, double value)
{
	return wf_metrics_add(m, name, WF_METRIC_COUNTER, help, NULL, 0, value);
}

int wf_metrics_gauge(struct wf_metrics *m, const char *name, const char *help, double value)
{
	return wf_metrics_add(m, name, WF_METRIC_GAUGE, help, NULL, 0, value);
}

/* ---- rendering ---- */

static void put_value(FILE *f, double v)
{
	if (isnan(v))
		fputs("NaN", f);
	else if (isinf(v))
		fputs(v > 0 ? "+Inf" : "-Inf", f);
	else if (v > -1e15 && v < 1e15 && v == (double)(int64_t)v)
		fprintf(f, "%.0f", v);
	else
		fprintf(f, "%.15g", v);
}

/* HELP text escapes backslash and newline; label values also the double quote. */
static void put_escaped(FILE *f, const char *s, bool quote)
{
	for (; *s; s++) {
		if (*s == '\\')
			fputs("\\\\", f);
		else if (*s == '\n')
			fputs("\\n", f);
		else if (quote && *s == '"')
			fputs("\\\"", f);
		else
			fputc(*s, f);
	}
}

/* name{labels[,le="bound"]} value */
static void put_sample(FILE *f, const char *name, const char *suffix, const struct sample *s,
                       const char *le, double value)
{
	fprintf(f, "%s%s", name, suffix);
	if (s->n_labels || le) {
		fputc('{', f);
		for (size_t i = 0; i < s->n_labels; i++) {
			fprintf(f, "%s%s=\"", i ? "," : "", s->labels[2 * i]);
			put_escaped(f, s->labels[2 * i + 1], true);
			fputc('"', f);
		}
		if (le)
			fprintf(f, "%sle=\"%s\"", s->n_labels ? "," : "", le);
		fputc('}', f);
	}
	fputc(' ', f);
	put_value(f, value);
	fputc('\n', f);
}

static void put_histogram(FILE *f, const char *name, const struct sample *s)
{
	const struct wf_histogram *h = s->histogram;
	uint64_t cumulative = 0;
	char le[64];

	for (size_t i = 0; i < h->n_bounds; i++) {
		cumulative += h->counts[i];
		snprintf(le, sizeof(le), "%.15g", h->bounds[i]);
		put_sample(f, name, "_bucket", s, le, (double)cumulative);
	}
	put_sample(f, name, "_bucket", s, "+Inf", (double)h->count);
	put_sample(f, name, "_sum", s, NULL, h->sum);
	put_sample(f, name, "_count", s, NULL, (double)h->count);
}

static const char *type_name(enum wf_metric_type t)
{
	switch (t) {
	case WF_METRIC_COUNTER:
		return "counter";
	case WF_METRIC_GAUGE:
		return "gauge";
	case WF_METRIC_HISTOGRAM:
		return "histogram";
	}
	return "untyped";
}

int wf_metrics_render(const struct wf_metrics *m, char **out, size_t *len)
{
	char *text = NULL;
	size_t size = 0;
	FILE *f;

	*out = NULL;
	*len = 0;
	if (m->err)
		return m->err;
	f = open_memstream(&text, &size);
	if (!f)
		return -ENOMEM;
	for (size_t i = 0; i < m->n_families; i++) {
		const struct family *fam = &m->families[i];

		if (fam->help) {
			fprintf(f, "# HELP %s ", fam->name);
			put_escaped(f, fam->help, false);
			fputc('\n', f);
		}
		fprintf(f, "# TYPE %s %s\n", fam->name, type_name(fam->type));
		for (size_t k = 0; k < fam->n_samples; k++) {
			if (fam->type == WF_METRIC_HISTOGRAM)
				put_histogram(f, fam->name, &fam->samples[k]);
			else
				put_sample(f, fam->name, "", &fam->samples[k], NULL,
				           fam->samples[k].value);
		}
	}
	if (ferror(f)) {
		fclose(f);
		free(text);
		return -ENOMEM;
	}
	if (fclose(f)) {
		free(text);
		return -ENOMEM;
	}
	*out = text;
	*len = size;
	return 0;
}
