/* The destination machine against a scripted source (run.h's struct raw):
 * a forged proof, records unknown, out of order or miscounted, a stream
 * that is not one, END after a refused blob; each answered with REFUSE or
 * ERROR as the spec says, and the guest never started there. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>
#include <errno.h>

#include "migrate/auth.h"
#include "tests/unit/migrate/run.h"

static void test_destination_refuses_a_forged_proof(void **state)
{
	struct raw *w = raw_new();
	uint8_t proof[32];
	struct mig_stream_rec rec;
	struct mig_text text;

	(void)state;
	mig_auth_proof(MIG_AUTH_SOURCE, (const uint8_t *)"guess", 5, w->ns, w->nd, proof);
	mig_stream_out_put(&w->out, MIG_REC_AUTH, proof, 32);
	mig_record_put_config(&w->out, &w->t->src.cfg);
	raw_flush(w);
	assert_int_equal(raw_answer(w, &rec), MIG_REC_REFUSE);
	assert_int_equal(mig_record_get_text(&rec, &text), 0);
	assert_int_equal(text.code, MIG_CODE_AUTH);
	assert_int_equal(w->t->rret, -EACCES);
	assert_int_equal(w->t->dst.creates, 0);
	raw_free(w);
}

static void test_unknown_optional_skipped_unknown_mandatory_aborts(void **state)
{
	struct raw *w = raw_new();
	struct mig_stream_rec rec;
	struct mig_text text;
	uint8_t junk[100] = {0};

	(void)state;
	raw_auth_and_config(w);
	mig_stream_out_put(&w->out, MIG_REC_OPTIONAL | 0x42, junk, sizeof(junk));
	raw_flush(w);
	assert_true(w->t->rret > 0);
	assert_int_equal(raw_answer(w, &rec), 0);
	mig_stream_out_put(&w->out, 0x42, junk, sizeof(junk));
	raw_flush(w);
	assert_int_equal(raw_answer(w, &rec), MIG_REC_ERROR);
	assert_int_equal(mig_record_get_text(&rec, &text), 0);
	assert_int_equal(text.code, MIG_CODE_UNSUPPORTED);
	assert_int_equal(w->t->rret, -EOPNOTSUPP);
	assert_int_equal(w->t->dst.destroys, 1);
	raw_free(w);
}

static void test_destination_rejects_records_out_of_order(void **state)
{
	struct raw *w = raw_new();
	struct mig_stream_rec rec;
	struct mig_blob dummy;

	(void)state;
	(void)dummy;
	raw_auth_and_config(w);
	/* vCPU state before the final round. */
	uint8_t *blob = mig_record_blob_begin(&w->out, MIG_REC_VCPU_STATE, 0);
	memset(blob, 0, FAKE_BLOB_LEN);
	mig_record_blob_commit(&w->out, FAKE_BLOB_LEN);
	raw_flush(w);
	assert_int_equal(raw_answer(w, &rec), MIG_REC_ERROR);
	assert_int_equal(w->t->rret, -EPROTO);
	assert_int_equal(w->t->dst.destroys, 1);
	assert_string_equal(mig_recv_reason(w->t->r), "vCPU state before the final round");
	raw_free(w);
}

static void test_destination_checks_round_counts(void **state)
{
	struct raw *w = raw_new();
	struct mig_stream_rec rec;
	struct mig_batch b;
	uint8_t page[MIG_PAGE_SIZE] = {1};

	(void)state;
	raw_auth_and_config(w);
	mig_record_batch_begin(&w->out, &b);
	mig_record_batch_add(&b, 5, page);
	mig_record_batch_commit(&w->out, &b);
	struct mig_eor e = {0, 0, 2};
	mig_record_put_eor(&w->out, &e);
	raw_flush(w);
	assert_int_equal(raw_answer(w, &rec), MIG_REC_ERROR);
	assert_int_equal(w->t->rret, -EBADMSG);
	assert_string_equal(mig_recv_reason(w->t->r), "round 0: 2 pages announced, 1 received");
	raw_free(w);
}

static void test_destination_answers_a_bad_header(void **state)
{
	struct run *t = run_new(NULL, KEY);
	uint8_t junk[16] = "GET / HTTP/1.0\r\n";
	uint8_t in_mem[512];
	struct mig_stream_in in;
	struct mig_stream_rec rec;
	struct mig_text text;
	uint8_t buf[512];
	size_t used;

	(void)state;
	assert_int_equal(send(t->ss.fd, junk, sizeof(junk), 0), 16);
	while (t->rret > 0)
		t->rret = mig_recv_poll(t->r);
	assert_int_equal(t->rret, -EPROTO);
	ssize_t n = recv(t->ss.fd, buf, sizeof(buf), MSG_DONTWAIT);
	mig_stream_in_init(&in, mig_record_dst_limits, mig_record_dst_nlimits, in_mem,
			   sizeof(in_mem));
	assert_int_equal(mig_stream_in_feed(&in, buf, (size_t)n, &used, &rec), 1);
	assert_int_equal(rec.type, MIG_REC_REFUSE);
	mig_record_get_text(&rec, &text);
	assert_int_equal(text.code, MIG_CODE_PROTOCOL);
	assert_string_equal(text.text,
			    "bad stream at byte 16: not a Tern migration stream (bad magic)");
	run_free(t);
}

