// The payment role as real `dine serve payment` processes, with a real order
// node, on the harness's PostgreSQL (databases "payment" and "order"): an
// order paid at its stored amount, once; a capture that outlives the node
// that made it; a capture for an order that expired meanwhile refunded.
#include <gtest/gtest.h>

#include <csignal>

#include <fmt/format.h>

#include "tests/integration/runtime_support.hpp"

namespace dine::runtime_test {
namespace {

int64_t next_user() {
  static int64_t u = 5'000'000 + (getpid() % 1000) * 1000;
  return ++u;
}

// An order of `user` on od-1: 2 x 1250 + 1 x 300 = 2800 cents.
std::string make_order(int port, int64_t user) {
  json body = {{"user_id", user},
               {"store_id", 1},
               {"items", json::array({{{"product_id", 3}, {"qty", 2}, {"price_cents", 1250}},
                                      {{"product_id", 4}, {"qty", 1}, {"price_cents", 300}}})}};
  auto r = call(port, "POST", "/v1/orders", {{"Idempotency-Key", fmt::format("pay-test-{}", user)}},
                milliseconds(10000), body.dump());
  EXPECT_EQ(r.status, 201) << r;
  return r.j().value("order_id", "");
}

std::string pay_body(const std::string& order, int64_t user) {
  return fmt::format(R"({{"order_id": "{}", "user_id": {}}})", order, user);
}

std::string order_status(int port, const std::string& order) {
  return get(port, "/v1/orders/" + order).j().value("status", "");
}

class PaymentRole : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    orders_ = new Serve("od-1", 1);
    ASSERT_TRUE(orders_->wait_ready()) << orders_->log_tail();
  }
  static void TearDownTestSuite() {
    delete orders_;
    orders_ = nullptr;
  }
  static int order_port() { return orders_->port(); }
  static Serve* orders_;
};
Serve* PaymentRole::orders_ = nullptr;

TEST_F(PaymentRole, AnOrderIsPaidAtItsStoredAmountOnce) {
  Serve pm("pm-1", 1);
  ASSERT_TRUE(pm.wait_ready()) << pm.log_tail();
  const int64_t user = next_user();
  const std::string order = make_order(order_port(), user);
  auto paid = post_json(pm.port(), "/v1/payments", pay_body(order, user));
  ASSERT_EQ(paid.status, 200) << paid;
  EXPECT_EQ(paid.j()["status"], "PAID");
  const json o = get(order_port(), "/v1/orders/" + order).j();
  EXPECT_EQ(o["status"], "PAID");
  EXPECT_EQ(o["payment_id"], paid.j()["payment_id"]);
  const json p = get(pm.port(), "/v1/payments/" + order).j();
  EXPECT_EQ(p["amount_cents"], 2800) << "the order's amount, never a client's";
  EXPECT_EQ(p["status"], "CAPTURED");
  EXPECT_EQ(p["handoff"], "paid");

  const double charges = metric(get(pm.port(), "/metrics").body, "dine_payment_charges_total",
                                {"outcome=\"captured\""}).value_or(-1);
  auto again = post_json(pm.port(), "/v1/payments", pay_body(order, user));
  EXPECT_EQ(again.status, 200) << again;
  EXPECT_EQ(again.j()["status"], "PAID");
  EXPECT_EQ(metric(get(pm.port(), "/metrics").body, "dine_payment_charges_total", {"outcome=\"captured\""}),
            charges) << "a paid order is not charged again";
}

