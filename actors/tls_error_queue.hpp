#pragma once
// See tls_error_queue.cpp. Referencing this keeps the interposing definitions in the link (a
// static library's object is linked only when something uses it).
namespace beampipe::actors {
bool tls_error_queue_cleared();
}  // namespace beampipe::actors
