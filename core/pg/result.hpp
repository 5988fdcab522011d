#pragma once
// A PostgreSQL result: owns the PGresult, gives text access by row and column.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

struct pg_result;

namespace dine::pg {

class Result {
 public:
  Result() = default;
  explicit Result(pg_result* res);

  int rows() const;
  int columns() const;
  int column(std::string_view name) const;        // throws std::out_of_range if absent
  bool is_null(int row, int col) const;
  std::string_view text(int row, int col) const;  // "" when NULL
  std::string_view text(int row, std::string_view col) const { return text(row, column(col)); }
  std::optional<std::string> opt(int row, std::string_view col) const;
  int64_t int64(int row, std::string_view col) const;  // throws on NULL or not a number
  int64_t affected() const;                            // PQcmdTuples as a number, 0 if none
  std::string_view command_tag() const;                // PQcmdStatus: "INSERT 0 1", "COMMIT", "ROLLBACK"

  // The same result seen through some of its rows (a batch's rows of one
  // item): row i of the subset is row rows[i] of this one. Shares the PGresult.
  Result subset(std::vector<int> rows) const;

 private:
  int physical(int row) const { return rows_ ? (*rows_)[static_cast<std::size_t>(row)] : row; }
  std::shared_ptr<pg_result> res_;
  std::shared_ptr<const std::vector<int>> rows_;  // null: every row
};

}  // namespace dine::pg
