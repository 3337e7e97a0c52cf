#include <wgfwd/labels.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define ERRORS_MAX 8

struct errors {
	char msg[ERRORS_MAX][WF_LABEL_ERROR_MAX];
	size_t n;
};

static void collect(void *ctx, const char *message)
{
	struct errors *e = ctx;

	assert_true(strlen(message) < WF_LABEL_ERROR_MAX);
	if (e->n < ERRORS_MAX)
		strcpy(e->msg[e->n], message);
	e->n++;
}

struct ports {
	struct wf_port_entry *v;
	size_t n;
	struct errors err;
};

static struct ports *ports_parse(const char *value)
{
	static struct ports p;

	free(p.v);
	memset(&p, 0, sizeof(p));
	assert_int_equal(wf_parse_ports(value, &p.v, &p.n, collect, &p.err), 0);
	return &p;
}

static void assert_port_entry(const struct wf_port_entry *e, uint8_t protos, uint16_t public_lo,
                              uint16_t public_hi, uint16_t target_lo, uint16_t target_hi)
{
	assert_int_equal(e->protos, protos);
	assert_int_equal(e->public_lo, public_lo);
	assert_int_equal(e->public_hi, public_hi);
	assert_int_equal(e->target_lo, target_lo);
	assert_int_equal(e->target_hi, target_hi);
}

/* The value is refused as a whole entry with exactly this message. */
static void assert_ports_error(const char *value, const char *message)
{
	struct ports *p = ports_parse(value);

	assert_int_equal(p->n, 0);
	assert_int_equal(p->err.n, 1);
	assert_string_equal(p->err.msg[0], message);
}

struct egress {
	struct wf_egress_entry *v;
	size_t n;
	struct errors err;
};

static struct egress *egress_parse(const char *value)
{
	static struct egress e;

	free(e.v);
	memset(&e, 0, sizeof(e));
	assert_int_equal(
	    wf_parse_egress(value, wf_service_lookup_builtin, NULL, &e.v, &e.n, collect, &e.err),
	    0);
	return &e;
}

static void assert_egress_entry(const struct wf_egress_entry *e, uint8_t proto, uint16_t lo,
                                uint16_t hi)
{
	assert_int_equal(e->proto, proto);
	assert_int_equal(e->port_lo, lo);
	assert_int_equal(e->port_hi, hi);
}

static void assert_egress_error(const char *value, const char *message)
{
	struct egress *e = egress_parse(value);

	assert_int_equal(e->n, 0);
	assert_int_equal(e->err.n, 1);
	assert_string_equal(e->err.msg[0], message);
}

static int free_results(void **state)
{
	free(ports_parse("")->v);
	ports_parse("")->v = NULL;
	free(egress_parse("")->v);
	egress_parse("")->v = NULL;
	return 0;
}

/* ---- wgfwd.ports: accepted forms ---- */

static void port_alone_forwards_same_tcp_port(void **state)
{
	struct ports *p = ports_parse("443");

	assert_int_equal(p->n, 1);
	assert_int_equal(p->err.n, 0);
	assert_port_entry(&p->v[0], WF_PROTO_TCP, 443, 443, 443, 443);
}

static void public_colon_container_maps_public_to_container_port(void **state)
{
	struct ports *p = ports_parse("8443:443");

	assert_int_equal(p->n, 1);
	assert_port_entry(&p->v[0], WF_PROTO_TCP, 8443, 8443, 443, 443);
}

static void udp_suffix_selects_udp(void **state)
{
	struct ports *p = ports_parse("53/udp");

	assert_int_equal(p->n, 1);
	assert_port_entry(&p->v[0], WF_PROTO_UDP, 53, 53, 53, 53);
}

static void tcp_suffix_with_public_and_container_port(void **state)
{
	struct ports *p = ports_parse("2222:22/tcp");

	assert_int_equal(p->n, 1);
	assert_port_entry(&p->v[0], WF_PROTO_TCP, 2222, 2222, 22, 22);
}

