#include "server/menu/documents.hpp"

namespace dine::menu {

using nlohmann::json;

std::string product_document(json entry, int64_t store_id, int64_t version) {
  entry["store_id"] = store_id;
  entry["version"] = version;
  return entry.dump();
}

std::vector<ProductDocument> product_documents(const std::string& menu_json) {
  const json menu = json::parse(menu_json);
  const int64_t store = menu.at("store_id").get<int64_t>();
  const int64_t version = menu.at("version").get<int64_t>();
  std::vector<ProductDocument> out;
  out.reserve(menu.at("products").size());
  for (const auto& p : menu.at("products"))
    out.push_back({p.at("product_id").get<int64_t>(), product_document(p, store, version)});
  return out;
}

}  // namespace dine::menu
