// The menu role's documents: a product's document is its menu entry plus the
// store and version, byte for byte what the role serves for it alone.
#include <gtest/gtest.h>

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

}  // namespace
}  // namespace dine::menu