static void range_alone_maps_onto_same_range(void **state)
{
	struct ports *p = ports_parse("30000-30009");

	assert_int_equal(p->n, 1);
	assert_port_entry(&p->v[0], WF_PROTO_TCP, 30000, 30009, 30000, 30009);
}

static void range_maps_onto_range_of_same_length(void **state)
{
	struct ports *p = ports_parse("30000-30009:40000-40009");

	assert_int_equal(p->n, 1);
	assert_port_entry(&p->v[0], WF_PROTO_TCP, 30000, 30009, 40000, 40009);
}

static void protocol_suffix_applies_to_whole_range_entry(void **state)
{
	struct ports *p = ports_parse("30000-30009:40000-40009/udp");

	assert_int_equal(p->n, 1);
	assert_port_entry(&p->v[0], WF_PROTO_UDP, 30000, 30009, 40000, 40009);
}

static void tcp_plus_udp_and_both_select_both_protocols(void **state)
{
	struct ports *p = ports_parse("5353/tcp+udp,5354/both,5355/udp+tcp");

	assert_int_equal(p->n, 3);
	assert_int_equal(p->err.n, 0);
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(p->v[i].protos, WF_PROTO_TCP | WF_PROTO_UDP);
}

static void protocol_names_ignore_case(void **state)
{
	struct ports *p = ports_parse("443/TCP,53/Udp");

	assert_int_equal(p->n, 2);
	assert_int_equal(p->v[0].protos, WF_PROTO_TCP);
	assert_int_equal(p->v[1].protos, WF_PROTO_UDP);
}

static void whitespace_around_entries_is_ignored(void **state)
{
	struct ports *p = ports_parse("  443 ,\t8443:443/tcp\n, 53/udp ");

	assert_int_equal(p->n, 3);
	assert_int_equal(p->err.n, 0);
	assert_port_entry(&p->v[0], WF_PROTO_TCP, 443, 443, 443, 443);
	assert_port_entry(&p->v[1], WF_PROTO_TCP, 8443, 8443, 443, 443);
	assert_port_entry(&p->v[2], WF_PROTO_UDP, 53, 53, 53, 53);
}

static void empty_entries_and_empty_value_are_ignored(void **state)
{
	struct ports *p = ports_parse("443,,80,");

	assert_int_equal(p->n, 2);
	assert_int_equal(p->err.n, 0);
	p = ports_parse("");
	assert_int_equal(p->n, 0);
	assert_null(p->v);
	assert_int_equal(p->err.n, 0);
	p = ports_parse(" , ");
	assert_int_equal(p->n, 0);
	assert_int_equal(p->err.n, 0);
}

static void range_of_one_port_is_a_port(void **state)
{
	struct ports *p = ports_parse("80-80:8080");

	assert_int_equal(p->n, 1);
	assert_port_entry(&p->v[0], WF_PROTO_TCP, 80, 80, 8080, 8080);
}

static void range_of_exactly_the_cap_is_accepted(void **state)
{
	struct ports *p = ports_parse("1-1024");

	assert_int_equal(p->n, 1);
	assert_int_equal(p->err.n, 0);
	p = ports_parse("64512-65535");
	assert_int_equal(p->n, 1);
	assert_port_entry(&p->v[0], WF_PROTO_TCP, 64512, 65535, 64512, 65535);
}

static void same_port_with_other_protocol_is_not_a_duplicate(void **state)
{
	struct ports *p = ports_parse("53,53/udp");

	assert_int_equal(p->n, 2);
	assert_int_equal(p->err.n, 0);
}

static void two_public_ports_may_reach_one_container_port(void **state)
{
	struct ports *p = ports_parse("443,8443:443");

	assert_int_equal(p->n, 2);
	assert_int_equal(p->err.n, 0);
}

/* ---- wgfwd.ports: errors ---- */

