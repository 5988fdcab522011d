#pragma once
// The documents the menu role serves, built straight from the database's text
// (no JSON tree: a refresh writes thousands of them per call), and derived
// from each other, so whatever copies them (`dine prewarm menu --export`)
// writes the bytes the role serves:
//
//   a product entry  {"available","image","name","price_cents","product_id"}
//   a menu           {"products": [entry, ...], "store_id", "version"}
//   a product        its entry plus "store_id" and "version"
//
// Keys in sorted order and strings escaped exactly as nlohmann::json's dump()
// writes them (unit-tested against it), so documents made here and documents
// parsed and dumped again are the same bytes.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace dine::menu {

// One product row as PostgreSQL's text gives it: integers in decimal.
struct ProductRow {
  std::string_view product_id;
  std::string_view name;
  std::string_view price_cents;
  bool available = false;
  std::optional<std::string_view> image;
};

// Appends `s` as a JSON string. Throws dine::Error (db_bad_value) when `s` is
// not valid UTF-8, as nlohmann's dump() would refuse it.
void append_json_string(std::string& out, std::string_view s);
// Appends a product's menu entry.
void append_entry(std::string& out, const ProductRow& p);
// A product's document from its entry (as append_entry wrote it).
std::string product_document(std::string_view entry, std::string_view store_id, std::string_view version);
// A menu's document from its entries, in order.
std::string menu_document(std::string_view store_id, std::string_view version, const std::vector<std::string>& entries);

// A product's document from its entry in a parsed menu.
std::string product_document(nlohmann::json entry, int64_t store_id, int64_t version);

struct ProductDocument {
  int64_t product_id = 0;
  std::string body;  // as GET /v1/stores/{store_id}/products/{product_id} serves it
};
// Every product document of a menu document, in menu order. Throws
// nlohmann::json::exception when `menu_json` is not a menu document.
std::vector<ProductDocument> product_documents(const std::string& menu_json);

}  // namespace dine::menu
