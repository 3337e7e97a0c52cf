/* Small helpers every module needs: bounded string copies and growable arrays. */
#ifndef WGFWD_UTIL_H
#define WGFWD_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define WF_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Copies at most size-1 bytes and always terminates: names longer than their buffer are cut. */
void wf_copy_str(char *dst, size_t size, const char *src);

#define WF_COPY(dst, src) wf_copy_str((dst), sizeof(dst), (src))

/* A growable array is a pointer, a length and a capacity, all zero when empty; it grows by
 * doubling, so appending one element at a time stays linear. wf_array_reserve makes room for
 * `more` elements after the first n of *arrp (size bytes each), zeroing the new room; returns 0,
 * or -ENOMEM with the array untouched. The macro takes the array and its counters by name:
 *
 *	if (WF_ARRAY_RESERVE(t->rules, t->n_rules, t->cap_rules, 1))
 *		return -ENOMEM;
 *	t->rules[t->n_rules++] = *r;
 */
int wf_array_reserve(void *arrp, size_t *cap, size_t n, size_t more, size_t size);

#define WF_ARRAY_RESERVE(arr, n, cap, more) \
	wf_array_reserve(&(arr), &(cap), (n), (more), sizeof(*(arr)))

/* Binary search of n elements of size bytes at base, sorted so that cmp(element, key) does not
 * fall along them (cmp compares an element with the key, which need not be an element):
 * wf_lower_bound gives the first element not below the key, wf_upper_bound the first above it,
 * n when there is none. So [lower, upper) are the key's equals, and a key put in at lower goes
 * before them, at upper after them. */
typedef int (*wf_key_cmp)(const void *element, const void *key);
size_t wf_lower_bound(const void *base, size_t n, size_t size, const void *key, wf_key_cmp cmp);
size_t wf_upper_bound(const void *base, size_t n, size_t size, const void *key, wf_key_cmp cmp);

#endif