static void port_above_65535_is_refused(void **state)
{
	assert_ports_error("70000/tcp", "bad port `70000' in entry `70000/tcp'");
	assert_ports_error("99999999999999999999", "bad port `99999999999999999999' in entry "
	                                           "`99999999999999999999'");
}

static void port_zero_is_refused(void **state)
{
	assert_ports_error("0", "bad port `0' in entry `0'");
	assert_ports_error("80:0", "bad port `0' in entry `80:0'");
}

static void port_that_is_not_a_number_is_refused(void **state)
{
	assert_ports_error("http", "bad port `http' in entry `http'");
	assert_ports_error("44 3", "bad port `44 3' in entry `44 3'");
	assert_ports_error("+443", "bad port `+443' in entry `+443'");
	assert_ports_error("/udp", "bad port `' in entry `/udp'");
}

static void unknown_protocol_is_refused(void **state)
{
	assert_ports_error("443/sctp",
	                   "unknown protocol `sctp' in entry `443/sctp' (use tcp, udp or tcp+udp)");
	assert_ports_error("443/", "unknown protocol `' in entry `443/' (use tcp, udp or tcp+udp)");
	assert_ports_error("443/tcp/udp", "unknown protocol `tcp/udp' in entry `443/tcp/udp' (use "
	                                  "tcp, udp or tcp+udp)");
}

static void range_with_start_above_end_is_refused(void **state)
{
	assert_ports_error("30009-30000",
	                   "bad range `30009-30000' in entry `30009-30000': start above end");
	assert_ports_error("80:30009-30000",
	                   "bad range `30009-30000' in entry `80:30009-30000': start above end");
}

static void malformed_range_is_refused(void **state)
{
	assert_ports_error("1-2-3", "bad port `2-3' in entry `1-2-3'");
	assert_ports_error("-5", "bad port `' in entry `-5'");
	assert_ports_error("5-", "bad port `' in entry `5-'");
}

static void range_to_single_port_is_refused(void **state)
{
	assert_ports_error("8000-8009:80",
	                   "range `8000-8009' cannot map to the single port `80' in "
	                   "entry `8000-8009:80' (give a target range of the same "
	                   "length)");
}

static void single_port_to_range_is_refused(void **state)
{
	assert_ports_error("80:8000-8009",
	                   "port `80' cannot map to the range `8000-8009' in entry `80:8000-8009'");
}

static void ranges_of_different_length_are_refused(void **state)
{
	assert_ports_error("1-10:20-25", "ranges `1-10' and `20-25' differ in length (10 and 6 "
	                                 "ports) in entry `1-10:20-25'");
}

static void range_above_the_cap_is_refused(void **state)
{
	assert_ports_error("1-1025", "range `1-1025' in entry `1-1025' has 1025 ports; at most "
	                             "1024 per entry");
	assert_ports_error("1-65535:1-65535/udp", "range `1-65535' in entry `1-65535:1-65535/udp' "
	                                          "has 65535 ports; at most 1024 per entry");
}

static void more_than_one_colon_is_refused(void **state)
{
	assert_ports_error("1:2:3", "malformed entry `1:2:3': more than one `:'");
}

static void colon_without_container_port_is_refused(void **state)
{
	assert_ports_error("443:", "bad port `' in entry `443:'");
	assert_ports_error(":443", "bad port `' in entry `:443'");
}

static void duplicate_entry_is_refused_and_names_the_first(void **state)
{
	struct ports *p = ports_parse("443,443");

	assert_int_equal(p->n, 1);
	assert_int_equal(p->err.n, 1);
	assert_string_equal(p->err.msg[0],
	                    "duplicate entry `443': public port 443/tcp is already in entry `443'");

	p = ports_parse("30000-30009, 30005:80");
	assert_int_equal(p->n, 1);
	assert_string_equal(p->err.msg[0], "duplicate entry `30005:80': public port 30005/tcp is "
	                                   "already in entry `30000-30009'");

	p = ports_parse("53/udp,53/both");
	assert_int_equal(p->n, 1);
	assert_int_equal(p->v[0].protos, WF_PROTO_UDP);
	assert_string_equal(p->err.msg[0], "duplicate entry `53/both': public port 53/udp is "
	                                   "already in entry `53/udp'");
}

