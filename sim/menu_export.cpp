#include "sim/menu_export.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <optional>
#include <set>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "server/menu/documents.hpp"

namespace dine::sim {
namespace {

namespace fs = std::filesystem;

constexpr mode_t kFileMode = 0644;
constexpr mode_t kDirMode = 0755;

[[noreturn]] void fail(const std::string& path, const std::string& what, int err) {
  throw ExportError(fmt::format("{}: {}: {}; fix: make the export directory writable by this user "
                                "(or pass another --export DIR) and check the disk has room",
                                path, what, std::strerror(err)));
}

// A directory, made 0755 when it is new (mkdir's mode is cut by the umask).
void ensure_dir(const std::string& path) {
  if (::mkdir(path.c_str(), kDirMode) == 0) {
    if (::chmod(path.c_str(), kDirMode) != 0) fail(path, "cannot set its mode", errno);
    return;
  }
  const int err = errno;
  struct stat st {};
  if (err == EEXIST && ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return;
  fail(path, "cannot make the directory", err == EEXIST ? ENOTDIR : err);
}

// "123" -> 123; nullopt for anything but a positive id written plainly.
std::optional<int64_t> id_of(std::string_view digits) {
  int64_t v = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
  if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size() || v <= 0) return std::nullopt;
  if (std::to_string(v) != digits) return std::nullopt;  // no leading zeros or signs
  return v;
}

// "123.json" -> 123.
std::optional<int64_t> json_file_id(const std::string& name) {
  constexpr std::string_view ext = ".json";
  if (name.size() <= ext.size() || name.compare(name.size() - ext.size(), ext.size(), ext) != 0) return std::nullopt;
  return id_of(std::string_view(name).substr(0, name.size() - ext.size()));
}

// The whole file when it is a regular file of exactly `size` bytes.
std::optional<std::string> read_if_size(int fd, std::size_t size) {
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || static_cast<std::size_t>(st.st_size) != size)
    return std::nullopt;
  std::string out(size, '\0');
  std::size_t got = 0;
  while (got < size) {
    ssize_t n = ::read(fd, out.data() + got, size - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return std::nullopt;
    got += static_cast<std::size_t>(n);
  }
  return out;
}

// True when `path` already holds `bytes` (its mode set to 0644 if it was not).
bool already_there(const std::string& path, const std::string& bytes) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return false;
  auto old = read_if_size(fd, bytes.size());
  bool same = old && *old == bytes;
  struct stat st {};
  if (same && ::fstat(fd, &st) == 0 && (st.st_mode & 07777) != kFileMode) same = ::fchmod(fd, kFileMode) == 0;
  ::close(fd);
  return same;
}

}  // namespace

MenuExport::MenuExport(std::string dir) : dir_(std::move(dir)) {
  if (dir_.empty()) throw ExportError("--export needs a directory; fix: --export DIR");
  while (dir_.size() > 1 && dir_.back() == '/') dir_.pop_back();
  std::error_code ec;
  if (!fs::exists(dir_, ec)) {
    fs::create_directories(dir_, ec);
    if (ec) fail(dir_, "cannot make the directory", ec.value());
    if (::chmod(dir_.c_str(), kDirMode) != 0) fail(dir_, "cannot set its mode", errno);
  }
  ensure_dir(dir_);
  ensure_dir(dir_ + "/menus");
  ensure_dir(dir_ + "/products");
}

std::string MenuExport::menu_path(const std::string& dir, int64_t store_id) {
  return fmt::format("{}/menus/{}.json", dir, store_id);
}

std::string MenuExport::product_path(const std::string& dir, int64_t store_id, int64_t product_id) {
  return fmt::format("{}/products/{}/{}.json", dir, store_id, product_id);
}

void MenuExport::put(const std::string& dir, const std::string& name, const std::string& bytes) {
  const std::string path = dir + "/" + name;
  if (already_there(path, bytes)) {
    ++counts_.unchanged;
    return;
  }
  std::string tmp = fmt::format("{}/.{}.XXXXXX", dir, name);
  int fd = ::mkstemp(tmp.data());
  if (fd < 0) fail(dir, "cannot create a file", errno);
  auto abandon = [&](const char* what) {
    const int err = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    fail(path, what, err);
  };
  if (::fchmod(fd, kFileMode) != 0) abandon("cannot set its mode");
  std::size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) abandon("cannot write");
    done += static_cast<std::size_t>(n);
  }
  if (::close(fd) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    fail(path, "cannot write", err);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    fail(path, "cannot replace", err);
  }
  ++counts_.written;
}

void MenuExport::remove(const std::string& path) {
  if (::unlink(path.c_str()) == 0) ++counts_.removed;
  else if (errno != ENOENT) fail(path, "cannot remove", errno);
}

void MenuExport::store(int64_t store_id, const std::string& menu_json) {
  std::vector<menu::ProductDocument> docs;
  try {
    docs = menu::product_documents(menu_json);
  } catch (const nlohmann::json::exception& e) {
    throw ExportError(fmt::format("the menu of store {} is not a menu document ({})", store_id, e.what()));
  }
  // Products first: once the new menu is in place, every product it lists is.
  const std::string pdir = fmt::format("{}/products/{}", dir_, store_id);
  ensure_dir(pdir);
  std::set<int64_t> skus;
  for (const auto& d : docs) {
    put(pdir, fmt::format("{}.json", d.product_id), d.body);
    skus.insert(d.product_id);
  }
  put(dir_ + "/menus", fmt::format("{}.json", store_id), menu_json);
  ++counts_.menus;
  counts_.products += static_cast<int64_t>(docs.size());
  std::error_code ec;
  std::vector<std::string> stale;
  for (const auto& e : fs::directory_iterator(pdir, ec)) {
    auto sku = json_file_id(e.path().filename().string());
    if (sku && !skus.count(*sku)) stale.push_back(e.path().string());
  }
  if (ec) fail(pdir, "cannot list", ec.value());
  for (const auto& p : stale) remove(p);
}

void MenuExport::remove_store(int64_t store_id) {
  remove(menu_path(dir_, store_id));
  const std::string pdir = fmt::format("{}/products/{}", dir_, store_id);
  std::error_code ec;
  if (!fs::is_directory(pdir, ec)) return;
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(pdir, ec))
    if (json_file_id(e.path().filename().string())) files.push_back(e.path().string());
  if (ec) fail(pdir, "cannot list", ec.value());
  for (const auto& p : files) remove(p);
  ::rmdir(pdir.c_str());  // left in place when something else lives there
}

void MenuExport::remove_unlisted(const std::vector<int64_t>& listed) {
  auto unlisted = [&](std::optional<int64_t> id) {
    return id && !std::binary_search(listed.begin(), listed.end(), *id);
  };
  std::set<int64_t> gone;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir_ + "/menus", ec))
    if (auto id = json_file_id(e.path().filename().string()); unlisted(id)) gone.insert(*id);
  if (ec) fail(dir_ + "/menus", "cannot list", ec.value());
  for (const auto& e : fs::directory_iterator(dir_ + "/products", ec)) {
    std::error_code kind;
    if (auto id = id_of(e.path().filename().string()); unlisted(id) && e.is_directory(kind)) gone.insert(*id);
  }
  if (ec) fail(dir_ + "/products", "cannot list", ec.value());
  for (int64_t id : gone) remove_store(id);
}

}  // namespace dine::sim
