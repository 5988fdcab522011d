#pragma once
// The documents the menu role serves, as pure functions of each other, so
// whatever copies them (`dine prewarm menu --export`) writes the same bytes
// the role serves:
//
//   a menu       {"store_id", "version", "products": [entry, ...]}
//   a product    its menu entry plus "store_id" and "version"
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace dine::menu {

// A product's document from its entry in its store's menu.
std::string product_document(nlohmann::json entry, int64_t store_id, int64_t version);

struct ProductDocument {
  int64_t product_id = 0;
  std::string body;  // as GET /v1/stores/{store_id}/products/{product_id} serves it
};
// Every product document of a menu document, in menu order. Throws
// nlohmann::json::exception when `menu_json` is not a menu document.
std::vector<ProductDocument> product_documents(const std::string& menu_json);

}  // namespace dine::menu