static void bad_entry_leaves_the_other_entries(void **state)
{
	struct ports *p = ports_parse("443,70000,80/udp,abc");

	assert_int_equal(p->n, 2);
	assert_port_entry(&p->v[0], WF_PROTO_TCP, 443, 443, 443, 443);
	assert_port_entry(&p->v[1], WF_PROTO_UDP, 80, 80, 80, 80);
	assert_int_equal(p->err.n, 2);
	assert_string_equal(p->err.msg[0], "bad port `70000' in entry `70000'");
	assert_string_equal(p->err.msg[1], "bad port `abc' in entry `abc'");
}

static void quoted_text_is_cut_and_made_printable(void **state)
{
	struct ports *p = ports_parse("4\x01\x7f"
	                              "3");

	assert_string_equal(p->err.msg[0], "bad port `4??3' in entry `4??3'");

	p = ports_parse("1234567890123456789012345678901234567890123");
	assert_string_equal(p->err.msg[0],
	                    "bad port `1234567890123456789012345678901234567890...' "
	                    "in entry `1234567890123456789012345678901234567890...'");
}

/* ---- wgfwd.egress ---- */

static void service_name_selects_its_protocol_and_port(void **state)
{
	struct egress *e = egress_parse("smtp");

	assert_int_equal(e->n, 1);
	assert_int_equal(e->err.n, 0);
	assert_egress_entry(&e->v[0], IPPROTO_TCP, 25, 25);

	e = egress_parse("submission,smtps,submissions");
	assert_int_equal(e->n, 2);
	assert_egress_entry(&e->v[0], IPPROTO_TCP, 587, 587);
	assert_egress_entry(&e->v[1], IPPROTO_TCP, 465, 465);
	assert_int_equal(e->err.n, 1);
	assert_string_equal(e->err.msg[0], "duplicate entry `submissions': overlaps entry `smtps'");
}

static void service_of_both_protocols_selects_both(void **state)
{
	struct egress *e = egress_parse("domain");

	assert_int_equal(e->n, 2);
	assert_egress_entry(&e->v[0], IPPROTO_TCP, 53, 53);
	assert_egress_entry(&e->v[1], IPPROTO_UDP, 53, 53);
}

static void udp_only_service_selects_udp(void **state)
{
	struct egress *e = egress_parse("ntp");

	assert_int_equal(e->n, 1);
	assert_egress_entry(&e->v[0], IPPROTO_UDP, 123, 123);
}

static void service_names_ignore_case(void **state)
{
	struct egress *e = egress_parse("SMTP");

	assert_int_equal(e->n, 1);
	assert_egress_entry(&e->v[0], IPPROTO_TCP, 25, 25);
}

static void explicit_protocol_and_port(void **state)
{
	struct egress *e = egress_parse("tcp/25, udp/123 ,587/tcp,TCP/993");

	assert_int_equal(e->n, 4);
	assert_int_equal(e->err.n, 0);
	assert_egress_entry(&e->v[0], IPPROTO_TCP, 25, 25);
	assert_egress_entry(&e->v[1], IPPROTO_UDP, 123, 123);
	assert_egress_entry(&e->v[2], IPPROTO_TCP, 587, 587);
	assert_egress_entry(&e->v[3], IPPROTO_TCP, 993, 993);
}

static void explicit_protocol_and_range(void **state)
{
	struct egress *e = egress_parse("tcp/6000-6010");

	assert_int_equal(e->n, 1);
	assert_egress_entry(&e->v[0], IPPROTO_TCP, 6000, 6010);
}