/* Scripted: the final round, a vCPU blob the host refuses, then END. The
 * destination answers ERROR at the blob and never looks at END. */
static void test_destination_refuses_end_after_a_refused_blob(void **state)
{
	struct raw *w = raw_new();
	struct mig_stream_rec rec;
	struct mig_text text;
	struct mig_eor e = {0, MIG_EOR_FINAL, 0};
	struct mig_end end = {1, 0, 0, 0};

	(void)state;
	w->t->dst.vcpu_ret = -EINVAL;
	w->t->dst.why_text = "CR0.PG without CR0.PE";
	raw_auth_and_config(w);
	mig_record_put_eor(&w->out, &e);
	uint8_t *blob = mig_record_blob_begin(&w->out, MIG_REC_VCPU_STATE, 0);
	memset(blob, 0, FAKE_BLOB_LEN);
	mig_record_blob_commit(&w->out, FAKE_BLOB_LEN);
	end.sum_a = w->out.sum.a, end.sum_b = w->out.sum.b;
	mig_record_put_end(&w->out, &end);
	raw_flush(w);
	assert_int_equal(raw_answer(w, &rec), MIG_REC_ERROR);
	assert_int_equal(mig_record_get_text(&rec, &text), 0);
	assert_int_equal(text.code, MIG_CODE_GUEST);
	assert_string_equal(text.text, "vCPU 0 state refused: CR0.PG without CR0.PE (-22)");
	assert_int_equal(raw_answer(w, &rec), 0); /* no HANDOFF_DONE, ever */
	assert_int_equal(w->t->rret, -EINVAL);
	assert_int_equal(w->t->dst.starts, 0);
	assert_int_equal(w->t->dst.destroys, 1);
	raw_free(w);
}

/* Records a source never sends at that point: ERROR PROTOCOL, guest
 * destroyed, never started. */
static void test_destination_rejects_each_record_out_of_order(void **state)
{
	static const struct {
		bool after_final;
		uint32_t type, len;
		const char *why;
	} cases[] = {
		{false, MIG_REC_END, MIG_END_LEN, "END before the final round"},
		{false, MIG_REC_DEVICE_STATE, 8, "device state before the final round"},
		{false, MIG_REC_HELLO, MIG_HELLO_LEN, "unexpected HELLO"},
		{false, MIG_REC_AUTH, MIG_PROOF_LEN, "unexpected AUTH"},
		{true, MIG_REC_END_OF_ROUND, MIG_EOR_LEN, "END_OF_ROUND after the final round"},
		{true, MIG_REC_PAGE_DATA, 8 + 16, "PAGE_DATA after the final round"},
		{true, MIG_REC_GUEST_CONFIG, MIG_CONFIG_FIXED_LEN, "unexpected GUEST_CONFIG"},
	};
	uint8_t payload[MIG_HELLO_LEN + 16] = {0};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct raw *w = raw_new();
		struct mig_stream_rec rec;
		struct mig_text text;

		raw_auth_and_config(w);
		if (cases[i].after_final) {
			struct mig_eor e = {0, MIG_EOR_FINAL, 0};
			mig_record_put_eor(&w->out, &e);
		}
		mig_stream_out_put(&w->out, cases[i].type, payload, cases[i].len);
		raw_flush(w);
		assert_int_equal(raw_answer(w, &rec), MIG_REC_ERROR);
		assert_int_equal(mig_record_get_text(&rec, &text), 0);
		assert_int_equal(text.code, MIG_CODE_PROTOCOL);
		assert_string_equal(mig_recv_reason(w->t->r), cases[i].why);
		assert_int_equal(w->t->rret, -EPROTO);
		assert_int_equal(w->t->dst.destroys, 1);
		assert_int_equal(w->t->dst.starts, 0);
		raw_free(w);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_destination_refuses_a_forged_proof),
		cmocka_unit_test(test_unknown_optional_skipped_unknown_mandatory_aborts),
		cmocka_unit_test(test_destination_rejects_records_out_of_order),
		cmocka_unit_test(test_destination_checks_round_counts),
		cmocka_unit_test(test_destination_answers_a_bad_header),
		cmocka_unit_test(test_destination_refuses_end_after_a_refused_blob),
		cmocka_unit_test(test_destination_rejects_each_record_out_of_order),
	};
	return cmocka_run_group_tests_name("migrate/scripted source", tests, NULL, NULL);
}
