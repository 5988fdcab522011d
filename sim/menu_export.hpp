#pragma once
// The static menu files `dine prewarm menu --export DIR` writes and the
// gateway serves under /static/ (docs/prewarm.md, docs/gateway.md):
//
//   DIR/menus/{store_id}.json             a store's menu, the bytes the menu role serves
//   DIR/products/{store_id}/{sku}.json    one product of that store, likewise
//
// Each file is written to a temp file in its directory and renamed over the
// target, so a reader (nginx) sees the old file or the new one, never a part;
// mode 0644 whatever the umask (nginx's workers may run as nobody). A file
// whose bytes did not change is left alone: its mtime, and so the ETag nginx
// derives from it, stays, and clients keep their copies. Files of products
// no longer on a menu, and of stores without a menu, are removed.
// Blocking (small files); one thread.
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace dine::sim {

// A file or directory that cannot be written: its path, the system's reason, the fix.
class ExportError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class MenuExport {
 public:
  struct Counts {
    int64_t menus = 0;      // menu files in place after this run (written or unchanged)
    int64_t products = 0;   // product files likewise
    int64_t written = 0;    // files (re)written
    int64_t unchanged = 0;  // files whose bytes were already right
    int64_t removed = 0;    // stale files removed
  };

  // Makes DIR, DIR/menus and DIR/products (0755) as needed.
  explicit MenuExport(std::string dir);

  // Writes the store's menu file and one file per product of it (from the menu
  // document: server/menu/documents.hpp), then removes the store's product
  // files of SKUs the menu no longer has. Throws ExportError.
  void store(int64_t store_id, const std::string& menu_json);
  // The store has no menu: its menu file and product files go.
  void remove_store(int64_t store_id);
  // Every store with files here that is not in `listed` (sorted): its files go.
  void remove_unlisted(const std::vector<int64_t>& listed);

  const Counts& counts() const { return counts_; }
  const std::string& dir() const { return dir_; }

  static std::string menu_path(const std::string& dir, int64_t store_id);
  static std::string product_path(const std::string& dir, int64_t store_id, int64_t product_id);

 private:
  void put(const std::string& dir, const std::string& name, const std::string& bytes);
  void remove(const std::string& path);

  std::string dir_;
  Counts counts_;
};

}  // namespace dine::sim