static void explicit_protocol_and_service(void **state)
{
	struct egress *e = egress_parse("tcp/smtp,udp/domain");

	assert_int_equal(e->n, 2);
	assert_egress_entry(&e->v[0], IPPROTO_TCP, 25, 25);
	assert_egress_entry(&e->v[1], IPPROTO_UDP, 53, 53);
}

static void all_selects_every_protocol(void **state)
{
	struct egress *e = egress_parse(" all ");

	assert_int_equal(e->n, 1);
	assert_egress_entry(&e->v[0], 0, 0, 0);
}

static void bare_protocol_selects_all_its_ports(void **state)
{
	struct egress *e = egress_parse("tcp,udp/all");

	assert_int_equal(e->n, 2);
	assert_egress_entry(&e->v[0], IPPROTO_TCP, 0, 0);
	assert_egress_entry(&e->v[1], IPPROTO_UDP, 0, 0);

	e = egress_parse("both/53");
	assert_int_equal(e->n, 2);
	assert_egress_entry(&e->v[0], IPPROTO_TCP, 53, 53);
	assert_egress_entry(&e->v[1], IPPROTO_UDP, 53, 53);
}

static uint16_t counting_resolver(const char *name, uint8_t proto, void *ctx)
{
	int *calls = ctx;

	(*calls)++;
	return !strcmp(name, "mail") && proto == IPPROTO_TCP ? 2525 : 0;
}

static void resolver_callback_decides_service_ports(void **state)
{
	struct wf_egress_entry *v;
	struct errors err = {0};
	size_t n;
	int calls = 0;

	assert_int_equal(
	    wf_parse_egress("mail,smtp", counting_resolver, &calls, &v, &n, collect, &err), 0);
	assert_int_equal(n, 1);
	assert_egress_entry(&v[0], IPPROTO_TCP, 2525, 2525);
	assert_int_equal(err.n, 1);
	assert_string_equal(err.msg[0], "unknown service `smtp' (not in the services database; "
	                                "write tcp/PORT or udp/PORT)");
	assert_int_equal(calls, 4);
	free(v);
}

static void system_services_database_knows_the_mail_ports(void **state)
{
	assert_int_equal(wf_service_lookup_system("smtp", IPPROTO_TCP, NULL), 25);
	assert_int_equal(wf_service_lookup_system("submission", IPPROTO_TCP, NULL), 587);
	assert_int_equal(wf_service_lookup_system("submissions", IPPROTO_TCP, NULL), 465);
	assert_int_equal(wf_service_lookup_system("smtps", IPPROTO_TCP, NULL), 465);
	assert_int_equal(wf_service_lookup_system("no-such-service", IPPROTO_TCP, NULL), 0);
	assert_int_equal(wf_service_lookup_builtin("smtps", IPPROTO_UDP, NULL), 0);
}

static void default_resolver_is_the_system_one(void **state)
{
	struct wf_egress_entry *v;
	size_t n;

	assert_int_equal(wf_parse_egress("smtp,smtps", NULL, NULL, &v, &n, NULL, NULL), 0);
	assert_int_equal(n, 2);
	assert_egress_entry(&v[0], IPPROTO_TCP, 25, 25);
	assert_egress_entry(&v[1], IPPROTO_TCP, 465, 465);
	free(v);
}

static void unknown_service_is_refused(void **state)
{
	assert_egress_error("smtpx", "unknown service `smtpx' (not in the services database; "
	                             "write tcp/PORT or udp/PORT)");
}

static void service_unknown_for_the_protocol_is_refused(void **state)
{
	assert_egress_error("udp/smtp", "unknown service `smtp' for udp in entry `udp/smtp'");
}

static void egress_bad_port_is_refused(void **state)
{
	assert_egress_error("tcp/70000", "bad port `70000' in entry `tcp/70000'");
	assert_egress_error("tcp/0", "bad port `0' in entry `tcp/0'");
	assert_egress_error("tcp/1-2-3", "bad port `2-3' in entry `tcp/1-2-3'");
}

