#pragma once
// Files compiled into the binary: the default topology and the SQL migrations.
#include <optional>
#include <span>
#include <string_view>

namespace dine::embedded {

struct File {
  std::string_view path;     // relative to the source tree, e.g. "schemas/order/001_orders.sql"
  std::string_view content;
};

std::span<const File> all();
std::optional<std::string_view> find(std::string_view path);

}  // namespace dine::embedded
