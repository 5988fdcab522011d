// Request accessors, query decoding and the Response helpers.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/http/message.hpp"

namespace dine::http {
namespace {

TEST(HttpMessage, PercentDecode) {
  EXPECT_EQ(percent_decode("a%20b+c"), "a b c");
  EXPECT_EQ(percent_decode("a+b", false), "a+b");
  EXPECT_EQ(percent_decode("%E5%8C%97%E4%BA%AC"), "\xE5\x8C\x97\xE4\xBA\xAC");
  EXPECT_EQ(percent_decode("100%"), "100%");    // dangling escape kept
  EXPECT_EQ(percent_decode("%zz%4"), "%zz%4");  // malformed escapes kept
  EXPECT_EQ(percent_decode("%2f%2F"), "//");
}

TEST(HttpMessage, QueryParams) {
  Request r;
  r.query = "city=S%C3%A3o+Paulo&limit=20&empty=&flag&a%26b=c%3Dd&limit=99";
  EXPECT_EQ(r.query_param("city"), "S\xC3\xA3o Paulo");
  EXPECT_EQ(r.query_param("limit"), "20");  // first one wins
  EXPECT_EQ(r.query_param("empty"), "");
  EXPECT_EQ(r.query_param("flag"), "");
  EXPECT_EQ(r.query_param("a&b"), "c=d");
  EXPECT_EQ(r.query_param("missing"), std::nullopt);
  Request none;
  EXPECT_EQ(none.query_param("x"), std::nullopt);
}

TEST(HttpMessage, HeadersAndParams) {
  Request r;
  r.headers = {{"content-type", "application/json"}, {"x-request-id", "abc"}};
  r.params = {{"order_id", "12"}};
  EXPECT_EQ(r.header("x-request-id"), "abc");
  EXPECT_EQ(r.header("authorization"), "");
  EXPECT_EQ(r.param("order_id"), "12");
}

TEST(HttpMessage, ResponseHelpers) {
  Response j = Response::json(201, {{"order_id", "5"}});
  EXPECT_EQ(j.status, 201);
  EXPECT_EQ(j.body, R"({"order_id":"5"})");
  EXPECT_EQ(j.content_type, "application/json");

  Response t = Response::text(200, "ok\n");
  EXPECT_EQ(t.body, "ok\n");
  EXPECT_EQ(t.content_type, "text/plain; charset=utf-8");

  Response e = Response::error(409, "sold_out", "no \"more\"");
  EXPECT_EQ(e.status, 409);
  EXPECT_EQ(e.body, R"({"error":"sold_out","message":"no \"more\""})");

  // Invalid UTF-8 in a message never throws.
  Response bad = Response::error(400, "bad_request", "bytes \xff\xfe");
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(bad.body.find("bad_request"), std::string::npos);
}

}  // namespace
}  // namespace dine::http

#include "core/http/wire.hpp"

namespace dine::http {
namespace {

TEST(HttpWire, ResponseHead) {
  std::string out;
  Headers extra = {{"Cache-Control", "no-store"}, {"X-Evil", "a\r\nSet-Cookie: x=1"}};
  wire::write_head(out, {.status = 201,
                         .content_type = "application/json",
                         .content_length = 12,
                         .request_id = "abc",
                         .extra = &extra,
                         .keep_alive = true});
  EXPECT_EQ(out,
            "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 12\r\n"
            "X-Request-Id: abc\r\nCache-Control: no-store\r\n\r\n");
  wire::Head h;
  h.status = 413;
  h.content_type = "application/json";
  h.keep_alive = false;
  wire::write_head(out, h);
  EXPECT_EQ(out,
            "HTTP/1.1 413 Payload Too Large\r\nContent-Type: application/json\r\n"
            "Content-Length: 0\r\nConnection: close\r\n\r\n");
  h = wire::Head{};
  h.content_type = "text/plain";
  h.http10 = true;
  wire::write_head(out, h);
  EXPECT_NE(out.find("\r\nConnection: keep-alive\r\n"), std::string::npos);
}

TEST(HttpWire, RequestIdsAreRandomHex) {
  std::string a = wire::new_request_id();
  std::string b = wire::new_request_id();
  EXPECT_EQ(a.size(), 16u);
  EXPECT_EQ(a.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_NE(a, b);
}

}  // namespace
}  // namespace dine::http