static void egress_range_with_start_above_end_is_refused(void **state)
{
	assert_egress_error("tcp/6010-6000",
	                    "bad range `6010-6000' in entry `tcp/6010-6000': start above end");
}

static void egress_unknown_protocol_is_refused(void **state)
{
	assert_egress_error("sctp/25", "unknown protocol `sctp' in entry `sctp/25' (use tcp or "
	                               "udp)");
	assert_egress_error("25/sctp", "unknown protocol `sctp' in entry `25/sctp' (use tcp or "
	                               "udp)");
}

static void egress_port_without_protocol_is_refused(void **state)
{
	assert_egress_error("25", "port `25' needs a protocol: write `tcp/25' or `udp/25'");
}

static void egress_malformed_names_are_refused(void **state)
{
	assert_egress_error("smtp!", "bad service name `smtp!'");
	assert_egress_error("tcp/sm!tp", "bad port or service `sm!tp' in entry `tcp/sm!tp'");
	assert_egress_error("tcp/", "bad port or service `' in entry `tcp/'");
}

static void egress_overlapping_entries_are_duplicates(void **state)
{
	struct egress *e = egress_parse("smtp,tcp/25");

	assert_int_equal(e->n, 1);
	assert_string_equal(e->err.msg[0], "duplicate entry `tcp/25': overlaps entry `smtp'");

	e = egress_parse("tcp/20-30,tcp/30-40,udp/25");
	assert_int_equal(e->n, 2);
	assert_string_equal(e->err.msg[0], "duplicate entry `tcp/30-40': overlaps entry "
	                                   "`tcp/20-30'");

	e = egress_parse("tcp,smtp");
	assert_int_equal(e->n, 1);
	assert_string_equal(e->err.msg[0], "duplicate entry `smtp': overlaps entry `tcp'");

	e = egress_parse("ntp,all");
	assert_int_equal(e->n, 1);
	assert_string_equal(e->err.msg[0], "duplicate entry `all': overlaps entry `ntp'");
}

static void egress_bad_entry_leaves_the_other_entries(void **state)
{
	struct egress *e = egress_parse("smtp,nope,udp/123");

	assert_int_equal(e->n, 2);
	assert_egress_entry(&e->v[0], IPPROTO_TCP, 25, 25);
	assert_egress_entry(&e->v[1], IPPROTO_UDP, 123, 123);
	assert_int_equal(e->err.n, 1);
}

/* ---- wgfwd.enable ---- */

static void enable_accepts_the_usual_booleans(void **state)
{
	static const char *const yes[] = {"true", "yes", "1", "TRUE", " Yes "};
	static const char *const no[] = {"false", "no", "0", "False", "NO\n"};
	bool v;

	for (size_t i = 0; i < 5; i++) {
		v = false;
		assert_int_equal(wf_parse_bool(yes[i], &v, NULL, 0), 0);
		assert_true(v);
		v = true;
		assert_int_equal(wf_parse_bool(no[i], &v, NULL, 0), 0);
		assert_false(v);
	}
}

