/* Metrics in the Prometheus text exposition format (0.0.4). A registry is filled afresh for
 * each scrape from the numbers a daemon keeps anyway, then rendered: it holds no running
 * totals of its own, so the metrics cannot disagree with the status document. The one thing
 * a daemon keeps only for metrics is a histogram (struct wf_histogram), handed over whole.
 *
 * Errors stick: after the first failed add every later add does nothing and render reports
 * it, so a collector can add its samples without checking each call. */
#ifndef WGFWD_METRICS_H
#define WGFWD_METRICS_H

#include <stddef.h>
#include <stdint.h>

enum wf_metric_type {
	WF_METRIC_COUNTER,
	WF_METRIC_GAUGE,
	WF_METRIC_HISTOGRAM,
};

struct wf_metric_label {
	const char *name;
	const char *value;
};

/* One label, as the two arguments (labels, n_labels) the add functions take. */
#define WF_LABEL(name, value) ((const struct wf_metric_label[]){{(name), (value)}}), 1

#define WF_HISTOGRAM_BOUNDS_MAX 16

/* Observations counted into buckets by upper bound (the +Inf bucket is implicit). */
struct wf_histogram {
	size_t n_bounds;
	double bounds[WF_HISTOGRAM_BOUNDS_MAX]; /* increasing */
	uint64_t
	    counts[WF_HISTOGRAM_BOUNDS_MAX + 1]; /* per bucket; the last is above every bound */
	uint64_t count;
	double sum;
};

/* -EINVAL unless 1..WF_HISTOGRAM_BOUNDS_MAX finite bounds in strictly increasing order. */
int wf_histogram_init(struct wf_histogram *h, const double *bounds, size_t n_bounds);
void wf_histogram_observe(struct wf_histogram *h, double value);

struct wf_metrics;

struct wf_metrics *wf_metrics_new(void);
void wf_metrics_free(struct wf_metrics *m);

/* Adds one sample. A family (name, type, help) is made by its first sample; later samples of
 * the same name keep its help and must have its type and a label set not seen yet.
 * Returns 0, -EINVAL (a bad metric or label name, another type, a repeated label set, a label
 * named `le' on a histogram) or -ENOMEM. */
int wf_metrics_add(struct wf_metrics *m, const char *name, enum wf_metric_type type,
                   const char *help, const struct wf_metric_label *labels, size_t n_labels,
                   double value);
int wf_metrics_add_histogram(struct wf_metrics *m, const char *name, const char *help,
                             const struct wf_metric_label *labels, size_t n_labels,
                             const struct wf_histogram *h);
/* Samples without labels. */
int wf_metrics_counter(struct wf_metrics *m, const char *name, const char *help, double value);
int wf_metrics_gauge(struct wf_metrics *m, const char *name, const char *help, double value);

/* The exposition text, families in the order they were first added; *out is malloc'ed and
 * NUL-terminated. Returns 0, the first error an add met, or -ENOMEM. */
int wf_metrics_render(const struct wf_metrics *m, char **out, size_t *len);

#endif
