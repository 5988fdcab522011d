#include "core/pg/result.hpp"

#include <libpq-fe.h>

#include <charconv>
#include <stdexcept>
#include <string>

#include "core/errors.hpp"

namespace dine::pg {

Result::Result(pg_result* res) {
  if (res) res_ = std::shared_ptr<pg_result>(res, &PQclear);
}

int Result::rows() const {
  if (rows_) return static_cast<int>(rows_->size());
  return res_ ? PQntuples(res_.get()) : 0;
}

Result Result::subset(std::vector<int> rows) const {
  for (int r : rows)
    if (r < 0 || r >= this->rows()) throw std::out_of_range("result subset row out of range");
  Result out;
  out.res_ = res_;
  std::vector<int> mapped;
  mapped.reserve(rows.size());
  for (int r : rows) mapped.push_back(physical(r));
  out.rows_ = std::make_shared<const std::vector<int>>(std::move(mapped));
  return out;
}

int Result::columns() const { return res_ ? PQnfields(res_.get()) : 0; }

int Result::column(std::string_view name) const {
  // PQfnumber folds unquoted names to lower case; a quoted copy keeps the name as given.
  std::string quoted;
  quoted.reserve(name.size() + 2);
  quoted += '"';
  for (char c : name) {
    quoted += c;
    if (c == '"') quoted += '"';
  }
  quoted += '"';
  int col = res_ ? PQfnumber(res_.get(), quoted.c_str()) : -1;
  if (col < 0) throw std::out_of_range("no column '" + std::string(name) + "' in result");
  return col;
}

bool Result::is_null(int row, int col) const {
  if (row < 0 || row >= rows() || col < 0 || col >= columns()) {
    throw std::out_of_range("result cell out of range");
  }
  return PQgetisnull(res_.get(), physical(row), col) != 0;
}

std::string_view Result::text(int row, int col) const {
  if (is_null(row, col)) return {};
  const int r = physical(row);
  return {PQgetvalue(res_.get(), r, col), static_cast<std::size_t>(PQgetlength(res_.get(), r, col))};
}

std::optional<std::string> Result::opt(int row, std::string_view col) const {
  int c = column(col);
  if (is_null(row, c)) return std::nullopt;
  return std::string(text(row, c));
}

int64_t Result::int64(int row, std::string_view col) const {
  int c = column(col);
  if (is_null(row, c)) {
    throw Error(ErrorKind::Internal, "db_bad_value", "column '" + std::string(col) + "' is NULL");
  }
  std::string_view t = text(row, c);
  int64_t v = 0;
  auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
  if (ec != std::errc() || end != t.data() + t.size()) {
    throw Error(ErrorKind::Internal, "db_bad_value",
                "column '" + std::string(col) + "' is not an integer: '" + std::string(t) + "'");
  }
  return v;
}

int64_t Result::affected() const {
  if (!res_) return 0;
  std::string_view t = PQcmdTuples(res_.get());
  int64_t v = 0;
  auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
  return ec == std::errc() ? v : 0;
}

std::string_view Result::command_tag() const { return res_ ? PQcmdStatus(res_.get()) : ""; }

}  // namespace dine::pg