static void enable_refuses_anything_else(void **state)
{
	char err[WF_LABEL_ERROR_MAX];
	bool v;

	assert_int_equal(wf_parse_bool("maybe", &v, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "bad value `maybe' (use true or false)");
	assert_int_equal(wf_parse_bool("", &v, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "bad value `' (use true or false)");
	assert_int_equal(wf_parse_bool("truee", &v, err, sizeof(err)), -EINVAL);
	assert_int_equal(wf_parse_bool("2", &v, err, sizeof(err)), -EINVAL);
}

static void protocol_names_for_messages(void **state)
{
	assert_string_equal(wf_proto_name(IPPROTO_TCP), "tcp");
	assert_string_equal(wf_proto_name(IPPROTO_UDP), "udp");
	assert_string_equal(wf_proto_name(0), "all");
	assert_string_equal(wf_proto_name(IPPROTO_ICMP), "?");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(port_alone_forwards_same_tcp_port),
	    cmocka_unit_test(public_colon_container_maps_public_to_container_port),
	    cmocka_unit_test(udp_suffix_selects_udp),
	    cmocka_unit_test(tcp_suffix_with_public_and_container_port),
	    cmocka_unit_test(range_alone_maps_onto_same_range),
	    cmocka_unit_test(range_maps_onto_range_of_same_length),
	    cmocka_unit_test(protocol_suffix_applies_to_whole_range_entry),
	    cmocka_unit_test(tcp_plus_udp_and_both_select_both_protocols),
	    cmocka_unit_test(protocol_names_ignore_case),
	    cmocka_unit_test(whitespace_around_entries_is_ignored),
	    cmocka_unit_test(empty_entries_and_empty_value_are_ignored),
	    cmocka_unit_test(range_of_one_port_is_a_port),
	    cmocka_unit_test(range_of_exactly_the_cap_is_accepted),
	    cmocka_unit_test(same_port_with_other_protocol_is_not_a_duplicate),
	    cmocka_unit_test(two_public_ports_may_reach_one_container_port),
	    cmocka_unit_test(port_above_65535_is_refused),
	    cmocka_unit_test(port_zero_is_refused),
	    cmocka_unit_test(port_that_is_not_a_number_is_refused),
	    cmocka_unit_test(unknown_protocol_is_refused),
	    cmocka_unit_test(range_with_start_above_end_is_refused),
	    cmocka_unit_test(malformed_range_is_refused),
	    cmocka_unit_test(range_to_single_port_is_refused),
	    cmocka_unit_test(single_port_to_range_is_refused),
	    cmocka_unit_test(ranges_of_different_length_are_refused),
	    cmocka_unit_test(range_above_the_cap_is_refused),
	    cmocka_unit_test(more_than_one_colon_is_refused),
	    cmocka_unit_test(colon_without_container_port_is_refused),
	    cmocka_unit_test(duplicate_entry_is_refused_and_names_the_first),
	    cmocka_unit_test(bad_entry_leaves_the_other_entries),
	    cmocka_unit_test(quoted_text_is_cut_and_made_printable),
	    cmocka_unit_test(service_name_selects_its_protocol_and_port),
	    cmocka_unit_test(service_of_both_protocols_selects_both),
	    cmocka_unit_test(udp_only_service_selects_udp),
	    cmocka_unit_test(service_names_ignore_case),
	    cmocka_unit_test(explicit_protocol_and_port),
	    cmocka_unit_test(explicit_protocol_and_range),
	    cmocka_unit_test(explicit_protocol_and_service),
	    cmocka_unit_test(all_selects_every_protocol),
	    cmocka_unit_test(bare_protocol_selects_all_its_ports),
	    cmocka_unit_test(resolver_callback_decides_service_ports),
	    cmocka_unit_test(system_services_database_knows_the_mail_ports),
	    cmocka_unit_test(default_resolver_is_the_system_one),
	    cmocka_unit_test(unknown_service_is_refused),
	    cmocka_unit_test(service_unknown_for_the_protocol_is_refused),
	    cmocka_unit_test(egress_bad_port_is_refused),
	    cmocka_unit_test(egress_range_with_start_above_end_is_refused),
	    cmocka_unit_test(egress_unknown_protocol_is_refused),
	    cmocka_unit_test(egress_port_without_protocol_is_refused),
	    cmocka_unit_test(egress_malformed_names_are_refused),
	    cmocka_unit_test(egress_overlapping_entries_are_duplicates),
	    cmocka_unit_test(egress_bad_entry_leaves_the_other_entries),
	    cmocka_unit_test(enable_accepts_the_usual_booleans),
	    cmocka_unit_test(enable_refuses_anything_else),
	    cmocka_unit_test(protocol_names_for_messages),
	};

	return cmocka_run_group_tests(tests, NULL, free_results);
}
