#include "server/menu/documents.hpp"

#include "core/errors.hpp"

namespace dine::menu {

using nlohmann::json;

namespace {

// The length of the UTF-8 sequence starting at s[i], or 0 when it is not one
// (overlong forms, surrogates and code points past U+10FFFF included).
std::size_t utf8_sequence(std::string_view s, std::size_t i) {
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = b(i);
  std::size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
  if (n == 0 || i + n > s.size()) return 0;
  for (std::size_t k = 1; k < n; ++k)
    if ((b(i + k) & 0xC0) != 0x80) return 0;
  if (n == 2 && c < 0xC2) return 0;                                  // overlong
  if (n == 3 && c == 0xE0 && b(i + 1) < 0xA0) return 0;              // overlong
  if (n == 3 && c == 0xED && b(i + 1) >= 0xA0) return 0;             // surrogates
  if (n == 4 && c == 0xF0 && b(i + 1) < 0x90) return 0;              // overlong
  if (n == 4 && (c > 0xF4 || (c == 0xF4 && b(i + 1) >= 0x90))) return 0;  // past U+10FFFF
  return n;
}

}  // namespace

void append_json_string(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  for (std::size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      const std::size_t n = utf8_sequence(s, i);
      if (n == 0) throw Error(ErrorKind::Internal, "db_bad_value", "a text value is not valid UTF-8");
      out.append(s.data() + i, n);
      i += n;
      continue;
    }
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out += kHex[c >> 4];
          out += kHex[c & 0xF];
        } else {
          out += static_cast<char>(c);
        }
    }
    ++i;
  }
  out += '"';
}

void append_entry(std::string& out, const ProductRow& p) {
  out += "{\"available\":";
  out += p.available ? "true" : "false";
  out += ",\"image\":";
  if (p.image) append_json_string(out, *p.image);
  else out += "null";
  out += ",\"name\":";
  append_json_string(out, p.name);
  out += ",\"price_cents\":";
  out += p.price_cents;
  out += ",\"product_id\":";
  out += p.product_id;
  out += '}';
}

std::string product_document(std::string_view entry, std::string_view store_id, std::string_view version) {
  // "store_id" and "version" sort after every key of an entry: they go last.
  std::string out;
  out.reserve(entry.size() + store_id.size() + version.size() + 24);
  out.append(entry.substr(0, entry.size() - 1));
  out += ",\"store_id\":";
  out += store_id;
  out += ",\"version\":";
  out += version;
  out += '}';
  return out;
}

std::string menu_document(std::string_view store_id, std::string_view version, const std::vector<std::string>& entries) {
  std::size_t size = 48 + store_id.size() + version.size();
  for (const auto& e : entries) size += e.size() + 1;
  std::string out;
  out.reserve(size);
  out += "{\"products\":[";
  for (std::size_t i = 0; i < entries.size(); ++i) {
    if (i) out += ',';
    out += entries[i];
  }
  out += "],\"store_id\":";
  out += store_id;
  out += ",\"version\":";
  out += version;
  out += '}';
  return out;
}

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
