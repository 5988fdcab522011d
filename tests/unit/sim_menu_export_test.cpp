// The static menu files of `dine prewarm menu --export`: the served bytes,
// mode 0644 whatever the umask, unchanged files left alone (their mtime, so
// nginx's ETag, stays), stale products and stores removed, and a directory
// that cannot be made is an error naming it.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <sys/stat.h>
#include <unistd.h>

#include "sim/menu_export.hpp"

namespace dine::sim {
namespace {

namespace fs = std::filesystem;

const std::string kMenu =
    R"({"products":[{"available":true,"image":"img/products/1.jpg","name":"Meal set A","price_cents":3900,"product_id":1},)"
    R"({"available":true,"image":null,"name":"Fries","price_cents":900,"product_id":2}],"store_id":5,"version":2})";
const std::string kOneProduct =
    R"({"products":[{"available":true,"image":null,"name":"Fries","price_cents":900,"product_id":2}],"store_id":5,"version":3})";

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

mode_t mode_of(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? st.st_mode & 07777 : 0;
}

struct timespec mtime_of(const std::string& path) {
  struct stat st {};
  ::stat(path.c_str(), &st);
  return st.st_mtim;
}

std::vector<std::string> files_under(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file()) out.push_back(fs::relative(e.path(), dir).string());
  std::sort(out.begin(), out.end());
  return out;
}

class MenuExportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("dine-export-test-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    old_umask_ = ::umask(077);  // as strict as it gets: the files must be 0644 anyway
  }
  void TearDown() override {
    ::umask(old_umask_);
    fs::remove_all(dir_);
  }
  std::string dir_;
  mode_t old_umask_ = 0;
};

TEST_F(MenuExportTest, WritesTheMenuAndEachProductWorldReadable) {
  MenuExport e(dir_ + "/static");
  e.store(5, kMenu);
  const std::string root = dir_ + "/static";
  EXPECT_EQ(files_under(root), (std::vector<std::string>{"menus/5.json", "products/5/1.json", "products/5/2.json"}));
  EXPECT_EQ(slurp(MenuExport::menu_path(root, 5)), kMenu);
  EXPECT_EQ(slurp(MenuExport::product_path(root, 5, 2)),
            R"({"available":true,"image":null,"name":"Fries","price_cents":900,"product_id":2,"store_id":5,"version":2})");
  for (const auto& f : files_under(root)) EXPECT_EQ(mode_of(root + "/" + f), 0644u) << f;
  for (const char* d : {"", "/menus", "/products", "/products/5"}) EXPECT_EQ(mode_of(root + d), 0755u) << d;
  EXPECT_EQ(e.counts().menus, 1);
  EXPECT_EQ(e.counts().products, 2);
  EXPECT_EQ(e.counts().written, 3);
}

TEST_F(MenuExportTest, UnchangedFilesAreLeftAloneSoTheirETagStays) {
  { MenuExport(dir_).store(5, kMenu); }
  const std::string menu = MenuExport::menu_path(dir_, 5);
  ::chmod(menu.c_str(), 0600);  // someone made it unreadable to nginx: put right without a rewrite
  const auto before = mtime_of(menu);
  MenuExport again(dir_);
  again.store(5, kMenu);
  EXPECT_EQ(again.counts().written, 0);
  EXPECT_EQ(again.counts().unchanged, 3);
  const auto after = mtime_of(menu);
  EXPECT_EQ(before.tv_sec, after.tv_sec);
  EXPECT_EQ(before.tv_nsec, after.tv_nsec);
  EXPECT_EQ(mode_of(menu), 0644u);
}

TEST_F(MenuExportTest, AProductOffTheMenuLosesItsFileAndNoTempFileStays) {
  MenuExport e(dir_);
  e.store(5, kMenu);
  std::ofstream(dir_ + "/products/5/notes.txt") << "not ours";
  e.store(5, kOneProduct);
  EXPECT_EQ(files_under(dir_), (std::vector<std::string>{"menus/5.json", "products/5/2.json", "products/5/notes.txt"}));
  EXPECT_EQ(slurp(MenuExport::menu_path(dir_, 5)), kOneProduct);
  EXPECT_EQ(e.counts().removed, 1);
}

TEST_F(MenuExportTest, StoresWithoutAMenuOrNoLongerListedLoseTheirFiles) {
  MenuExport e(dir_);
  for (int64_t s : {5, 6, 7}) e.store(s, kMenu);  // (the body's store_id is not what names the files)
  e.remove_store(6);
  EXPECT_FALSE(fs::exists(MenuExport::menu_path(dir_, 6)));
  EXPECT_FALSE(fs::exists(dir_ + "/products/6"));
  fs::create_directories(dir_ + "/products/8");  // a products dir without a menu file
  std::ofstream(dir_ + "/menus/index.html") << "not ours";
  e.remove_unlisted({5});
  EXPECT_EQ(files_under(dir_),
            (std::vector<std::string>{"menus/5.json", "menus/index.html", "products/5/1.json", "products/5/2.json"}));
  EXPECT_FALSE(fs::exists(dir_ + "/products/8"));
}

TEST_F(MenuExportTest, ADirectoryThatCannotBeMadeIsAnErrorNamingIt) {
  fs::create_directories(dir_);
  std::ofstream(dir_ + "/file") << "x";
  try {
    MenuExport e(dir_ + "/file/static");
    FAIL() << "no error";
  } catch (const ExportError& err) {
    EXPECT_NE(std::string(err.what()).find(dir_ + "/file/static"), std::string::npos) << err.what();
    EXPECT_NE(std::string(err.what()).find("fix:"), std::string::npos) << err.what();
  }
}

}  // namespace
}  // namespace dine::sim
