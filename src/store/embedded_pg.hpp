#pragma once
// A private PostgreSQL cluster that `beampipe start` runs when DATABASE_URL is unset.
//
// Layout (data_dir is chosen by the caller, normally $XDG_DATA_HOME/beampipe/pg or
// $HOME/.local/share/beampipe/pg):
//   data_dir/cluster          PGDATA
//   data_dir/sock             unix socket directory (mode 0700)
//   data_dir/postgresql.log   server log
//   data_dir/password         password of role beampipe, needed only by TCP clients (0600);
//                             unix-socket clients are trusted (the socket directory is 0700)
//
// PostgreSQL refuses to run as root. When the process is root, the cluster is owned by, and every
// PostgreSQL program runs as, the system user "beampipe" (created with useradd --system if
// missing; data_dir is chown'ed to it). If that user cannot reach data_dir (the default
// /root/.local/share/... is behind /root, mode 0700), the cluster, socket and log live in
// /var/lib/beampipe/clusters/<hash of data_dir>/ instead and data_dir/{cluster,sock,
// postgresql.log} are symlinks to them; the choice is made once, at initialisation, and kept.
// If the socket path would exceed the 107-byte unix socket limit, the socket directory is
// /tmp/beampipe-<uid>-<hash> (must be a real directory owned by the server user).
//
// Programs are started with fork/execve, never through a shell; pg_ctl itself builds a shell
// command from the cluster and log paths, so paths containing " $ ` \ or newline are rejected.
#include <filesystem>
#include <memory>
#include <string>

namespace beampipe::store {

struct embedded_pg_options {
  std::filesystem::path data_dir;  // cluster lives in data_dir/cluster, socket in data_dir/sock
  std::string bin_dir;             // empty = auto-detect: /usr/lib/postgresql/<major of an existing
                                   // cluster, else newest>/bin, else `pg_config --bindir`
  int port = 5440;                 // only names the unix socket (.s.PGSQL.<port>)
  // > 0: also listen on 127.0.0.1. PostgreSQL has one port setting for both the socket name and
  // TCP, so the server then uses tcp_port for both and `port` is ignored. TCP clients
  // authenticate with scram-sha-256 (user beampipe, password in data_dir/password).
  int tcp_port = 0;
  std::string database = "beampipe";
};

class embedded_pg {
 public:
  explicit embedded_pg(embedded_pg_options opts);
  ~embedded_pg();  // calls stop() if this object started the server; never throws
  embedded_pg(const embedded_pg&) = delete;
  embedded_pg& operator=(const embedded_pg&) = delete;

  // initdb if needed; start the server (recovering from a stale postmaster.pid); wait until it
  // accepts connections (bounded); create the database if missing. If a live postmaster already
  // serves the cluster (another beampipe process), it is reused and started_by_us() is false.
  // Throws std::runtime_error with a clear message (including the failing program's output).
  void start();
  // pg_ctl stop -m fast (bounded; falls back to -m immediate). Only stops a server this object
  // started: a reused server belongs to whoever started it, so stop() leaves it running.
  void stop();
  // libpq key=value conninfo for the database, e.g.
  //   host=/home/u/.local/share/beampipe/pg/sock port=5440 user=beampipe dbname=beampipe
  // Meaningful after start() (when reusing a server, its actual socket directory and port).
  std::string conninfo() const;
  bool started_by_us() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace beampipe::store