TEST_F(PaymentRole, SomeoneElsesOrderACancelledOneAndBadInputChangeNothing) {
  Serve pm("pm-1", 1);
  ASSERT_TRUE(pm.wait_ready()) << pm.log_tail();
  const int64_t user = next_user();
  const std::string order = make_order(order_port(), user);
  auto theirs = post_json(pm.port(), "/v1/payments", pay_body(order, user + 1));
  EXPECT_EQ(theirs.status, 404) << theirs;
  EXPECT_EQ(theirs.error_code(), "order_not_found");
  EXPECT_EQ(post_json(pm.port(), "/v1/payments", pay_body("999999999999", user)).status, 404);
  EXPECT_EQ(post_json(pm.port(), "/v1/payments", R"({"order_id": "1", "user_id": 1, "amount_cents": 1})")
                .error_code(), "unknown_field");
  EXPECT_EQ(post_json(pm.port(), "/v1/payments", "{").error_code(), "invalid_json");
  auto bare = call(pm.port(), "POST", "/v1/payments", {{"X-Dine-Service", ""}}, milliseconds(5000),
                   pay_body(order, user));
  EXPECT_EQ(bare.status, 401) << bare;
  EXPECT_EQ(order_status(order_port(), order), "CREATED");
  EXPECT_EQ(get(pm.port(), "/v1/payments/" + order).status, 404) << "nothing was charged";

  ASSERT_EQ(post_json(order_port(), "/v1/orders/" + order + "/cancel", "").status, 200);
  auto late = post_json(pm.port(), "/v1/payments", pay_body(order, user));
  EXPECT_EQ(late.status, 409) << late;
  EXPECT_EQ(late.error_code(), "order_not_payable");
}

// pm-2 captures but neither hands off nor relays; killed, its capture is
// handed off by pm-1's relay: the order ends PAID.
TEST_F(PaymentRole, ACaptureOutlivesThePaymentNodeKilledBeforeItsHandOff) {
  const int64_t user = next_user();
  const std::string order = make_order(order_port(), user);
  {
    Serve pm2("pm-2", 1);
    ASSERT_TRUE(pm2.wait_ready()) << pm2.log_tail();
    auto r = post_json(pm2.port(), "/v1/payments", pay_body(order, user));
    ASSERT_EQ(r.status, 202) << r;
    EXPECT_EQ(r.j()["status"], "PAYING");
    EXPECT_EQ(get(pm2.port(), "/v1/payments/" + order).j()["status"], "CAPTURED");
    EXPECT_EQ(order_status(order_port(), order), "CREATED") << "not handed off yet";
    ::kill(pm2.pid(), SIGKILL);
    ASSERT_TRUE(pm2.wait_exit(milliseconds(10000)).has_value());
  }
  Serve pm1("pm-1", 1);
  ASSERT_TRUE(pm1.wait_ready()) << pm1.log_tail();
  EXPECT_TRUE(eventually([&] { return order_status(order_port(), order) == "PAID"; }, milliseconds(15000)));
  EXPECT_TRUE(eventually([&] { return get(pm1.port(), "/v1/payments/" + order).j()["handoff"] == "paid"; },
                         milliseconds(15000)));
}

// Captured by pm-2, then the order expires (od-2: unpaid orders live 10 s)
// before any hand-off: pm-1's relay finds it cancelled and refunds.
TEST_F(PaymentRole, ACaptureForAnOrderThatExpiredMeanwhileIsRefunded) {
  const int64_t user = next_user();
  const std::string order = make_order(order_port(), user);
  {
    Serve pm2("pm-2", 1);
    ASSERT_TRUE(pm2.wait_ready()) << pm2.log_tail();
    ASSERT_EQ(post_json(pm2.port(), "/v1/payments", pay_body(order, user)).status, 202);
  }
  Serve expiring("od-2", 1);
  ASSERT_TRUE(expiring.wait_ready()) << expiring.log_tail();
  ASSERT_TRUE(eventually([&] { return order_status(order_port(), order) == "CANCELLED"; }, milliseconds(30000)))
      << "expired after 10 s unpaid";
  Serve pm1("pm-1", 1);
  ASSERT_TRUE(pm1.wait_ready()) << pm1.log_tail();
  EXPECT_TRUE(eventually([&] { return get(pm1.port(), "/v1/payments/" + order).j()["status"] == "REFUNDED"; },
                         milliseconds(15000)));
  EXPECT_EQ(get(pm1.port(), "/v1/payments/" + order).j()["handoff"], "refunded");
  EXPECT_EQ(order_status(order_port(), order), "CANCELLED") << "never paid after it expired";
  EXPECT_GE(metric(get(pm1.port(), "/metrics").body, "dine_payment_refunds_total", {}).value_or(0), 1);
}

}  // namespace
}  // namespace dine::runtime_test
