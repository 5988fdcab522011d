#include "sim/seed/loader.hpp"

#include <algorithm>

#include <libpq-fe.h>

#include <fmt/format.h>

namespace dine::seed {
namespace {

std::string first_line(const char* text) {
  std::string s = text ? text : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  if (auto nl = s.find('\n'); nl != std::string::npos) s = s.substr(0, nl);
  return s;
}

std::string fix_for(const std::string& sqlstate, const std::string& text) {
  if (sqlstate == "42P01" || sqlstate == "42703" || sqlstate == "3D000" ||
      text.find("does not exist") != std::string::npos)
    return "; fix: run 'dine db migrate' (it creates the databases and tables)";
  if (sqlstate.empty() || sqlstate.rfind("08", 0) == 0 || sqlstate.rfind("57P", 0) == 0)
    return "; fix: start the stack with 'dine up' (or check 'dine ps')";
  return "";
}

void ignore_notice(void*, const char*) {}

}  // namespace

Session::Session(const std::string& dsn, std::string where) : where_(std::move(where)) {
  conn_ = PQconnectdb(dsn.c_str());
  if (PQstatus(conn_) != CONNECTION_OK) {
    std::string why = first_line(PQerrorMessage(conn_));
    PQfinish(conn_);
    conn_ = nullptr;
    bool missing = why.find("does not exist") != std::string::npos;
    throw DbError(fmt::format("{}: {}: {}{}", where_, missing ? "no such database" : "unreachable", why,
                              fix_for(missing ? "3D000" : "", why)),
                  "");
  }
  PQsetNoticeProcessor(conn_, ignore_notice, nullptr);  // "already exists, skipping" is not news
}

Session::~Session() {
  if (conn_) PQfinish(conn_);
}

pg::Result Session::check(PGresult* res, std::string_view sql) {
  ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_COPY_IN) return pg::Result(res);
  const char* code = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : nullptr;
  std::string state = code ? code : "";
  std::string why = first_line(res ? PQresultErrorMessage(res) : PQerrorMessage(conn_));
  if (why.empty()) why = first_line(PQerrorMessage(conn_));
  if (res) PQclear(res);
  if (PQstatus(conn_) == CONNECTION_BAD) state.clear();  // the server went away
  throw DbError(fmt::format("{}: {}{}{}", where_, why, state.empty() ? "" : fmt::format(" (SQLSTATE {})", state),
                            fix_for(state, why)),
                state);
}

pg::Result Session::exec(std::string_view sql) { return check(PQexec(conn_, std::string(sql).c_str()), sql); }

pg::Result Session::exec(std::string_view sql, const pg::Params& params) {
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
  PGresult* res = PQexecParams(conn_, std::string(sql).c_str(), static_cast<int>(values.size()), nullptr,
                               values.data(), nullptr, nullptr, 0);
  return check(res, sql);
}

void Session::copy_in(std::string_view copy_sql, std::string_view data) {
  pg::Result started = check(PQexec(conn_, std::string(copy_sql).c_str()), copy_sql);
  // (blocking mode: PQputCopyData waits until libpq's buffer drains)
  bool sent = data.empty() || PQputCopyData(conn_, data.data(), static_cast<int>(data.size())) == 1;
  bool ended = PQputCopyEnd(conn_, sent ? nullptr : "client failed to send") == 1;
  PGresult* res = nullptr;
  PGresult* failed = nullptr;
  while ((res = PQgetResult(conn_)) != nullptr) {
    if (PQresultStatus(res) != PGRES_COMMAND_OK && !failed) failed = res;
    else PQclear(res);
  }
  if (failed || !sent || !ended) check(failed, copy_sql);
}

Counts load(Session& s, const Load& l, int64_t rows, const std::function<void(int64_t, std::string&)>& row,
            const std::function<void(int64_t)>& progress, int64_t chunk) {
  const std::string copy = fmt::format("COPY {} ({}) FROM STDIN", l.staging, l.columns);
  Counts c;
  std::string data;
  for (int64_t from = 0; from < rows; from += chunk) {
    const int64_t to = std::min(rows, from + chunk);
    data.clear();
    for (int64_t i = from; i < to; ++i) row(i, data);
    s.exec("BEGIN");
    s.copy_in(copy, data);
    pg::Result merged = s.exec(l.merge);
    s.exec("COMMIT");
    c.rows += to - from;
    c.inserted += std::stoll(std::string(merged.text(0, 0)));
    if (merged.columns() > 1) c.changed += std::stoll(std::string(merged.text(0, 1)));
    if (progress) progress(c.rows);
  }
  return c;
}

}  // namespace dine::seed
