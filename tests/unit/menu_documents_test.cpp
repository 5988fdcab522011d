// The menu role's documents: a product's document is its menu entry plus the
// store and version, byte for byte what the role serves for it alone.
#include <gtest/gtest.h>

#include "core/errors.hpp"
#include "server/menu/documents.hpp"

namespace dine::menu {
namespace {

TEST(MenuDocuments, AProductIsItsMenuEntryWithStoreAndVersion) {
  const std::string menu =
      R"({"products":[{"available":true,"image":"img/products/1.jpg","name":"Meal set A","price_cents":3900,"product_id":1},)"
      R"({"available":false,"image":null,"name":"Caf\u00e9 \"latte\"","price_cents":1500,"product_id":7}],"store_id":42,"version":3})";
  auto docs = product_documents(menu);
  ASSERT_EQ(docs.size(), 2u);
  EXPECT_EQ(docs[0].product_id, 1);
  EXPECT_EQ(docs[0].body,
            R"({"available":true,"image":"img/products/1.jpg","name":"Meal set A","price_cents":3900,"product_id":1,)"
            R"("store_id":42,"version":3})");
  EXPECT_EQ(docs[1].product_id, 7);
  EXPECT_EQ(docs[1].body,
            "{\"available\":false,\"image\":null,\"name\":\"Caf\xc3\xa9 \\\"latte\\\"\",\"price_cents\":1500,"
            "\"product_id\":7,\"store_id\":42,\"version\":3}");
}

TEST(MenuDocuments, AMenuWithoutProductsHasNoProductDocuments) {
  EXPECT_TRUE(product_documents(R"({"products":[],"store_id":1,"version":1})").empty());
}

TEST(MenuDocuments, WhatIsNotAMenuIsRefused) {
  EXPECT_THROW(product_documents("{}"), nlohmann::json::exception);
  EXPECT_THROW(product_documents("not json"), nlohmann::json::exception);
}

// What append_json_string writes is what nlohmann's dump() writes, for every
// kind of character a name may hold.
TEST(MenuDocuments, StringsAreEscapedExactlyAsNlohmannDumpsThem) {
  std::string every_ascii;
  for (int c = 1; c < 0x80; ++c) every_ascii += static_cast<char>(c);
  const std::vector<std::string> texts = {
      "", "Meal set A", "Caf\xc3\xa9 \"latte\" \\ /slash/", every_ascii, "tab\there\nnew\rline\b\f",
      "\xe4\xb8\xad\xe6\x96\x87 \xf0\x9f\x8d\x94 \xef\xbf\xbf \xc2\x80", std::string("nul\0byte", 8)};
  for (const auto& t : texts) {
    std::string mine;
    append_json_string(mine, t);
    EXPECT_EQ(mine, nlohmann::json(t).dump()) << t;
  }
}

TEST(MenuDocuments, TextThatIsNotUtf8IsRefusedAsNlohmannWould) {
  for (std::string bad : {"\xff", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "abc\xe4\xb8", "\x80"}) {
    std::string out;
    EXPECT_THROW(append_json_string(out, bad), Error) << bad;
    EXPECT_THROW(nlohmann::json(bad).dump(), nlohmann::json::exception) << bad;
  }
}

// Documents built from database text are the ones a parse-and-dump gives back,
// so product_documents() (which parses a menu) matches what the role serves.
TEST(MenuDocuments, BuiltDocumentsAreTheirOwnParseAndDump) {
  std::vector<std::string> entries(2);
  append_entry(entries[0], {"1", "Meal set A", "3900", true, std::string_view("img/products/1.jpg")});
  append_entry(entries[1], {"17", "Caf\xc3\xa9 \"latte\"\n", "0", false, std::nullopt});
  const std::string menu = menu_document("42", "3", entries);
  EXPECT_EQ(menu, nlohmann::json::parse(menu).dump());
  EXPECT_EQ(menu,
            "{\"products\":[{\"available\":true,\"image\":\"img/products/1.jpg\",\"name\":\"Meal set A\","
            "\"price_cents\":3900,\"product_id\":1},{\"available\":false,\"image\":null,"
            "\"name\":\"Caf\xc3\xa9 \\\"latte\\\"\\n\",\"price_cents\":0,\"product_id\":17}],\"store_id\":42,\"version\":3}");
  auto docs = product_documents(menu);
  ASSERT_EQ(docs.size(), 2u);
  EXPECT_EQ(docs[0].body, product_document(entries[0], "42", "3"));
  EXPECT_EQ(docs[1].body, product_document(entries[1], "42", "3"));
  EXPECT_EQ(docs[1].body, nlohmann::json::parse(docs[1].body).dump());
  EXPECT_EQ(menu_document("7", "1", {}), R"({"products":[],"store_id":7,"version":1})");
}

}  // namespace
}  // namespace dine::menu
