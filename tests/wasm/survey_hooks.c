/* One project's module with two hooks, for the end-to-end tests: prepare_metadata keeps the
   records marked "keep":true (metadata_filter.c), manifest adds "hook_added":true
   (manifest_add_field.c). */
#include "metadata_filter.c"
#include "manifest_add_field.c"
