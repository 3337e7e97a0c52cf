#include <wgfwd-gateway/store.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

static char dir[64];

static int make_dir(void **state)
{
	strcpy(dir, "/tmp/wfgw-store-XXXXXX");
	assert_non_null(mkdtemp(dir));
	return 0;
}

static int remove_dir(void **state)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char path[512];

	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.' && (!de->d_name[1] || de->d_name[1] == '.'))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		unlink(path);
	}
	if (d)
		closedir(d);
	rmdir(dir);
	return 0;
}

static void sample(struct wf_gw_entries *e)
{
	struct wf_ctl_forward f[] = {
	    {.family = AF_INET, .proto = IPPROTO_TCP, .public_port = 443, .target_port = 8443},
	    {.family = AF_INET6, .proto = IPPROTO_UDP, .public_port = 53, .target_port = 53},
	};
	struct wf_ctl_egress g[] = {{IPPROTO_TCP, 25, 25}, {0, 0, 0}, {IPPROTO_UDP, 0, 0}};

	memset(e, 0, sizeof(*e));
	for (size_t i = 0; i < 2; i++)
		assert_int_equal(wf_gw_entries_add_forward(e, &f[i]), 0);
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(wf_gw_entries_add_egress(e, &g[i]), 0);
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static size_t count_files(const char *prefix)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0;

	while ((de = readdir(d)))
		n += !strncmp(de->d_name, prefix, strlen(prefix));
	closedir(d);
	return n;
}

static void saved_state_loads_back_equal(void **state)
{
	struct wf_gw_entries e, back;
	char err[256] = "";

	sample(&e);
	assert_int_equal(wf_gw_store_save(dir, "192.168.160.2", &e, err, sizeof(err)), 0);
	assert_int_equal(wf_gw_store_load(dir, "192.168.160.2", &back, err, sizeof(err)), 0);
	assert_true(wf_gw_entries_equal(&e, &back));
	wf_gw_entries_free(&back);
	wf_gw_entries_free(&e);
}

static void empty_state_loads_back_empty(void **state)
{
	struct wf_gw_entries e = {0}, back;
	char err[256] = "";

	assert_int_equal(wf_gw_store_save(dir, "fc00:0:0:160::2", &e, err, sizeof(err)), 0);
	assert_int_equal(wf_gw_store_load(dir, "fc00:0:0:160::2", &back, err, sizeof(err)), 0);
	assert_int_equal(back.n_forwards + back.n_egress, 0);
	wf_gw_entries_free(&back);
}

static void missing_file_is_enoent(void **state)
{
	struct wf_gw_entries back;
	char err[256] = "";

	assert_int_equal(wf_gw_store_load(dir, "192.168.160.9", &back, err, sizeof(err)), -ENOENT);
}

static void save_replaces_the_file_and_leaves_no_temporary(void **state)
{
	struct wf_gw_entries e, back, empty = {0};
	char err[256] = "", path[512];
	struct stat st;

	sample(&e);
	assert_int_equal(wf_gw_store_save(dir, "192.168.160.2", &e, err, sizeof(err)), 0);
	assert_int_equal(wf_gw_store_save(dir, "192.168.160.2", &empty, err, sizeof(err)), 0);
	assert_int_equal(wf_gw_store_load(dir, "192.168.160.2", &back, err, sizeof(err)), 0);
	assert_int_equal(back.n_forwards, 0);
	assert_int_equal(count_files("peer-"), 1);
	assert_int_equal(wf_gw_store_path(dir, "192.168.160.2", path, sizeof(path)), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	wf_gw_entries_free(&back);
	wf_gw_entries_free(&e);
}

static void stale_temporary_does_not_disturb_save_or_load(void **state)
{
	struct wf_gw_entries e, back;
	char err[256] = "", path[512], tmp[600];

	/* A crash between writing the temporary and the rename leaves it behind. */
	sample(&e);
	assert_int_equal(wf_gw_store_save(dir, "192.168.160.2", &e, err, sizeof(err)), 0);
	assert_int_equal(wf_gw_store_path(dir, "192.168.160.2", path, sizeof(path)), 0);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	write_text(tmp, "{\"half");
	assert_int_equal(wf_gw_store_load(dir, "192.168.160.2", &back, err, sizeof(err)), 0);
	assert_true(wf_gw_entries_equal(&e, &back));
	wf_gw_entries_free(&back);
	assert_int_equal(wf_gw_store_save(dir, "192.168.160.2", &e, err, sizeof(err)), 0);
	assert_int_equal(access(tmp, F_OK), -1);
	wf_gw_entries_free(&e);
}

static void a_hard_link_planted_as_the_temporary_is_not_written_through(void **state)
{
	struct wf_gw_entries e;
	char err[256] = "", path[512], tmp[600], victim[600], buf[64] = "";
	int fd;

	snprintf(victim, sizeof(victim), "%s/victim", dir);
	write_text(victim, "precious\n");
	assert_int_equal(wf_gw_store_path(dir, "192.168.160.2", path, sizeof(path)), 0);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	assert_int_equal(link(victim, tmp), 0);
	sample(&e);
	assert_int_equal(wf_gw_store_save(dir, "192.168.160.2", &e, err, sizeof(err)), 0);
	fd = open(victim, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, buf, sizeof(buf) - 1), 9);
	close(fd);
	assert_string_equal(buf, "precious\n");
	wf_gw_entries_free(&e);
}

