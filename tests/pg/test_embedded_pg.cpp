// embedded_pg: the private cluster `beampipe start` runs when DATABASE_URL is unset.
// Needs the PostgreSQL server programs (postgresql-15), not the shared test cluster.
#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <pqxx/pqxx>
#include <string>
#include <system_error>

#include "store/embedded_pg.hpp"

namespace {

namespace fs = std::filesystem;

// A fresh folder under the temp directory, removed at the end (also on failure).
struct temp_folder {
  fs::path path;
  temp_folder() {
    std::string tmpl = (fs::temp_directory_path() / "beampipe-embedded-pg-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path = tmpl;
    // mkdtemp makes it 0700; when the test runs as root the server runs as user beampipe and
    // must reach the folder, else embedded_pg relocates the cluster to /var/lib/beampipe.
    fs::permissions(path, fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec);
  }
  ~temp_folder() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  temp_folder(const temp_folder&) = delete;
  temp_folder& operator=(const temp_folder&) = delete;
};

int select_one(const std::string& conninfo) {
  pqxx::connection c{conninfo};
  pqxx::work tx{c};
  return tx.exec1("select 1")[0].as<int>();
}

}  // namespace

TEST_CASE("embedded_pg initialises, serves, stops and restarts a private cluster") {
  temp_folder tmp;
  beampipe::store::embedded_pg_options opts;
  opts.data_dir = tmp.path / "pg";
  opts.port = 5497;  // names the socket file only; the socket directory is private to this test

  {
    beampipe::store::embedded_pg pg{opts};
    pg.start();
    CHECK(pg.started_by_us());
    INFO("conninfo: " << pg.conninfo());
    CHECK(pg.conninfo().find("dbname=beampipe") != std::string::npos);
    CHECK(select_one(pg.conninfo()) == 1);
    {
      pqxx::connection c{pg.conninfo()};
      pqxx::work tx{c};
      tx.exec0("create table survives_restart (v text)");
      tx.exec0("insert into survives_restart values ('first run')");
      tx.commit();
    }

    // A second instance on the same folder finds the live server and reuses it.
    {
      beampipe::store::embedded_pg again{opts};
      again.start();
      CHECK_FALSE(again.started_by_us());
      CHECK(select_one(again.conninfo()) == 1);
      again.stop();  // not ours: must leave it running
      CHECK(select_one(pg.conninfo()) == 1);
    }

    // The beampipe that started it is gone (killed): the next one adopts the server and stops
    // it on a clean exit (issue #17: it used to be left running for good).
    {
      pid_t child = ::fork();
      if (child == 0) ::_exit(0);
      ::waitpid(child, nullptr, 0);  // a pid that no process has any more
      std::ofstream(opts.data_dir / "beampipe-owner.pid") << child << "\n";
      beampipe::store::embedded_pg adopter{opts};
      adopter.start();
      CHECK(adopter.started_by_us());
      CHECK(select_one(adopter.conninfo()) == 1);
      adopter.stop();
      CHECK_THROWS(select_one(pg.conninfo()));
    }

    pg.stop();
    CHECK_THROWS(select_one(pg.conninfo()));
  }

  // Second run on the same folder: same cluster (no initdb), data still there.
  std::string conninfo;
  {
    beampipe::store::embedded_pg pg{opts};
    pg.start();
    CHECK(pg.started_by_us());
    conninfo = pg.conninfo();
    pqxx::connection c{conninfo};
    pqxx::work tx{c};
    CHECK(tx.exec1("select v from survives_restart")[0].as<std::string>() == "first run");
  }  // the destructor stops the server it started
  CHECK_THROWS(select_one(conninfo));
}
