// jemalloc's settings for every program that measures or runs beampipe (read before main;
// MALLOC_CONF overrides them): one arena per CPU, as the glibc build had one per core, and
// freed pages handed back within a second by jemalloc's background thread rather than kept for
// ten (a process with 100,000 live aggregates is otherwise a fifth larger).
extern "C" {
extern const char* malloc_conf;
const char* malloc_conf =
    "percpu_arena:percpu,background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0";
}