static void state_directory_is_made_private(void **state)
{
	char err[256] = "", sub[128];
	struct stat st;

	snprintf(sub, sizeof(sub), "%s/state", dir);
	assert_int_equal(wf_gw_store_prepare_dir(sub, 0, err, sizeof(err)), 0);
	assert_int_equal(stat(sub, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0700);
	/* An existing private one is taken as it is. */
	assert_int_equal(wf_gw_store_prepare_dir(sub, 0, err, sizeof(err)), 0);
	rmdir(sub);
}

static void state_directory_writable_by_others_is_refused_with_the_fix(void **state)
{
	char err[256] = "";

	assert_int_equal(chmod(dir, 0777), 0);
	assert_int_equal(wf_gw_store_prepare_dir(dir, 0, err, sizeof(err)), -EPERM);
	assert_non_null(strstr(err, "chmod 700"));
	assert_int_equal(chmod(dir, 0775), 0);
	assert_int_equal(wf_gw_store_prepare_dir(dir, 0, err, sizeof(err)), -EPERM);
	assert_int_equal(chmod(dir, 0755), 0);
	assert_int_equal(wf_gw_store_prepare_dir(dir, 0, err, sizeof(err)), 0);
}

static void state_directory_symlink_or_file_is_refused(void **state)
{
	char err[256] = "", link_path[128], file[128];

	snprintf(link_path, sizeof(link_path), "%s/link", dir);
	snprintf(file, sizeof(file), "%s/file", dir);
	assert_int_equal(symlink("/tmp", link_path), 0);
	assert_int_equal(wf_gw_store_prepare_dir(link_path, 0, err, sizeof(err)), -ENOTDIR);
	write_text(file, "x");
	assert_int_equal(wf_gw_store_prepare_dir(file, 0, err, sizeof(err)), -ENOTDIR);
}

static void state_directory_of_another_user_is_refused(void **state)
{
	char err[256] = "";

	if (geteuid() != 0)
		skip();
	assert_int_equal(chown(dir, 65534, 65534), 0);
	assert_int_equal(wf_gw_store_prepare_dir(dir, 0, err, sizeof(err)), -EPERM);
	assert_non_null(strstr(err, "chown"));
	/* unless that is the user the daemon becomes */
	assert_int_equal(wf_gw_store_prepare_dir(dir, 65534, err, sizeof(err)), 0);
	assert_int_equal(chown(dir, 0, 0), 0);
	assert_int_equal(wf_gw_store_prepare_dir(dir, 0, err, sizeof(err)), 0);
}

static void corrupt_file_is_moved_aside_with_the_reason(void **state)
{
	struct wf_gw_entries back;
	char err[512] = "", path[512];

	assert_int_equal(wf_gw_store_path(dir, "192.168.160.2", path, sizeof(path)), 0);
	write_text(path, "{\"version\":1,\"peer\":\"192.168.160.2\",\"forwards\":[");
	assert_int_equal(wf_gw_store_load(dir, "192.168.160.2", &back, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "ends in the middle"));
	assert_non_null(strstr(err, "moved aside"));
	assert_int_equal(back.n_forwards + back.n_egress, 0);
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(count_files("peer-192.168.160.2.json.corrupt-"), 1);
	/* The peer starts over: the next load finds nothing. */
	assert_int_equal(wf_gw_store_load(dir, "192.168.160.2", &back, err, sizeof(err)), -ENOENT);
}

static void decoder_names_the_wrong_field(void **state)
{
	const struct {
		const char *json, *expect;
	} bad[] = {
	    {"[]", "not a JSON object"},
	    {"{\"version\":2,\"peer\":\"10.0.0.1\",\"forwards\":[],\"egress\":[]}", "version 2"},
	    {"{\"version\":1,\"peer\":\"10.0.0.2\",\"forwards\":[],\"egress\":[]}",
	     "belongs to peer `10.0.0.2'"},
	    {"{\"version\":1,\"peer\":\"10.0.0.1\",\"egress\":[]}", "`forwards' is missing"},
	    {"{\"version\":1,\"peer\":\"10.0.0.1\",\"forwards\":[{\"family\":\"ipv4\","
	     "\"proto\":\"tcp\",\"public_port\":70000,\"target_port\":1}],\"egress\":[]}",
	     "forwards[0].public_port: 70000"},
	    {"{\"version\":1,\"peer\":\"10.0.0.1\",\"forwards\":[],\"egress\":[{\"proto\":"
	     "\"icmp\",\"port_lo\":0,\"port_hi\":0}]}",
	     "egress[0].proto: `icmp'"},
	    {"{\"version\":1,\"peer\":\"10.0.0.1\",\"forwards\":[],\"egress\":[]} {}", "not JSON"},
	};
	struct wf_gw_entries e;
	char err[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(wf_gw_store_decode(bad[i].json, strlen(bad[i].json), "10.0.0.1",
		                                    &e, err, sizeof(err)),
		                 -EBADMSG);
		if (!strstr(err, bad[i].expect))
			fail_msg("case %zu: `%s' does not say `%s'", i, err, bad[i].expect);
	}
}

#define TCP4(p, t)                                                                              \
	{                                                                                       \
		.family = AF_INET, .proto = IPPROTO_TCP, .public_port = (p), .target_port = (t) \
	}

/* Changes append lines; reading replays them onto the file, stops at a torn last line, and
 * a whole save starts the journal anew; lines replayed onto a file that holds them already
 * change nothing. */
static void journal_replays_changes_onto_the_file(void **state)
{
	struct wf_ctl_forward held[] = {TCP4(80, 80), TCP4(443, 443), TCP4(993, 993)};
	struct wf_ctl_forward went[] = {TCP4(80, 80), TCP4(443, 443)};
	struct wf_ctl_forward came[] = {TCP4(443, 8443), TCP4(25, 25)};
	struct wf_ctl_forward want[] = {TCP4(25, 25), TCP4(443, 8443), TCP4(993, 993)};
	struct wf_gw_entries e = {0}, g = {.forwards = went, .n_forwards = 2},
	                     c = {.forwards = came, .n_forwards = 2}, back;
	char err[256] = "", path[512], text[256];
	size_t size = 0;
	FILE *f;

	for (size_t i = 0; i < 3; i++)
		assert_int_equal(wf_gw_entries_add_forward(&e, &held[i]), 0);
	assert_int_equal(wf_gw_store_save(dir, "192.168.160.2", &e, err, sizeof(err)), 0);
	/* written without a sync, as the daemon does: the lines are there for a restart */
	assert_int_equal(
	    wf_gw_store_append(dir, "192.168.160.2", &g, &c, false, &size, err, sizeof(err)), 0);
	assert_int_equal(wf_gw_store_sync(dir, "192.168.160.2", true, err, sizeof(err)), 0);
	snprintf(path, sizeof(path), "%s/peer-192.168.160.2.journal", dir);
	f = fopen(path, "r");
	assert_non_null(f);
	assert_int_equal(fread(text, 1, sizeof(text) - 1, f), size);
	fclose(f);
	text[size] = '\0';
	assert_string_equal(text, "- ipv4 tcp 80 80\n- ipv4 tcp 443 443\n+ ipv4 tcp 443 8443\n"
	                          "+ ipv4 tcp 25 25\n");
	assert_int_equal(wf_gw_store_load(dir, "192.168.160.2", &back, err, sizeof(err)), 0);
	assert_true(wf_ctl_forwards_equal(back.forwards, back.n_forwards, want, 3));
	wf_gw_entries_free(&back);

	/* a torn last line and anything after a bad line are not applied */
	f = fopen(path, "a");
	fputs("- ipv4 tcp 993 993\n+ ipv4 tcp 7", f);
	fclose(f);
	assert_int_equal(wf_gw_store_load(dir, "192.168.160.2", &back, err, sizeof(err)), 0);
	assert_true(wf_ctl_forwards_equal(back.forwards, back.n_forwards, want, 2));

	/* saving the whole file removes the journal, and a sync then has nothing to do... */
	assert_int_equal(wf_gw_store_save(dir, "192.168.160.2", &back, err, sizeof(err)), 0);
	assert_int_equal(count_files("peer-192.168.160.2.journal"), 0);
	assert_int_equal(wf_gw_store_sync(dir, "192.168.160.2", true, err, sizeof(err)), 0);
	assert_int_equal(count_files("peer-192.168.160.2.journal"), 0);
	/* ...and had it stayed, its lines would say only what the file holds */
	write_text(path, "- ipv4 tcp 80 80\n- ipv4 tcp 443 443\n+ ipv4 tcp 443 8443\n"
	                 "+ ipv4 tcp 25 25\n- ipv4 tcp 993 993\n");
	wf_gw_entries_free(&back);
	assert_int_equal(wf_gw_store_load(dir, "192.168.160.2", &back, err, sizeof(err)), 0);
	assert_true(wf_ctl_forwards_equal(back.forwards, back.n_forwards, want, 2));
	wf_gw_entries_free(&back);
	wf_gw_entries_free(&e);
}

/* Appends through a journal held open write to the one file, opened once; a sync through it
 * reaches the same file; once a whole save removed it, an append through a new descriptor
 * starts it anew. */
static void journal_held_open_takes_each_change(void **state)
{
	struct wf_ctl_forward first[] = {TCP4(80, 80)}, second[] = {TCP4(443, 443)};
	struct wf_ctl_forward want[] = {TCP4(80, 80), TCP4(443, 443)};
	struct wf_gw_entries none = {0}, a = {.forwards = first, .n_forwards = 1},
	                     b = {.forwards = second, .n_forwards = 1}, back;
	char err[256] = "";
	size_t size = 0;
	int fd = -1, held;

	assert_int_equal(wf_gw_store_append_open(dir, "192.168.160.2", &fd, &none, &a, false, &size,
	                                         err, sizeof(err)),
	                 0);
	assert_true(fd >= 0);
	held = fd;
	assert_int_equal(wf_gw_store_append_open(dir, "192.168.160.2", &fd, &none, &b, false, &size,
	                                         err, sizeof(err)),
	                 0);
	assert_int_equal(fd, held);
	assert_int_equal(size, strlen("+ ipv4 tcp 80 80\n+ ipv4 tcp 443 443\n"));
	assert_int_equal(wf_gw_store_sync_open(dir, "192.168.160.2", fd, true, err, sizeof(err)),
	                 0);
	assert_int_equal(wf_gw_store_load(dir, "192.168.160.2", &back, err, sizeof(err)), 0);
	assert_true(wf_ctl_forwards_equal(back.forwards, back.n_forwards, want, 2));
	assert_int_equal(wf_gw_store_save(dir, "192.168.160.2", &back, err, sizeof(err)), 0);
	assert_int_equal(count_files("peer-192.168.160.2.journal"), 0);
	close(fd);
	fd = -1;
	wf_gw_entries_free(&back);
	assert_int_equal(wf_gw_store_append_open(dir, "192.168.160.2", &fd, &a, &none, false, &size,
	                                         err, sizeof(err)),
	                 0);
	assert_int_equal(count_files("peer-192.168.160.2.journal"), 1);
	assert_int_equal(size, strlen("- ipv4 tcp 80 80\n"));
	close(fd);
	assert_int_equal(wf_gw_store_load(dir, "192.168.160.2", &back, err, sizeof(err)), 0);
	assert_true(wf_ctl_forwards_equal(back.forwards, back.n_forwards, &want[1], 1));
	wf_gw_entries_free(&back);
}

static void peer_names_compare_as_addresses(void **state)
{
	const char *json = "{\"version\":1,\"peer\":\"fc00:0::2\",\"forwards\":[],\"egress\":[]}";
	struct wf_gw_entries e;
	char err[256] = "";

	assert_int_equal(wf_gw_store_decode(json, strlen(json), "fc00::2", &e, err, sizeof(err)),
	                 0);
	wf_gw_entries_free(&e);
}

static void encoded_text_reads_back_alike_on_both_readers(void **state)
{
	struct wf_gw_entries e, fast, strict;
	char err[256] = "", *json;

	sample(&e);
	assert_int_equal(wf_gw_store_encode("192.168.160.2", &e, &json), 0);
	assert_int_equal(
	    wf_gw_store_decode(json, strlen(json), "192.168.160.2", &fast, err, sizeof(err)), 0);
	assert_int_equal(wf_gw_store_decode_strict(json, strlen(json), "192.168.160.2", &strict,
	                                           err, sizeof(err)),
	                 0);
	assert_true(wf_gw_entries_equal(&e, &fast));
	assert_true(wf_gw_entries_equal(&e, &strict));
	wf_gw_entries_free(&fast);
	wf_gw_entries_free(&strict);
	wf_gw_entries_free(&e);
	free(json);
}

static void other_spellings_of_a_state_still_read(void **state)
{
	/* Spaces, another key order, an escaped character: not the encoder's form, valid all
	 * the same. */
	const char *json =
	    "{ \"peer\": \"192.168.160.2\", \"version\": 1,\n"
	    "  \"egress\": [{\"port_hi\": 25, \"port_lo\": 25, \"proto\": \"tcp\"}],\n"
	    "  \"forwards\": [{\"target_port\": 8443, \"public_port\": 443,\n"
	    "                \"proto\": \"t\\u0063p\", \"family\": \"ipv4\"}]}";
	struct wf_gw_entries e;
	char err[256] = "";

	assert_int_equal(
	    wf_gw_store_decode(json, strlen(json), "192.168.160.2", &e, err, sizeof(err)), 0);
	assert_int_equal(e.n_forwards, 1);
	assert_int_equal(e.forwards[0].proto, IPPROTO_TCP);
	assert_int_equal(e.forwards[0].public_port, 443);
	assert_int_equal(e.forwards[0].target_port, 8443);
	assert_int_equal(e.n_egress, 1);
	assert_int_equal(e.egress[0].port_hi, 25);
	wf_gw_entries_free(&e);
}

static void canonical_looking_but_wrong_texts_get_the_strict_reason(void **state)
{
	const struct {
		const char *json, *expect;
	} bad[] = {
	    {"{\"version\":1,\"peer\":\"10.0.0.1\",\"forwards\":[{\"family\":\"ipv4\","
	     "\"proto\":\"tcp\",\"public_port\":0,\"target_port\":1}],\"egress\":[]}",
	     "forwards[0].public_port: 0 is not a port"},
	    {"{\"version\":1,\"peer\":\"10.0.0.1\",\"forwards\":[{\"family\":\"ipv4\","
	     "\"proto\":\"tcp\",\"public_port\":1,\"target_port\":065535}],\"egress\":[]}",
	     "not JSON"},
	    {"{\"version\":1,\"peer\":\"10.0.0.1\",\"forwards\":[{\"family\":\"ipv4\","
	     "\"proto\":\"tcp\",\"public_port\":1,\"target_port\":165535}],\"egress\":[]}",
	     "forwards[0].target_port: 165535 is not a port"},
	    {"{\"version\":1,\"peer\":\"10.0.0.1\",\"forwards\":[],\"egress\":[{\"proto\":\"all\","
	     "\"port_lo\":0,\"port_hi\":70000}]}",
	     "egress[0].port_hi: 70000 is not a port"},
	    {"{\"version\":1,\"peer\":\"10.0.0.1\",\"forwards\":[],\"egress\":[]}x", "not JSON"},
	    {"{\"version\":1,\"peer\":\"10.0.0.1\",\"forwards\":[],\"egress\":[]",
	     "ends in the middle"},
	    {"{\"version\":1,\"peer\":\"10.0.0.3\",\"forwards\":[],\"egress\":[]}",
	     "belongs to peer `10.0.0.3'"},
	};
	struct wf_gw_entries e;
	char err[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(wf_gw_store_decode(bad[i].json, strlen(bad[i].json), "10.0.0.1",
		                                    &e, err, sizeof(err)),
		                 -EBADMSG);
		if (!strstr(err, bad[i].expect))
			fail_msg("case %zu: `%s' does not say `%s'", i, err, bad[i].expect);
	}
}

static void encoder_writes_what_json_c_writes(void **state)
{
	const char *names[] = {"192.168.160.2", "fc00:0:0:160::2", "peer/\"odd\""};
	struct wf_gw_entries e, empty = {0};
	char *fast, *tree;

	sample(&e);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		assert_int_equal(wf_gw_store_encode(names[i], &e, &fast), 0);
		assert_int_equal(wf_gw_store_encode_json_c(names[i], &e, &tree), 0);
		assert_string_equal(fast, tree);
		free(fast);
		free(tree);
		assert_int_equal(wf_gw_store_encode(names[i], &empty, &fast), 0);
		assert_int_equal(wf_gw_store_encode_json_c(names[i], &empty, &tree), 0);
		assert_string_equal(fast, tree);
		free(fast);
		free(tree);
	}
	wf_gw_entries_free(&e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(saved_state_loads_back_equal, make_dir, remove_dir),
	    cmocka_unit_test_setup_teardown(empty_state_loads_back_empty, make_dir, remove_dir),
	    cmocka_unit_test_setup_teardown(missing_file_is_enoent, make_dir, remove_dir),
	    cmocka_unit_test_setup_teardown(save_replaces_the_file_and_leaves_no_temporary,
	                                    make_dir, remove_dir),
	    cmocka_unit_test_setup_teardown(stale_temporary_does_not_disturb_save_or_load, make_dir,
	                                    remove_dir),
	    cmocka_unit_test_setup_teardown(corrupt_file_is_moved_aside_with_the_reason, make_dir,
	                                    remove_dir),
	    cmocka_unit_test_setup_teardown(
	        a_hard_link_planted_as_the_temporary_is_not_written_through, make_dir, remove_dir),
	    cmocka_unit_test_setup_teardown(state_directory_is_made_private, make_dir, remove_dir),
	    cmocka_unit_test_setup_teardown(
	        state_directory_writable_by_others_is_refused_with_the_fix, make_dir, remove_dir),
	    cmocka_unit_test_setup_teardown(state_directory_symlink_or_file_is_refused, make_dir,
	                                    remove_dir),
	    cmocka_unit_test_setup_teardown(state_directory_of_another_user_is_refused, make_dir,
	                                    remove_dir),
	    cmocka_unit_test_setup_teardown(journal_held_open_takes_each_change, make_dir,
	                                    remove_dir),
	    cmocka_unit_test_setup_teardown(journal_replays_changes_onto_the_file, make_dir,
	                                    remove_dir),
	    cmocka_unit_test(decoder_names_the_wrong_field),
	    cmocka_unit_test(peer_names_compare_as_addresses),
	    cmocka_unit_test(encoded_text_reads_back_alike_on_both_readers),
	    cmocka_unit_test(encoder_writes_what_json_c_writes),
	    cmocka_unit_test(other_spellings_of_a_state_still_read),
	    cmocka_unit_test(canonical_looking_but_wrong_texts_get_the_strict_reason),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
