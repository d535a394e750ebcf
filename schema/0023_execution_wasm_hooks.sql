-- Issue #25: the project's WebAssembly hooks that built a run's manifest (events::hook_run, from
-- ExecutionManifestPrepared or ExecutionFailed); null when none ran.
ALTER TABLE batch_execution_record ADD COLUMN wasm_hooks jsonb;
